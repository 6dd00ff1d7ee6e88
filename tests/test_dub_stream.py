"""Dubbing in flat memory and at speed: speech streamed from its file, frames kept as I420, only the
lower-face box drawn.

The pieces are checked against what they replace (a whole-array resample, normalisation and
interpolation; RGB frames); the dub itself on 3 s of a real presenter (skipped without
`../shared/media/talking`), with every MP4 decoded.
"""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from .audiofiles import speech, write_audio
from .conftest import ROOT

MEDIA = ROOT.parent / "shared" / "media" / "talking"
CLIP = MEDIA / "usgov_styletalk_KristiNoem_muxed.mp4"
real = pytest.mark.skipif(not CLIP.is_file(), reason=f"{CLIP} (real talking footage) is not here")


def _splits(x: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, x.size), 30, replace=False))
    return np.split(x, cuts)


@pytest.mark.parametrize("rate", [48000, 44100, 24000, 16000, 8000])
def test_resampling_block_by_block_gives_the_whole_arrays_samples(rate):
    from avatarkit.audio.features import resample
    from avatarkit.motion.audio import resample_stream

    x = np.random.default_rng(rate).standard_normal(rate * 3 + 77).astype(np.float32)
    whole = resample(x, rate, 16000)
    streamed = np.concatenate(list(resample_stream(_splits(x, 1), rate, 16000)))
    np.testing.assert_array_equal(streamed, whole)


def test_rechunk_gives_whole_blocks_and_pads_or_cuts_to_a_total():
    from avatarkit.audio.io import rechunk

    x = np.arange(10_007, dtype=np.float32)
    out = list(rechunk(_splits(x, 2), 1920))
    assert [b.size for b in out[:-1]] == [1920] * 5 and out[-1].size == 10_007 - 5 * 1920
    np.testing.assert_array_equal(np.concatenate(out), x)
    out = list(rechunk(_splits(x, 3), 1920, 12_000))
    y = np.concatenate(out)
    assert y.size == 12_000 and all(b.size == 1920 for b in out[:-1])
    np.testing.assert_array_equal(y[:10_007], x)
    assert not y[10_007:].any()
    np.testing.assert_array_equal(np.concatenate(list(rechunk(_splits(x, 4), 1000, 5000))), x[:5000])


def test_speech_read_in_blocks_is_normalised_as_the_whole_recording(tmp_path):
    import pyloudnorm

    from avatarkit.audio.io import load_audio
    from avatarkit.recordings.dub import speech_for
    from avatarkit.speech.loudness import NormalizedSpeech, normalize_recording

    rng = np.random.default_rng(3)
    t = np.arange(48000 * 9)
    x = (rng.standard_normal(t.size) * 0.02 * (np.sin(t / 48000 * 5) > 0.3)).astype(np.float32)
    x[48000 * 3] = 0.9                                   # a click the limiter must catch
    wav = write_audio(tmp_path / "x.wav", x, 48000)
    s = speech_for(wav, None, None)
    assert s.samples == x.size
    y = s.array()
    z = normalize_recording(load_audio(wav, 48000), block_s=2.0)
    assert y.shape == z.shape and np.abs(y - z).max() < 1e-5
    assert pyloudnorm.Meter(48000).integrated_loudness(y.astype(np.float64)) == pytest.approx(-16, abs=0.3)
    assert np.abs(y).max() <= 10 ** (-1.7 / 20) + 1e-6
    # Blocks of any size, padded with silence; read again, the same samples.
    blocks = list(s.blocks(1920, x.size + 5000))
    assert all(b.size == 1920 for b in blocks[:-1]) and sum(b.size for b in blocks) == x.size + 5000
    np.testing.assert_array_equal(np.concatenate(blocks)[:x.size], y)
    assert not np.concatenate(blocks)[x.size:].any()
    np.testing.assert_array_equal(NormalizedSpeech.from_array(load_audio(wav, 48000), block=7000).array(), y)


def test_long_speech_animates_from_blocks_as_from_the_whole(monkeypatch):
    import avatarkit.motion.audio as A

    rng = np.random.default_rng(1)
    t = np.arange(48000 * 23)
    x = (rng.standard_normal(t.size) * 0.05 * (np.sin(t / 48000 * 6) > 0)).astype(np.float32)
    m = A.AudioMotion("learned")      # (the loudness baseline's stream fixes its level on its first block)
    whole = m.animate_audio(x, 48000, fps=25, frames=575)
    monkeypatch.setattr(A, "LONG_S", 5.0)
    streamed = m.animate_blocks(iter(_splits(x, 5)), x.size, 48000, fps=25, frames=575)
    assert len(streamed) == 575
    for c in ("jaw", "wide", "blink", "yaw", "pitch"):
        assert np.allclose(streamed[c], whole[c], atol=1e-4), c


def test_warp_field_matches_scipy_linear_interpolation_even_on_slivers():
    from scipy.interpolate import LinearNDInterpolator

    from avatarkit.render.footage import _piecewise_linear

    rng = np.random.default_rng(0)
    for trial in range(6):
        pts = rng.uniform(2, 60, (40, 2))
        # Nearly coincident pairs, as the inner lips of a closed mouth give: sliver triangles.
        pts[20:30] = pts[:10] + rng.normal(0, 1e-3, (10, 2))
        pts = np.concatenate([pts, [[0, 0], [62, 0], [0, 50], [62, 50]]])
        vals = rng.normal(0, 3, (len(pts), 2))
        got = _piecewise_linear(pts, vals, (54, 66))
        gy, gx = np.mgrid[:54, :66].astype(np.float64)
        want = np.nan_to_num(LinearNDInterpolator(pts, vals, fill_value=0.0)(gx, gy))
        assert np.abs(got - want).max() < 1e-6, trial


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """3 s (90 frames, 30 fps) of a real presenter, with sound."""
    from avatarkit.eval.footage import cut_clip

    return cut_clip(CLIP, tmp_path_factory.mktemp("clip") / "noem3.mp4", 0, 90)


