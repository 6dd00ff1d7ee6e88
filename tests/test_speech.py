"""Piper speech: sample-exact phones, words mapped to tokens, lexicon, loudness, catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from avatarkit import VoiceError
from avatarkit.speech.engines.base import make_engine
from avatarkit.speech.loudness import LoudnessNormalizer, limit
from avatarkit.speech.utterance import Token
from avatarkit.speech.voice import get_voice, list_voices


@pytest.fixture(scope="module")
def joe():
    return make_engine(get_voice("en-us-joe"))


def _tokens(text):
    return [Token(w) for w in text.split()]


def test_phones_are_ordered_and_inside_the_audio(joe):
    u = joe.synthesize(_tokens("Hello and welcome to the course."))
    assert u.sample_rate == 22050 and u.audio.dtype == np.float32 and u.audio.ndim == 1
    assert 1.0 < u.duration < 4.0
    assert len(u.phones) > 15
    prev = 0
    for p in u.phones:
        assert prev <= p.start < p.end <= u.num_samples
        assert "ˈ" not in p.symbol and p.symbol.strip()
        prev = p.end


def test_phone_times_match_the_sound(joe):
    # The model's own durations: speech energy lives inside the phones' span,
    # and the audio before the first phone is (near) silent.
    u = joe.synthesize(_tokens("Mama may know you."))
    a = u.audio
    first, last = u.phones[0].start, u.phones[-1].end
    assert first > 0 and last < u.num_samples
    inside = np.mean(a[first:last] ** 2)
    assert np.mean(a[:first] ** 2) < inside / 100
    assert np.mean(a[last:] ** 2) < inside / 100
    # Sound starts where the first phone does (within 30 ms) and has died away
    # by the end of the last (Piper gives a final vowel its release, ~0.1 s).
    hop = 128
    rms = np.sqrt(np.convolve(a ** 2, np.ones(hop) / hop, "same"))
    loud = np.nonzero(rms > 0.05 * rms.max())[0]
    tol = 0.03 * u.sample_rate
    assert abs(loud[0] - first) < tol, (loud[0], first)
    assert 0 <= last - loud[-1] < 4 * tol, (loud[-1], last)


def test_words_map_back_to_tokens(joe):
    toks = _tokens("In 2025 we trained 300 people.")
    u = joe.synthesize(toks)
    assert [w.index for w in u.words] == list(range(len(toks)))
    assert [w.text for w in u.words] == [t.text for t in toks]
    # "2025" is spoken as several words; it still takes longer than "In".
    assert (u.words[1].end - u.words[1].start) > 2 * (u.words[0].end - u.words[0].start)
    assert all(u.words[i].end <= u.words[i + 1].start + 1 for i in range(len(toks) - 1))


def test_lexicon_respelling_and_ipa_change_the_phonemes(joe):
    plain = joe.synthesize([Token("LMS")])
    said = joe.synthesize([Token("LMS", say="learning system")])
    ipa = joe.synthesize([Token("SCORM", ipa="zˈuːm")])
    sym = lambda u: "".join(p.symbol for p in u.phones)
    assert sym(plain) != sym(said)
    assert sym(ipa).startswith("z") and "uː" in sym(ipa)
    assert [w.text for w in ipa.words] == ["SCORM"]


def test_resampling_keeps_times_on_the_same_instant(joe):
    u = joe.synthesize(_tokens("Testing the clock."))
    r = u.resampled(48000)
    assert r.num_samples == round(u.num_samples * 48000 / 22050)
    for a, b in zip(u.phones, r.phones):
        assert abs(b.start - a.start * 48000 / 22050) <= 0.5
        assert abs(b.end - a.end * 48000 / 22050) <= 0.5


def test_loudness_target_and_peak_ceiling(joe):
    import pyloudnorm

    u = joe.synthesize(_tokens("This sentence is long enough to be measured for loudness.")).resampled(48000)
    out = LoudnessNormalizer(48000)(u.audio * 0.05)
    loud = pyloudnorm.Meter(48000).integrated_loudness(out.astype(np.float64))
    assert abs(loud - (-16.0)) < 1.5
    assert np.abs(out).max() <= 10 ** (-1 / 20) + 1e-6


def test_limiter_keeps_peaks_without_clipping():
    t = np.arange(48000) / 48000
    x = (np.sin(2 * np.pi * 220 * t) * np.where(t > 0.5, 2.0, 0.5)).astype(np.float32)
    y = limit(x, 0.9, 48000)
    assert np.abs(y).max() <= 0.9 + 1e-6
    assert np.allclose(y[:20000], x[:20000])  # quiet part untouched


def test_catalogue_and_errors(tmp_path):
    ids = [v.id for v in list_voices()]
    assert "en-us-joe" in ids
    with pytest.raises(VoiceError, match="unknown voice 'nobody'"):
        get_voice("nobody")
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nengine: piper\n")
    with pytest.raises(VoiceError, match="language"):
        get_voice(str(bad))
    missing = tmp_path / "missing.yaml"
    missing.write_text("id: m\nengine: piper\nlanguage: en\nsettings: {model: /nope/voice.onnx}\n")
    with pytest.raises(VoiceError, match="does not exist"):
        make_engine(get_voice(str(missing)))
    weird = tmp_path / "weird.yaml"
    weird.write_text("id: w\nengine: festival\nlanguage: en\n")
    # Every built-in engine is named, though only the ones used so far have been imported.
    with pytest.raises(VoiceError, match=r"unknown engine 'festival' \(known: coqui, espeak, kokoro, piper\)"):
        make_engine(get_voice(str(weird)))


def test_folder_of_piper_voices(tmp_path):
    import shutil

    src = make_engine(get_voice("en-us-joe")).model_path
    shutil.copy(str(src) + ".json", tmp_path / "my-voice.onnx.json")
    (tmp_path / "my-voice.onnx").symlink_to(src)
    voices = {v.id: v for v in list_voices([tmp_path])}
    assert voices["piper:my-voice"].language == "en-US"
    u = make_engine(voices["piper:my-voice"]).synthesize([Token("Hi.")])
    assert u.num_samples > 0


def test_speech_sessions_never_profile(tmp_path, monkeypatch):
    # A profiling session writes onnxruntime_profile_*.json (megabytes) into the current folder: one was
    # once committed. The engines' sessions keep profiling off, and speaking leaves no file behind.
    from onnx import TensorProto, helper

    from avatarkit.speech.engines.base import onnx_session

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    monkeypatch.chdir(tmp_path)
    s = onnx_session(model.SerializeToString())
    assert not s.get_session_options().enable_profiling
    s.run(None, {"x": np.zeros(1, np.float32)})
    assert make_engine(get_voice("en-us-joe")).synthesize([Token("Hi.")]).num_samples > 0
    assert not list(tmp_path.glob("onnxruntime_profile_*")) and not list(tmp_path.iterdir())


def test_a_session_made_from_a_graph_in_memory_does_not_keep_the_graph():
    # onnxruntime holds a graph given as bytes for the session's life (Piper's voice: 63 MB of RSS, Kokoro's
    # 88 MB); the session has its own copy of the weights, so ours lets it go.
    import sys

    from onnx import TensorProto, helper, numpy_helper

    from avatarkit.speech.engines.base import onnx_session

    w = numpy_helper.from_array(np.full(1 << 20, 0.5, np.float32), "w")     # 4 MB of weights
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1 << 20])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1 << 20])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    before = sys.getrefcount(data)
    s = onnx_session(data)
    assert sys.getrefcount(data) == before
    y, = s.run(None, {"x": np.full(1 << 20, 4.0, np.float32)})
    assert np.allclose(y, 2.0)


def test_phonemising_again_and_again_keeps_no_memory_and_says_the_same():
    # Piper's bridge sets eSpeak's voice before every text and eSpeak NG leaks ~1.4 KB per set: a live
    # presenter grew 0.2 MB a minute by it. Ours sets it only when it changes, and still follows changes.
    from piper.phonemize_espeak import EspeakPhonemizer

    from avatarkit.speech.engines.piper import guard_espeak
    from avatarkit.utils.memory import malloc_bytes, memory_trimmer

    if malloc_bytes() is None:
        pytest.skip("needs glibc's mallinfo2")
    trim = memory_trimmer()

    def in_use() -> int:
        trim()
        m = malloc_bytes()
        return m["in_use"] + m["mmap"]

    text = "Please read each section before you start the quiz."
    guard_espeak()
    ph = EspeakPhonemizer()
    english = ph.phonemize("en-us", text)
    german = ph.phonemize("de", text)
    assert german != english and ph.phonemize("en-us", text) == english
    ph = EspeakPhonemizer()             # starting eSpeak again keeps its voice
    assert ph.phonemize("en-us", text) == english
    ph.phonemize("en-us", text)
    before = in_use()
    for _ in range(300):
        ph.phonemize("en-us", text)
    assert in_use() - before < 100_000      # was ~410 KB (1.4 KB a call)


def test_long_recordings_are_normalised_block_by_block_as_a_whole_would_be():
    import pyloudnorm

    from avatarkit.speech.loudness import LoudnessNormalizer, normalize_recording

    rng = np.random.default_rng(3)
    t = np.arange(48000 * 25)
    x = (rng.standard_normal(t.size) * 0.02 * (np.sin(t / 48000 * 5) > 0.3)).astype(np.float32)
    x[48000 * 3] = 0.9                                  # one click the limiter must catch
    y = normalize_recording(x, block_s=2.0)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert pyloudnorm.Meter(48000).integrated_loudness(y.astype(np.float64)) == pytest.approx(-16, abs=0.3)
    assert np.abs(y).max() <= 10 ** (-1.7 / 20) + 1e-6
    z = LoudnessNormalizer(48000)(x)
    assert np.abs(y - z).max() < 0.02


_ESPEAK_SHARED = r"""
import sys
import threading

