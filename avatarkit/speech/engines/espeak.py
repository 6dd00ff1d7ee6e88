"""eSpeak NG: formant voices for dozens of languages, with sample-exact phonemes.

libespeak-ng (shipped with its data by the `espeakng-loader` wheel) is driven
through ctypes in synchronous mode: it hands back audio in chunks together
with events, and every phoneme and word event carries `sample`, the index of
the sample where it begins, counted from the start of the phrase. That
counter is the synthesiser's own, so phone and word times are exact to the
sample (pauses are digital silence that starts and ends on those indices).
The millisecond `audio_position` beside it is rounded down and not used.
eSpeak keeps glottal-cycle state from one call to the next that no API
resets, so a phrase's length can vary by ~10 ms with what was said before it
in the process (and not with any seed); its times always match its own audio.

Settings: `voice` (an eSpeak voice name: `en-us`, `de`, `fr`, `es`, ...),
optional `variant` (a file in `espeak-ng-data/voices/!v`, e.g. `f3`), `rate`
(words per minute, 80-450, default 175) and `pitch` (0-100, default 50).
"""

from __future__ import annotations

import ctypes
import threading
from bisect import bisect_right
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

import numpy as np

from ...errors import VoiceError
from ..reading import readable
from ..utterance import Phone, Token, Utterance, Word
from .base import register_engine, strip_stress

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_CHARS_UTF8 = 0x01
_SSML = 0x10
_POS_CHARACTER = 1
_RATE, _PITCH = 1, 3
_EV_LIST_TERMINATED, _EV_WORD, _EV_END, _EV_MSG_TERMINATED, _EV_PHONEME = 0, 1, 5, 6, 7
_EE_OK = 0

_DEFAULT_RATE = 175
_DEFAULT_PITCH = 50
# A phoneme made only of these is a pause: with IPA names eSpeak calls its
# pauses "", with its own mnemonics "_" or "_:".
_PAUSE = set("_: ")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the input
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms, rounded down
        ("sample", ctypes.c_int),  # samples from the start of this espeak_Synth call
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))

# libespeak-ng keeps one synthesiser per process: every call into it holds
# _LOCK, and the callback writes into _SINK, the collector of the call in hand.
_LOCK = threading.Lock()
_LIB: dict = {}
_SINK: dict = {}


def _on_synth(wav, n, events) -> int:
    try:
        if wav and n > 0:
            _SINK["audio"].append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            e = events[i]
            name = e.id.string.decode("utf-8", "ignore") if e.type == _EV_PHONEME else ""
            _SINK["events"].append((e.type, e.text_position, e.sample, name))
            i += 1
        return 0
    except Exception as exc:  # an exception must not unwind through C
        _SINK["error"] = exc
        return 1  # tells eSpeak to stop


def _library() -> tuple[ctypes.CDLL, int, Path]:
    """Load and initialise libespeak-ng once; call with `_LOCK` held."""
    if not _LIB:
        try:
            import espeakng_loader
        except ImportError as e:  # pragma: no cover - install problem
            raise VoiceError(f"espeakng-loader is not installed: {e}") from None
        data = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        options = _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), options)
        if rate <= 0:
            raise VoiceError(f"eSpeak NG could not start with its data at {str(data)!r}")
        callback = _CALLBACK(_on_synth)
        lib.espeak_SetSynthCallback(callback)
        _LIB.update(lib=lib, rate=int(rate), data=data, callback=callback)  # keep callback alive
    return _LIB["lib"], _LIB["rate"], _LIB["data"]


@register_engine("espeak")
class EspeakEngine:
    """Speaks with an eSpeak NG voice; see the module docstring for settings."""

    live_first_clause = "phrase"      # formant synthesis takes milliseconds (see `PiperEngine`)

    def __init__(self, voice):
        self.voice = voice
        s = voice.settings
        if not s.get("voice"):
            raise VoiceError(f"voice {voice.id!r}: espeak voices need settings.voice (e.g. en-us)")
        name = str(s["voice"])
        try:
            self._rate = int(s.get("rate", _DEFAULT_RATE))
            self._pitch = int(s.get("pitch", _DEFAULT_PITCH))
        except (TypeError, ValueError):
            raise VoiceError(f"voice {voice.id!r}: settings.rate and settings.pitch must be numbers") from None
        with _LOCK:
            lib, self._sample_rate, data = _library()
            if lib.espeak_SetVoiceByName(name.encode()) != _EE_OK:
                raise VoiceError(f"voice {voice.id!r}: eSpeak NG has no voice named {name!r}")
        variant = s.get("variant")
        if variant:
            # eSpeak silently ignores an unknown variant, so check the file.
            if not (data / "voices" / "!v" / str(variant)).is_file():
                raise VoiceError(f"voice {voice.id!r}: eSpeak NG has no variant named {variant!r}")
            name += f"+{variant}"
        self._name = name

    @property
    def sample_rate(self) -> int:
        """Output rate in Hz (22050 for eSpeak NG)."""
        return self._sample_rate

    def synthesize(self, tokens: Sequence[Token]) -> Utterance:
        """Speak `tokens` as one phrase; `say` respellings are used, bare `ipa` is an error."""
        for t in tokens:
            if t.ipa and not t.say:
                raise VoiceError(
                    f"voice {self.voice.id!r}: the lexicon entry for {t.text!r} gives only `ipa`; "
                    f"eSpeak cannot read IPA, so it needs a `say:` respelling for espeak voices"
                )
        text = " ".join(t.text for t in tokens)
        tokens = readable(tokens, self.voice.language)
        if not tokens:
            return Utterance(audio=np.zeros(0, np.float32), sample_rate=self.sample_rate, text=text)
        ssml, starts = _markup(tokens)
        with _LOCK:
            lib, rate, _ = _library()
            if lib.espeak_SetVoiceByName(self._name.encode()) != _EE_OK:
                raise VoiceError(f"voice {self.voice.id!r}: eSpeak NG has no voice named {self._name!r}")
            # Parameters are global: set them on every call so voices don't leak into each other.
            lib.espeak_SetParameter(_RATE, self._rate, 0)
            lib.espeak_SetParameter(_PITCH, self._pitch, 0)
            _SINK.clear()
            _SINK.update(audio=[], events=[], error=None)
            raw = ssml.encode("utf-8")
            err = lib.espeak_Synth(raw, len(raw) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _SSML, None, None)
            chunks, events, error = _SINK["audio"], _SINK["events"], _SINK["error"]
            _SINK.clear()
        if error is not None:
            raise error
        if err != _EE_OK:
            raise VoiceError(f"voice {self.voice.id!r}: eSpeak NG failed (error {err}) on {text!r}")
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        audio = pcm.astype(np.float32) / np.float32(32768.0)
        phones, units = _phones(events, starts, audio.shape[0])
        return Utterance(audio=audio, sample_rate=rate, phones=phones,
                         words=_words(tokens, units), text=text)


