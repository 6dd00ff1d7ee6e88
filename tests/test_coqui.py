"""Coqui engine: a tiny randomly initialised VITS model built here, run end to end.

The weights are random, so the audio is noise; what is checked is the
plumbing: sample-exact phones from the model's own durations, words mapped to
tokens, lexicon handling and the errors a user sees.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.coqui
pytest.importorskip("TTS")

from avatarkit.errors import VoiceError  # noqa: E402
from avatarkit.speech.engines.coqui import CoquiEngine, _spread  # noqa: E402
from avatarkit.speech.utterance import Token  # noqa: E402
from avatarkit.speech.voice import Voice  # noqa: E402

HOP = 16
RATE = 16000


def _build(folder, **config):
    """Save a tiny VITS (config.json + model.pth) in `folder`; return the folder."""
    import torch
    from TTS.tts.configs.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(0)
    args = VitsArgs(
        hidden_channels=8, hidden_channels_ffn_text_encoder=16, num_layers_text_encoder=1,
        out_channels=65, num_layers_posterior_encoder=1, num_layers_flow=1,
        upsample_rates_decoder=[4, 4], upsample_kernel_sizes_decoder=[8, 8],
        upsample_initial_channel_decoder=16, resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 1, 1]],
        use_sdp=False,  # deterministic durations, so the test can recompute them
        init_discriminator=False,
    )
    audio = BaseAudioConfig(sample_rate=RATE, hop_length=HOP, win_length=128, fft_size=128, num_mels=10)
    config.setdefault("text_cleaner", "basic_cleaners")
    cfg = VitsConfig(model_args=args, audio=audio, **config)
    model = Vits(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    cfg.save_json(str(folder / "config.json"))
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    return folder


def _voice(**settings):
    return Voice(id="tiny", engine="coqui", language="en-US", settings=settings)


def _durations(engine, text):
    """The model's per-symbol durations (frames) for `text`, run outside the engine."""
    import torch

    m = engine._model
    ids = m.tokenizer.text_to_ids(text)
    with torch.inference_mode():
        out = m.inference(torch.tensor([ids]), aux_input={"x_lengths": torch.tensor([len(ids)])})
    symbols = [m.tokenizer.characters.id_to_char(i) for i in ids]
    return symbols, out["durations"].reshape(-1).long().tolist()


def _check_phones(u):
    assert u.phones
    prev = 0
    for p in u.phones:
        assert type(p.start) is int and type(p.end) is int
        assert prev <= p.start <= p.end <= u.num_samples
        prev = p.end


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """A letters model with blanks between symbols (Coqui's VITS default)."""
    return CoquiEngine(_voice(model_dir=str(_build(tmp_path_factory.mktemp("blank"), add_blank=True))))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    folder = _build(tmp_path_factory.mktemp("plain"), add_blank=False)
    return CoquiEngine(_voice(model_path=str(folder / "model.pth")))


def test_phones_are_the_model_durations_exactly(plain):
    u = plain.synthesize([Token("Hello"), Token("world", emphasis=True)])
    assert u.audio.dtype == np.float32 and u.audio.ndim == 1
    assert u.sample_rate == RATE
    symbols, frames = _durations(plain, "hello world")
    assert "".join(symbols) == "hello world"
    assert u.num_samples == sum(frames) * HOP
    edges = np.cumsum([0, *frames]) * HOP
    expected = [(s, edges[k], edges[k + 1]) for k, s in enumerate(symbols) if s != " "]
    assert [(p.symbol, p.start, p.end) for p in u.phones] == expected
    _check_phones(u)
    # Phones plus the word gap cover the whole audio.
    gap = frames[symbols.index(" ")] * HOP
    assert sum(p.end - p.start for p in u.phones) + gap == u.num_samples
    assert [(w.text, w.index, w.emphasis) for w in u.words] == [("Hello", 0, False), ("world", 1, True)]
    assert (u.words[0].start, u.words[0].end) == (u.phones[0].start, u.phones[4].end)
    assert (u.words[1].start, u.words[1].end) == (u.phones[5].start, u.phones[9].end)