sys.setswitchinterval(1e-6)     # switch threads as often as Python can, so an unguarded pair interleaves
from piper import espeakbridge
from piper.phonemize_espeak import EspeakPhonemizer

calls = []
real_set_voice = espeakbridge.set_voice
espeakbridge.set_voice = lambda name: (calls.append(name), real_set_voice(name))[1]

from avatarkit.speech.engines.piper import guard_espeak

guard_espeak()
texts = {"en-us": "Please read each section before you start the quiz.",
         "de": "Bitte lesen Sie jeden Abschnitt, bevor Sie mit dem Test beginnen."}
ph = EspeakPhonemizer()
want = {v: ph.phonemize(v, t) for v, t in texts.items()}
ph.phonemize("de", texts["de"])
assert calls == ["en-us", "de"], calls                  # a repeat is skipped
EspeakPhonemizer()                                      # eSpeak started again (Kokoro's front end, a Piper voice)
assert ph.phonemize("de", texts["de"]) == want["de"] and calls[-1] == "de" and len(calls) == 3, calls
bad = []

def speak(voice):
    for _ in range(400):
        got = ph.phonemize(voice, texts[voice])
        if got != want[voice]:
            bad.append(voice)

threads = [threading.Thread(target=speak, args=(v,)) for v in list(texts) * 3]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not bad, f"{len(bad)} phonemisations read the other thread's voice"
print("ok")
"""


def test_espeak_is_shared_safely_by_voices_and_threads():
    """eSpeak NG keeps one state per process. Starting it again (each `EspeakPhonemizer` does: Kokoro's front end,
    Piper's voices) must not leave the voice set before it in place: the next set is made, not skipped (a Piper
    voice after a Kokoro one read garbage phonemes or crashed). And two threads phonemising in two languages
    must each get their own voice's phonemes. A fresh process, so that the bridge is watched from its start."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _ESPEAK_SHARED], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