@real
def test_frame_store_kinds_hold_the_same_frames(clip):
    from avatarkit.face.footage import video_frames
    from avatarkit.render.footage import FrameStore

    keep = np.ones(90, bool)
    keep[10:20] = False
    raw = FrameStore.from_video(clip, keep)
    filed = FrameStore.from_video(clip, keep, budget=0)
    rgb = list(video_frames(clip))
    given = FrameStore.from_frames(rgb, keep)
    assert (raw.kind, filed.kind, given.kind) == ("raw", "file", "rgb")
    assert 15 not in raw and 15 not in filed and 25 in filed
    box = (40, 60, 120, 130)
    for i in (0, 25, 89, 26, 0):
        np.testing.assert_array_equal(filed.yuv(i), raw.yuv(i))
        np.testing.assert_array_equal(filed.rgb_box(i, box), raw.rgb_box(i, box))
        # The I420 planes are the file's own: as RGB they are the decoder's RGB frame up to rounding.
        assert np.abs(raw.frame(i).astype(int) - rgb[i]).mean() < 2.0
        np.testing.assert_array_equal(given.rgb_box(i, box), rgb[i][60:130, 40:120])
    out = np.empty_like(raw.yuv(0))
    assert filed.yuv(25, out) is out and np.array_equal(out, raw.yuv(25))
    filed.close()


@real
def test_i420_frames_are_the_rgb_frames(clip):
    """The dub's I420 frames (planes copied, the box converted) show what the RGB renderer draws."""
    from avatarkit.motion.audio import AudioMotion
    from avatarkit.recordings.dub import prepare_clip
    from avatarkit.render.footage import FootageRenderer, FrameStore

    track, bank, _ = prepare_clip(clip)
    audio, sr, _ = speech(3)
    motion = AudioMotion("loudness").animate_audio(audio, sr, fps=30, frames=120)
    store = FrameStore.from_video(clip, track.good)
    r = FootageRenderer(track, store, bank)
    plan = r.plan(120)
    # Cross-fades too (this short clip's plan only turns round): frames 30-33 fade from footage frame 60.
    plan.blend_from[30:34] = 60
    plan.blend_weight[30:34] = [0.8, 0.6, 0.4, 0.2]
    rgb = list(r.frames(motion, plan=plan))
    yuv = list(r.frames_i420(motion, plan=plan))
    for a, b in zip(rgb, yuv):
        assert np.abs(cv2.cvtColor(b, cv2.COLOR_YUV2RGB_I420).astype(int) - a).mean() < 1.5
    # The mouth moves: the box differs from the footage frame it was drawn on.
    boxes = [p.box for p in r.patches(motion, plan=plan)]
    assert all(0 <= x0 < x1 <= store.width and 0 <= y0 < y1 <= store.height and x0 % 2 == y0 % 2 == 0
               for x0, y0, x1, y1 in boxes)


@real
def test_long_dub_streams_its_speech_and_frames_from_disk(clip, tmp_path, monkeypatch):
    """Past `LONG_S` the motion is streamed and with a small budget the frames come from a file: the
    same video as the short path, with the recording's sound, loudness-normalised."""
    import pyloudnorm

    import avatarkit.motion.audio as A
    from avatarkit.recordings.dub import dub
    from avatarkit.render import footage as F

    audio, sr, _ = speech(4)
    wav = write_audio(tmp_path / "new.wav", audio, sr)
    a = dub(clip, tmp_path / "a.mp4", audio=wav, captions=False)
    monkeypatch.setattr(A, "LONG_S", 1.0)
    real_from_video = F.FrameStore.from_video.__func__
    monkeypatch.setattr(F.FrameStore, "from_video",
                        classmethod(lambda cls, path, keep: real_from_video(cls, path, keep, budget=0)))
    b = dub(clip, tmp_path / "b.mp4", audio=wav, captions=False)
    assert a.frames == b.frames == int(np.ceil(audio.size / sr * 30))

    def decode(p):
        with av.open(str(p)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        with av.open(str(p)) as c:
            sound = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        return frames, sound

    fa, sa = decode(a.video)
    fb, sb = decode(b.video)
    assert len(fa) == len(fb) == a.frames
    # The streamed motion equals the whole one to 1e-4, so the pictures agree to the codec's noise.
    assert np.mean([cv2.PSNR(x, y) for x, y in zip(fa, fb)]) > 35
    assert abs(sa.size - sb.size) < 2048 and sb.size >= a.frames * 1600
    assert pyloudnorm.Meter(48000).integrated_loudness(sb[:audio.size * 48000 // sr].astype(np.float64)) \
        == pytest.approx(-16, abs=1.0)
    x0, y0, x1, y1 = b.label_box                                # the AI-generated label is on every frame
    assert all(np.abs(f[y0:y1, x0:x1].astype(int) - g[y0:y1, x0:x1]).mean() < 3 for f, g in zip(fa, fb))