def test_blanks_are_shared_between_neighbours(letters):
    u = letters.synthesize([Token("Hi,"), Token("there")])
    symbols, frames = _durations(letters, "hi, there")
    assert u.num_samples == sum(frames) * HOP
    _check_phones(u)
    assert "".join(p.symbol for p in u.phones) == "hithere"
    edges = np.cumsum([0, *frames]) * HOP
    mid = [(edges[k] + edges[k + 1]) // 2 for k in range(len(frames))]
    # Symbols sit at odd positions; each reaches into the middle of the blanks beside it.
    real = [k for k in range(1, len(symbols), 2) if symbols[k] not in ", "]
    assert [(p.start, p.end) for p in u.phones] == [(mid[k - 1], mid[k + 1]) for k in real]
    assert [w.text for w in u.words] == ["Hi,", "there"]
    assert u.words[0].end == u.phones[1].end and u.words[1].start == u.phones[2].start


def test_say_is_spoken_and_ipa_needs_a_phoneme_model(plain):
    u = plain.synthesize([Token("GIF", say="jif")])
    assert "".join(p.symbol for p in u.phones) == "jif"
    with pytest.raises(VoiceError, match="say:"):
        plain.synthesize([Token("GIF", ipa="dʒɪf")])


def test_phoneme_model_takes_lexicon_ipa(tmp_path, monkeypatch):
    from TTS.tts.utils.text import phonemizers
    from TTS.tts.utils.text.phonemizers.base import BasePhonemizer

    class Echo(BasePhonemizer):
        """Stands in for eSpeak (not installed here): letters as phonemes, stressed."""

        @staticmethod
        def name():
            return "echo"

        @classmethod
        def is_available(cls):
            return True

        def version(self):
            return "0"

        @staticmethod
        def supported_languages():
            return {"en": "English"}

        def _phonemize(self, text, separator):
            return " ".join("ˈ" + w for w in text.split())

    phonemizers._register_phonemizers()
    monkeypatch.setitem(phonemizers.PHONEMIZERS, "echo", Echo)
    folder = _build(tmp_path / "ipa", use_phonemes=True, phonemizer="echo", phoneme_language="en",
                    add_blank=True)
    engine = CoquiEngine(_voice(model_dir=str(folder)))
    u = engine.synthesize([Token("bit"), Token("world", ipa="wˈɜːld")])
    _check_phones(u)
    assert [p.symbol for p in u.phones] == ["b", "i", "t", "w", "ɜː", "l", "d"]
    assert [(w.text, w.index) for w in u.words] == [("bit", 0), ("world", 1)]
    assert u.words[0].start == u.phones[0].start and u.words[1].end == u.phones[-1].end


def test_missing_model_is_a_voice_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(VoiceError, match=r"'tiny'.*nowhere"):
        CoquiEngine(_voice(model_dir=str(missing)))
    with pytest.raises(VoiceError, match="model_dir"):
        CoquiEngine(_voice())


def test_remote_files_are_refused(plain, tmp_path):
    config = json.loads((plain.config_path).read_text())
    config["model_args"]["speakers_file"] = "https://example.invalid/speakers.json"
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.pth").symlink_to(plain.model_path)
    with pytest.raises(VoiceError, match="never downloads"):
        CoquiEngine(_voice(model_dir=str(tmp_path)))


def test_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "TTS", None)
    with pytest.raises(VoiceError, match=r"avatarkit\[coqui\]"):
        CoquiEngine(_voice(model_dir="/nowhere"))


def test_spread_without_durations_stays_in_the_voiced_span():
    rate = 16000
    audio = np.zeros(rate, np.float32)
    audio[4000:12000] = 0.5 * np.sin(np.arange(8000) * 0.3)
    phones, words = _spread([Token("ab"), Token("—"), Token("cd")], audio, rate)
    assert [p.symbol for p in phones] == list("abcd")
    assert phones[0].start == 4000 and phones[-1].end == 12000
    assert [(w.text, w.index) for w in words] == [("ab", 0), ("cd", 2)]