def _markup(tokens: Sequence[Token]) -> tuple[str, list[int]]:
    """SSML for the phrase, and where each token's part begins (0-based characters).

    eSpeak reports a word's `text_position` in characters of this markup, so
    the offsets count the tags and entities exactly as written.
    """
    out, starts = "<speak>", []
    for i, t in enumerate(tokens):
        if i:
            out += " "
        starts.append(len(out))
        part = escape(t.say or t.text)
        out += f"<emphasis>{part}</emphasis>" if t.emphasis else part
    return out + "</speak>", starts


def _phones(events, starts: list[int], total: int) -> tuple[list[Phone], list[tuple[int, list[Phone]]]]:
    """Phones from the event stream, and the spoken words eSpeak reported.

    A phone runs from its own event to the next phoneme, word or end event;
    pauses end the phone before them but are not phones themselves. Each word
    event opens a unit `(token index, phones)`; a word's text position gives
    its token.
    """
    phones: list[Phone] = []
    units: list[tuple[int, list[Phone]]] = [(0, [])]
    open_: tuple[str, int] | None = None
    for kind, text_pos, sample, name in events:
        if kind not in (_EV_PHONEME, _EV_WORD, _EV_END, _EV_MSG_TERMINATED):
            continue
        at = min(max(sample, 0), total)
        if open_ is not None and at > open_[1]:
            phones.append(Phone(open_[0], open_[1], at))
            units[-1][1].append(phones[-1])
        open_ = None
        if kind == _EV_WORD and starts:
            # A position inside a tag or entity, or eSpeak's odd position for
            # the second word of a multi-word dictionary entry ("so much"),
            # must never map back to an earlier token.
            units.append((max(units[-1][0], bisect_right(starts, text_pos - 1) - 1), []))
        elif kind == _EV_PHONEME:
            symbol = strip_stress(name).strip()
            if symbol and not set(symbol) <= _PAUSE:
                open_ = (symbol, at)
    if open_ is not None and total > open_[1]:
        phones.append(Phone(open_[0], open_[1], total))
        units[-1][1].append(phones[-1])
    return phones, [u for u in units if u[1]]


def _letters(t: Token) -> int:
    return sum(ch.isalnum() for ch in (t.say or t.text))


def _words(tokens: Sequence[Token], units: list[tuple[int, list[Phone]]]) -> list[Word]:
    """One Word per spoken token, spanning its phones.

    eSpeak reads some word pairs as one ("for a", "in the", "I am") and gives
    the second no word event, or one with the first's position. Such a token
    shares the phones of its neighbour that was heard: one unit each when eSpeak gave
    as many units as tokens, otherwise split in proportion to letters.
    """
    heard: dict[int, list[list[Phone]]] = {}
    for i, ph in units:
        heard.setdefault(i, []).append(ph)
    runs: list[list[int]] = []
    for i, t in enumerate(tokens):
        if not (i in heard or _letters(t)):
            continue  # punctuation alone is not a word
        if not runs or (i in heard and any(j in heard for j in runs[-1])):
            runs.append([])
        runs[-1].append(i)
    words: list[Word] = []
    for run in runs:
        groups = [g for i in run for g in heard.get(i, [])]
        if not groups:
            continue
        if len(groups) == len(run):
            parts = groups
        else:
            flat = [p for g in groups for p in g]
            weights = np.cumsum([max(1, _letters(tokens[i])) for i in run], dtype=np.float64)
            cuts = np.round(weights / weights[-1] * len(flat)).astype(int).tolist()
            for k in range(len(cuts) - 1):  # each token keeps a phone while there are enough
                lo = (cuts[k - 1] if k else 0) + 1
                cuts[k] = max(min(cuts[k], len(flat) - (len(run) - 1 - k)), min(lo, len(flat)))
            parts = [flat[a:b] for a, b in zip([0] + cuts[:-1], cuts)]
        end = parts[0][0].start
        for i, part in zip(run, parts):
            start, end = (part[0].start, part[-1].end) if part else (end, end)
            words.append(Word(tokens[i].text, start, end, i, tokens[i].emphasis))
    return words
