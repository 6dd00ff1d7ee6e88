"""Coqui TTS: VITS models (phone times from the model) and XTTS voice cloning.

Only models already on disk are used; nothing is ever downloaded, so hub
model names are not accepted and a config that points at a remote file is
refused. Needs the optional extra: `pip install 'avatarkit[coqui]'`.

VITS predicts how many spectrogram frames each input symbol lasts; each frame
is `hop_length` output samples, so phone times are exact to the sample.
Models that report no durations (XTTS) get their letters spread evenly over
the voiced span of the audio (found by energy): approximate, but words stay
in order and inside the speech.

Settings: `model_dir` (folder with `config.json` and the checkpoint `.pth`),
or `model_path` plus optional `config_path` (default: `config.json` beside
the model); optional `speaker` (name in a multi-speaker model or XTTS's
speaker file), `speaker_wav` (reference audio to clone, a path or a list),
`language` (model language name; default: from the voice's language tag).
Relative paths are taken from the voice file's folder.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import VoiceError
from ..utterance import Phone, Token, Utterance, Word, words_from_phones
from .base import register_engine

_STRESS = set("ˈˌ")
# Marks that modify the previous phoneme rather than being one of their own.
_MODIFIERS = set("ːˑʰʲʷ˞\u0303")
# Config entries that Coqui opens while building a model (a URL here would
# make it download).
_FILE_KEYS = ("speakers_file", "d_vector_file", "language_ids_file",
              "speaker_encoder_model_path", "speaker_encoder_config_path")
_CHECKPOINTS = ("model.pth", "best_model.pth", "model_file.pth", "checkpoint.pth")
_CACHE: dict[tuple[str, str], tuple[object, object]] = {}
_LOCK = threading.Lock()


@register_engine("coqui")
class CoquiEngine:
    """Speaks with a Coqui TTS model on disk; see the module docstring for settings."""

    def __init__(self, voice):
        self.voice = voice
        s = voice.settings
        try:
            import TTS  # noqa: F401  (raises if torch/torchaudio are unusable too)
        except ImportError as e:
            raise VoiceError(f"voice {voice.id!r}: Coqui TTS is not usable ({e}); "
                             "pip install 'avatarkit[coqui]'") from None
        self.model_path, self.config_path = self._paths()
        self._config, self._model = self._load()
        from TTS.tts.models.vits import Vits

        self._vits = isinstance(self._model, Vits)
        self._xtts = str(self._config.get("model", "")).lower() == "xtts"
        if not (self._vits or self._xtts):
            raise VoiceError(f"voice {voice.id!r}: only Coqui VITS and XTTS models are supported, "
                             f"not {self._config.get('model')!r}")
        self._speaker = s.get("speaker")
        wav = s.get("speaker_wav")
        if wav is not None:
            wav = [str(self._path(w, "speaker_wav")) for w in (wav if isinstance(wav, list) else [wav])]
        self._speaker_wav = wav
        self._language = self._pick_language()
        try:
            self._conditioning()
        except (KeyError, ValueError, RuntimeError, OSError) as e:
            raise VoiceError(f"voice {voice.id!r}: {e}") from None

    def _path(self, value, what: str) -> Path:
        p = Path(str(value)).expanduser()
        if not p.is_absolute() and self.voice.source and Path(self.voice.source).is_file():
            p = Path(self.voice.source).parent / p
        if not p.exists():
            raise VoiceError(f"voice {self.voice.id!r}: {what} {str(p)!r} does not exist")
        return p

    def _paths(self) -> tuple[Path, Path]:
        s = self.voice.settings
        if s.get("model_dir"):
            folder = self._path(s["model_dir"], "model_dir")
            found = [folder / n for n in _CHECKPOINTS if (folder / n).is_file()]
            if not found:
                raise VoiceError(f"voice {self.voice.id!r}: no {' or '.join(_CHECKPOINTS)} in "
                                 f"{str(folder)!r}; name the checkpoint with settings.model_path")
            model = found[0]
        elif s.get("model_path"):
            model = self._path(s["model_path"], "model file")
        else:
            raise VoiceError(f"voice {self.voice.id!r}: coqui voices need settings.model_dir "
                             "(or settings.model_path); hub model names are not supported")
        return model, self._path(s.get("config_path") or model.parent / "config.json", "config file")

    def _load(self):
        key = (str(self.model_path), str(self.config_path))
        with _LOCK:
            if key not in _CACHE:
                from TTS.config import load_config
                from TTS.tts.models import setup_model

                try:
                    config = load_config(str(self.config_path))
                    self._local_files(config)
                    model = setup_model(config)
                    model.load_checkpoint(config, checkpoint_path=str(self.model_path), eval=True)
                except VoiceError:
                    raise
                except Exception as e:  # broken/mismatched files, missing espeak, ...
                    raise VoiceError(f"voice {self.voice.id!r}: cannot load Coqui model "
                                     f"{str(self.model_path)!r}: {type(e).__name__}: {e}") from e
                _CACHE[key] = (config, model)
            return _CACHE[key]

    def _local_files(self, config) -> None:
        # Configs written at training time name files on the trainer's disk;
        # use the copy in the model folder instead, and never fetch a URL.
        folder = self.config_path.parent
        for section in (config, config.get("model_args") or {}):
            for k in _FILE_KEYS:
                v = section.get(k) if k in section else None
                if not v or not isinstance(v, str):
                    continue
                if "://" in v:
                    raise VoiceError(f"voice {self.voice.id!r}: {self.config_path} names a remote {k} "
                                     f"({v}); avatarkit never downloads, put the file beside the model")
                if not Path(v).exists() and (folder / Path(v).name).exists():
                    section[k] = str(folder / Path(v).name)

    def _pick_language(self) -> str | None:
        s = self.voice.settings
        if s.get("language"):
            return str(s["language"])
        tag = self.voice.language.lower()
        if self._xtts:
            base = tag.split("-")[0]
            return "zh-cn" if base == "zh" else base
        manager = getattr(self._model, "language_manager", None)
        names = list(manager.language_names) if manager is not None else []
        for cand in (tag, tag.split("-")[0], tag.replace("-", "_")):
            if cand in names:
                return cand
        if len(names) > 1:
            raise VoiceError(f"voice {self.voice.id!r}: set settings.language, one of {', '.join(names)}")
        return names[0] if names else None

    def _conditioning(self) -> None:
        # Speaker and language inputs are worked out once: cloning a voice
        # from reference audio takes seconds.
        import torch

        m = self._model
        self._aux: dict = {}
        if self._xtts:
            speakers = m.speaker_manager.speakers if m.speaker_manager is not None else {}
            if self._speaker in speakers:
                latent, emb = speakers[self._speaker].values()
            elif self._speaker_wav:
                v = m.clone_voice(self._speaker_wav)
                latent, emb = v["gpt_conditioning_latents"], v["speaker_embedding"]
            else:
                raise VoiceError(f"voice {self.voice.id!r}: XTTS needs settings.speaker_wav "
                                 "(reference audio) or a known settings.speaker")
            self._aux = {"gpt_cond_latent": latent, "speaker_embedding": emb}
        else:
            sid, dvec = m._get_speaker_id_or_dvector(self._speaker, self._speaker_wav, None)
            lid = m._get_language_id(self._language)
            self._aux = {"speaker_ids": sid, "d_vectors": dvec,
                         "language_ids": None if lid is None else torch.tensor([lid])}

    @property
    def sample_rate(self) -> int:
        audio = self._config.audio
        return int(audio.get("output_sample_rate") or audio["sample_rate"])

    def synthesize(self, tokens: Sequence[Token]) -> Utterance:
        """Speak `tokens` as one phrase; lexicon IPA is fed to phoneme VITS models as is."""
        tokens = list(tokens)
        text = " ".join(t.text for t in tokens)
        if not tokens:
            return Utterance(np.zeros(0, np.float32), self.sample_rate, text=text)
        if self._vits:
            audio, phones, words = self._synthesize_vits(tokens)
        else:
            audio = self._synthesize_xtts(tokens)
            phones, words = _spread(tokens, audio, self.sample_rate)
        return Utterance(audio=audio, sample_rate=self.sample_rate, phones=phones, words=words, text=text)

    def _say(self, t: Token) -> str:
        if t.ipa and not t.say:
            raise VoiceError(f"voice {self.voice.id!r}: this model reads letters, not phonemes; "
                             f"give {t.text!r} a `say:` respelling instead of `ipa:`")
        return t.say or t.text

    def _synthesize_xtts(self, tokens: list[Token]) -> np.ndarray:
        import torch

        text = " ".join(self._say(t) for t in tokens)
        knobs = {k: self._config[k] for k in ("temperature", "length_penalty", "repetition_penalty",
                                              "top_k", "top_p") if k in self._config}
        with torch.inference_mode():
            out = self._model.inference(text, self._language, self._aux["gpt_cond_latent"],
                                        self._aux["speaker_embedding"], **knobs)
        return _audio(out["wav"])

    def _words(self, tokens: list[Token]) -> list[tuple[str, int]]:
        """The model's input as (word, token index): phonemes or cleaned letters."""
        tok = self._model.tokenizer
        lang = self._language

        def read(text: str) -> list[str]:
            if tok.text_cleaner is not None:
                text = tok.text_cleaner(text, lang=None if lang is None else lang.split("-")[0])
            if tok.phonemizer is not None:
                text = tok.phonemizer.phonemize(text, separator="", language=lang)
            return text.split()

        out: list[tuple[str, int]] = []
        run: list[int] = []

        def flush() -> None:
            # Read a run of plain words as one text, so the phonemizer sees
            # context (stress of small words); reading each alone tells which
            # token each word came from, and is used if the counts disagree.
            if not run:
                return
            alone = [read(self._say(tokens[i])) for i in run]
            together = read(" ".join(self._say(tokens[i]) for i in run))
            if sum(map(len, alone)) == len(together):
                together = iter(together)
                alone = [[next(together) for _ in a] for a in alone]
            out.extend((w, i) for i, a in zip(run, alone) for w in a)
            run.clear()

        for i, t in enumerate(tokens):
            if t.ipa and tok.use_phonemes:
                flush()
                out.extend((w, i) for w in t.ipa.split())
            else:
                run.append(i)
        flush()
        return out

    def _synthesize_vits(self, tokens: list[Token]):
        import torch

        tok = self._model.tokenizer
        chars = tok.characters
        ids: list[int] = []
        owner: list[int | None] = []  # the token each input symbol came from
        for n, (word, i) in enumerate(self._words(tokens)):
            if n and " " in chars.vocab:
                ids.append(chars.char_to_id(" "))
                owner.append(None)
            for ch in word:
                if ch in chars.vocab:  # the tokenizer drops unknown symbols too
                    ids.append(chars.char_to_id(ch))
                    owner.append(i)
        if tok.add_blank:
            ids = tok.intersperse_blank_char(ids)
            owner = [None if k % 2 == 0 else owner[k // 2] for k in range(len(ids))]
        if tok.use_eos_bos:
            ids = tok.pad_with_bos_eos(ids)
            owner = [None, *owner, None]
        x = torch.tensor([ids], dtype=torch.long)
        with torch.inference_mode():
            out = self._model.inference(x, aux_input={"x_lengths": torch.tensor([len(ids)]), **self._aux})
        audio = _audio(out["model_outputs"])
        frames = out["durations"].reshape(-1).round().long().tolist()
        # Each frame is one hop of the (possibly upsampled) decoder.
        spf = int(round(self._config.audio["hop_length"] * getattr(self._model, "interpolate_factor", 1)))
        symbols = [chars.id_to_char(k) for k in ids]
        silent = set(chars.punctuations) | {chars.pad, chars.bos, chars.eos}
        n = audio.shape[0]
        kept = [(Phone(p.symbol, p.start, min(p.end, n)), i)
                for p, i in _time_symbols(symbols, owner, [f * spf for f in frames], chars.blank, silent)
                if p.start < n]
        return audio, [p for p, _ in kept], _words_of(tokens, kept)


def _time_symbols(symbols, owner, samples, blank, silent) -> list[tuple[Phone, int | None]]:
    """(phone, token index) from per-symbol sample counts; blanks go to neighbours.

    A blank (inserted between all symbols by `add_blank`) gives its first half
    to the symbol before it and its second half to the one after; stress marks
    give their time to the next phoneme, and length marks join the previous one.
    """
    edges = [0, *np.cumsum(samples, dtype=np.int64).tolist()]
    n = len(symbols)
    mid = [(edges[k] + edges[k + 1]) // 2 for k in range(n)]
    out: list[tuple[Phone, int | None]] = []
    pending: int | None = None
    for k, sym in enumerate(symbols):
        if sym == blank:
            continue
        start = mid[k - 1] if k and symbols[k - 1] == blank else edges[k]
        end = mid[k + 1] if k + 1 < n and symbols[k + 1] == blank else edges[k + 1]
        if sym in silent:
            pending = None
        elif sym in _STRESS:
            pending = start if pending is None else pending
        elif sym in _MODIFIERS and out and out[-1][1] == owner[k]:
            last = out[-1][0]
            out[-1] = (Phone(last.symbol + sym, last.start, end), owner[k])
        else:
            out.append((Phone(sym, start if pending is None else pending, end), owner[k]))
            pending = None
    return out


def _audio(wav) -> np.ndarray:
    if hasattr(wav, "detach"):
        wav = wav.detach().cpu().numpy()
    return np.clip(np.asarray(wav, np.float32).reshape(-1), -1.0, 1.0)


def _spread(tokens: list[Token], audio: np.ndarray, sample_rate: int) -> tuple[list[Phone], list[Word]]:
    """Letters spread evenly over the voiced span, for models without durations."""
    hop = max(1, sample_rate // 100)  # 10 ms frames
    n = audio.shape[0] // hop
    start, end = 0, audio.shape[0]
    if n:
        rms = np.sqrt((audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1))
        loud = np.flatnonzero(rms > rms.max() * 10 ** (-35 / 20))
        if loud.size:
            start, end = int(loud[0]) * hop, min(audio.shape[0], (int(loud[-1]) + 1) * hop)
    letters = [(c, i) for i, t in enumerate(tokens) for c in (t.say or t.text).lower() if c.isalnum()]
    if not letters:
        return [], words_from_phones(tokens, [], audio.shape[0])
    edges = np.round(np.linspace(start, end, len(letters) + 1)).astype(int)
    kept = [(Phone(c, int(edges[k]), int(edges[k + 1])), i) for k, (c, i) in enumerate(letters)]
    return [p for p, _ in kept], _words_of(tokens, kept)


def _words_of(tokens: list[Token], kept: list[tuple[Phone, int | None]]) -> list[Word]:
    """A word per token that got phones, from its first phone to its last."""
    spans: dict[int, list[int]] = {}
    for p, i in kept:
        if i is not None:
            spans.setdefault(i, [p.start, p.end])[1] = p.end
    return [Word(tokens[i].text, a, b, i, tokens[i].emphasis) for i, (a, b) in sorted(spans.items())]
