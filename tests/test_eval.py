"""Lip-sync evaluation: the metrics on sequences with known answers, and the harness on a real render.

The harness test treats the session's rendered MP4 (phoneme-driven, so its
mouth follows its own speech) as the "real" video: motion generated from its
audio must score better than the same motion with its timing scrambled.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from avatarkit.cli.eval import eval_app
from avatarkit.eval import metrics as M
from avatarkit.eval.clips import EvalError, read_clip
from avatarkit.eval.lipsync import (
    MethodScore,
    Report,
    VideoReport,
    evaluate_video,
    reanimate,
    score,
)
from avatarkit.face import landmarks as lm
from avatarkit.speech.align import time_map


def smooth_series(n: int, seed: int = 0, width: int = 5) -> np.ndarray:
    """Random, speech-like (a few frames' correlation) non-negative series."""
    rng = np.random.default_rng(seed)
    k = np.hanning(2 * width + 1)
    return np.convolve(rng.random(n + 4 * width), k / k.sum(), "same")[2 * width: 2 * width + n]


def face(seed: int = 0) -> np.ndarray:
    """Synthetic landmarks: random points, eye centres exactly 60 px apart and level, lips closed."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(0, 40, (478, 2)) + [200, 200]
    for eye, center in ((M.LEFT_EYE, (170, 180)), (M.RIGHT_EYE, (230, 180))):
        a = np.linspace(0, 2 * np.pi, len(eye), endpoint=False)
        pts[list(eye)] = np.stack([center[0] + 10 * np.cos(a), center[1] + 5 * np.sin(a)], 1)
    for up, lo in M.INNER_PAIRS:
        pts[lo] = pts[up]
    return pts


LOWER_LIP = sorted(set(lm.LIP_INNER_LOWER + lm.LIP_MID_LOWER + lm.LIP_OUTER_LOWER) - set(lm.MOUTH_CORNERS))


def with_opening(base: np.ndarray, opening: np.ndarray) -> np.ndarray:
    """A sequence whose lower lip moves down by `opening` IOD (60 px) per frame."""
    seq = np.repeat(base[None], opening.size, 0)
    seq[:, LOWER_LIP, 1] += 60 * opening[:, None]
    return seq


def similarity(points: np.ndarray, angle: float, scale: float, shift) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return scale * points @ np.array([[c, -s], [s, c]]).T + np.asarray(shift)


# -- metrics -------------------------------------------------------------------

@pytest.mark.parametrize("lag", [-4, 0, 3, 7])
def test_av_offset_recovers_a_known_lag(lag):
    s = smooth_series(240)
    real = s[20:220]
    gen = s[20 - lag: 220 - lag]            # gen[t + lag] == real[t]: positive lag = generated late
    gen = gen + 0.3                          # a constant bias must not matter (series are mean-removed)
    gen[[5, 50, 51, 120]] = np.nan           # nor must a few frames without a face
    off = M.av_offset(gen, real, max_lag=10)
    assert off.lag == lag
    assert off.correlation > 0.95


def test_av_offset_of_a_still_mouth_is_undefined():
    off = M.av_offset(np.full(100, 0.1), smooth_series(100))
    assert off.lag is None and math.isnan(off.correlation)


def test_alignment_removes_a_similarity_transform():
    base = face()
    moved = similarity(base, angle=0.3, scale=1.7, shift=(40, -25))
    assert np.allclose(M.align_similarity(moved, base), base, atol=1e-6)
    # Canonical frame: eye centres at (-0.5, 0) and (0.5, 0), whatever the pose and size.
    a, b = M.eye_centers(M.canonical(moved))
    assert np.allclose(a, [-0.5, 0], atol=1e-9) and np.allclose(b, [0.5, 0], atol=1e-9)
    assert M.iod(M.canonical(moved)) == pytest.approx(1.0)


def test_alignment_ignores_mouth_motion_and_lmd_is_in_iod():
    base = face()
    spoken = with_opening(base, np.array([0.0, 0.2]))[1]   # lower lip down by 0.2 IOD
    moved = similarity(spoken, angle=-0.2, scale=0.6, shift=(5, 9))
    ref = M.canonical(base)
    aligned = M.align_sequence(np.stack([moved, base]), ref)
    # The stable points fix the pose exactly, so the open mouth is measured in the reference frame.
    assert np.allclose(aligned[1], ref, atol=1e-6)
    moved_points = [i for i in M.MOUTH if not np.allclose(spoken[i], base[i])]
    expected = 0.2 * len(moved_points) / len(M.MOUTH)
    assert M.lmd(aligned[:1], aligned[1:]) == pytest.approx(expected, rel=1e-6)


def test_mouth_opening_is_a_fraction_of_iod():
    seq = with_opening(face(), np.array([0.0, 0.1, 0.3]))
    op = M.mouth_opening(seq)
    assert np.all(np.diff(op) > 0)
    assert op[2] - op[0] == pytest.approx(0.3, abs=0.05)
    big = similarity(seq[2], 0.5, 3.0, (0, 0))
    assert M.mouth_opening(big) == pytest.approx(op[2])


def test_jitter_of_smooth_and_noisy_motion():
    t = np.arange(100)
    base = M.canonical(face())
    smooth = np.repeat(base[None], t.size, 0)
    smooth[:, list(M.MOUTH), 1] += 0.05 * np.sin(2 * np.pi * t / 25)[:, None]
    noisy = smooth.copy()
    noisy[:, list(M.MOUTH)] += np.random.default_rng(1).normal(0, 0.01, (t.size, len(M.MOUTH), 2))
    linear = np.repeat(base[None], t.size, 0) + 0.001 * t[:, None, None]
    assert M.jitter(linear) == pytest.approx(0.0, abs=1e-9)
    assert M.jitter(smooth) < 0.005 < 0.02 < M.jitter(noisy)
    # A missing frame breaks runs; it does not add a jump.
    holes = noisy.copy()
    holes[10] = np.nan
    assert math.isfinite(M.jitter(holes))


def test_pearson_skips_missing_frames_and_constant_series():
    a = smooth_series(50)
    b = 2 * a + 1
    b[3] = np.nan
    assert M.pearson(a, b) == pytest.approx(1.0)
    assert math.isnan(M.pearson(a, np.ones(50)))


def test_block_shuffle_moves_every_block():
    x = np.arange(100)
    y = M.block_shuffle(x, 10, seed=3)
    assert sorted(y) == list(x)
    assert all(y[i] != x[i] for i in range(0, 100, 10))


def test_score_of_real_against_itself_and_missing_frames():
    real = with_opening(face(), smooth_series(120) * 0.3)
    real = np.stack([similarity(f, 0.01 * i, 1 + 0.001 * i, (i, 0)) for i, f in enumerate(real)])
    gen = real.copy()
    real[[0, 7, 8]] = np.nan
    gen[[20, 21]] = np.nan
    s = score(real, gen, "self")
    assert s.frames == 115 and s.face_found == pytest.approx(118 / 120)
    assert s.pearson == pytest.approx(1.0) and s.offset == 0
    assert s.lmd == pytest.approx(0.0, abs=1e-9)
    nothing = score(real, np.full_like(gen, np.nan), "none")
    assert nothing.frames == 0 and nothing.face_found == 0 and math.isnan(nothing.pearson)


def test_dtw_time_map_follows_a_known_warp():
    from scipy.ndimage import uniform_filter1d

    # Log-mel-like frames: 3 s of "speech" at 100 Hz around level 0, silence at log(1e-8).
    synth = 3 * uniform_filter1d(np.random.default_rng(0).normal(0, 1, (300, 16)), 5, axis=0)
    # Real: 0.4 s of silence, then the same speech 25% slower.
    src = np.arange(int(300 * 1.25)) / 1.25
    real = np.concatenate([np.full((40, 16), np.log(1e-8)), synth[src.astype(int)]])
    warp = time_map(synth, real, 100.0)
    for t in (0.5, 1.0, 2.0, 2.8):
        assert warp(t) == pytest.approx(0.4 + 1.25 * t, abs=0.05)
    # A truncated real clip: the first 2 s of it; later synthetic times fall off the end.
    part = time_map(synth, real[:200], 100.0, open_end=True)
    assert part(1.0) == pytest.approx(1.65, abs=0.05)
    assert part(2.5) is None


def test_report_overall_is_frame_weighted_and_serialisable():
    def video(name, frames, pearson):
        return VideoReport(Path(name), 25.0, frames, 1.0, 0.01, {
            "loudness": MethodScore("loudness", frames, 1.0, pearson, 0.05, 0.0, pearson, 0.02),
            "phoneme": MethodScore("phoneme", unavailable="no transcript"),
            "still": MethodScore("still", frames, 1.0, 0.1, 0.06, 0.0, 0.1, 0.001),
        })

    rep = Report([video("a.mp4", 100, 0.2), video("b.mp4", 300, 0.6)])
    overall = rep.overall()
    assert overall["loudness"].pearson == pytest.approx(0.5)
    assert overall["loudness"].frames == 400
    assert overall["phoneme"].unavailable == "no transcript"
    d = json.loads(json.dumps(rep.to_dict()))        # NaN becomes null, paths strings
    assert d["videos"][0]["methods"]["phoneme"]["pearson"] is None
    text = rep.table(width=160)
    assert "AI-generated" in text and "phoneme unavailable on a.mp4, b.mp4" in text
    # Each row says how far it is above the still mouth on the same frames: overall 0.5 - 0.1.
    overall_row = next(line for line in text.splitlines() if "loudness" in line and "400" in line)
    assert "+0.400" in overall_row


def test_overall_offset_is_the_peak_of_the_pooled_cross_correlation():
    """A long video lagging 1 frame outweighs a short one whose noisy peak is at -6."""
    lags = np.arange(-10, 11)

    def curve(peak, height):
        return list(height * np.exp(-0.5 * ((lags - peak) / 2.0) ** 2))

    def video(name, frames, peak, height):
        return VideoReport(Path(name), 25.0, frames, 1.0, 0.01, {
            "learned": MethodScore("learned", frames, 1.0, 0.6, 0.03, float(peak), height, 0.02,
                                   xcorr=curve(peak, height))})

    rep = Report([video("long.mp4", 900, 1, 0.7), video("short.mp4", 100, -6, 0.9)])
    assert rep.overall()["learned"].offset == 1.0
    assert json.loads(json.dumps(rep.to_dict()))["overall"]["learned"]["xcorr"][11] > 0.5


# -- the harness on a real render ------------------------------------------------

@pytest.fixture(scope="module")
def video(rendered):
    return rendered[0].video


@pytest.fixture(scope="module")
def clip(video):
    return read_clip(video, max_seconds=6)


def test_harness_scores_audio_motion_above_shuffled_motion(clip):
    from avatarkit.face.rig import rig_from_image
    from avatarkit.motion.audio import AudioMotion

    assert clip.frames == 150 and M.valid_frames(clip.real).mean() > 0.95
    rig = rig_from_image(clip.first)
    track = AudioMotion("loudness").animate_audio(clip.audio, 16000, fps=clip.fps, frames=clip.frames)
    gen = reanimate(rig, track)
    good = score(clip.real, gen, "loudness")
    assert good.face_found > 0.95
    assert good.pearson > 0.4 and good.offset == 0
    for seed in range(3):
        bad = score(clip.real, M.block_shuffle(gen, 25, seed=seed), "shuffled")
        assert good.pearson > bad.pearson + 0.3
        assert good.lmd < bad.lmd


def test_evaluate_video_reports_each_method(video, tmp_path):
    from avatarkit.models.audio2motion import Audio2Motion, Audio2MotionConfig

    model = Audio2Motion(Audio2MotionConfig(width=16, dilations=(1, 2), lookahead=2)).save_pretrained(tmp_path / "m")
    rep = evaluate_video(video, ["learned", "words", "still", "phoneme", "shuffled"], model_path=model, max_seconds=2)
    assert rep.frames == 50 and rep.fps == 25 and rep.face_found > 0.95
    assert list(rep.methods) == ["learned", "words", "still", "phoneme", "shuffled"]
    assert rep.methods["learned"].frames > 45            # untrained weights: only that it runs end to end
    # No side file: the words are what Whisper hears in the video ("Hello there, and welcome ...").
    assert rep.transcript_source == "whisper" and "hello" in rep.transcript.lower()
    assert rep.methods["phoneme"].unavailable is None and rep.methods["words"].unavailable is None
    assert rep.methods["words"].frames > 45
    # Real mouth shapes at chance timing move; a still mouth barely does.
    assert rep.methods["still"].jitter < rep.real_jitter
    assert rep.methods["shuffled"].lmd > 0


def test_phoneme_method_with_a_transcript(video):
    text = ("Hello there, and welcome to the first lesson. "
            "We open the mouth to speak, and we close it in silence.")
    rep = evaluate_video(video, ["phoneme"], max_seconds=4, transcript=text)
    s = rep.methods["phoneme"]
    assert s.unavailable is None
    assert s.pearson > 0.6 and abs(s.offset) <= 1


# -- errors and the command line ----------------------------------------------------

def write_video(path, frames: np.ndarray, fps: int = 25) -> None:
    from avatarkit.media.writer import VideoWriter

    n, h, w, _ = frames.shape
    with VideoWriter(path, w, h, fps, 16000) as wr:
        wr.write_audio(0.1 * np.sin(np.arange(n * 16000 // fps) * 0.05).astype(np.float32))
        for f in frames:
            wr.write_frame(f)


def test_no_face_in_the_first_frame_is_a_clear_error(tmp_path):
    p = tmp_path / "wall.mp4"
    write_video(p, np.full((5, 128, 128, 3), 120, np.uint8))
    with pytest.raises(EvalError, match=r"wall\.mp4: no usable face in the first frame"):
        evaluate_video(p, ["still"])


def test_cli_lipsync_table_json_and_errors(video, tmp_path):
    runner = CliRunner()
    out = tmp_path / "r.json"
    res = runner.invoke(eval_app, ["lipsync", str(video), "--methods", "still,phoneme",
                                   "--max-seconds", "1", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "AI-generated" in res.output and "still" in res.output
    d = json.loads(out.read_text())
    assert d["videos"][0]["frames"] == 25 and d["overall"]["still"]["frames"] > 20

    res = runner.invoke(eval_app, ["lipsync", str(tmp_path / "missing.mp4"), "--methods", "still"])
    assert res.exit_code == 2
    assert "missing.mp4" in res.output and "Traceback" not in res.output

    res = runner.invoke(eval_app, ["lipsync", str(video), "--methods", "still,magic"])
    assert res.exit_code == 2 and "unknown method" in res.output


# -- renderers against filmed faces (`avatarkit eval render`) -------------------------------------------

def test_eval_render_reenacts_a_real_face_with_the_warp_renderer(tmp_path):
    from avatarkit.eval.render import evaluate_render

    clip = Path(__file__).resolve().parents[1] / "data" / "talking" / "grid_lbax4n.mpg"
    sheet = tmp_path / "sheet.png"
    rep = evaluate_render([clip], ["warp"], max_seconds=2, sheet=sheet)
    s = rep.videos[0].scores["warp"]
    assert rep.videos[0].frames == 50 and s.frames >= 45
    # Driven by its own landmarks, the warp's mouth opens when the real one does, on time.
    assert s.pearson > 0.8 and s.offset == 0
    assert 20 < s.psnr < 60 and 0.5 < s.ssim <= 1
    # Outside the face only what the head's turn moves (hair, ears) changes; the sheet shows real | warp
    # for four frames.
    assert s.outside < 0.15
    # With the head held still and driven by channels, as before, nothing outside the face changes at all.
    still = evaluate_render([clip], ["warp"], max_seconds=1, head_pose=False,
                            drive="channels").videos[0].scores["warp"]
    assert still.outside < 0.01
    import cv2

    img = cv2.imread(str(sheet))
    assert img.shape == (4 * 256, 2 * 256, 3)
    assert rep.overall()["warp"].psnr == pytest.approx(s.psnr) and "AI-generated" in rep.table()


def test_eval_render_command_names_bad_input(tmp_path):
    runner = CliRunner()
    res = runner.invoke(eval_app, ["render", str(tmp_path / "missing.mp4")])
    assert res.exit_code == 2 and "no such video file" in " ".join(res.output.split())
    clip = Path(__file__).resolve().parents[1] / "data" / "talking" / "grid_lbax4n.mpg"
    res = runner.invoke(eval_app, ["render", str(clip), "--renderer", "neural"])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "not part of avatarkit yet" in text and "Traceback" not in text


def test_head_poses_recover_a_known_similarity_and_turn(rig):
    from avatarkit.eval.render import head_poses
    from avatarkit.face.deform import FaceDeformer

    d = FaceDeformer(rig)
    a, k, t = np.radians(8), 1.1, np.array([12.0, -7.0])
    m = np.array([[k * np.cos(a), -k * np.sin(a), t[0]], [k * np.sin(a), k * np.cos(a), t[1]]])
    rest = d.rest.astype(np.float64)
    turned = d.targets({"yaw": 0.1, "pitch": -0.05}).astype(np.float64)
    real = np.stack([rest @ m[:, :2].T + m[:, 2], turned @ m[:, :2].T + m[:, 2], np.full_like(rest, np.nan)])
    S, turn = head_poses(d, real)
    assert np.allclose(S[0], m, atol=1e-3) and np.allclose(turn[0], 0, atol=1e-3)
    assert np.allclose(turn[1], [0.1, -0.05], atol=0.01) and np.allclose(S[1], m, atol=0.05)
    # A frame without a face keeps the last pose.
    assert np.allclose(S[2], S[1]) and np.allclose(turn[2], turn[1])


def test_measured_shapes_read_a_known_face_back(rig):
    """A face whose lips and jaw moved (an "oo" no channel makes), turned and moved in the frame: the
    evaluation's head pose plus measured shape put the photo's landmarks back on it."""
    from avatarkit.eval.render import head_poses, measured_shapes
    from avatarkit.face import landmarks as lm
    from avatarkit.face.deform import FaceDeformer
    from avatarkit.motion.track import FaceShape

    d = FaceDeformer(rig)
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.03, (len(lm.MOUTH_SHAPE), 2)).astype(np.float32)
    values = {"yaw": 0.08, "pitch": -0.04}
    moved = d.targets(values, FaceShape(lm.MOUTH_SHAPE, offsets)).astype(np.float64)
    a, k, t = np.radians(5), 0.9, np.array([-8.0, 5.0])
    m = np.array([[k * np.cos(a), -k * np.sin(a), t[0]], [k * np.sin(a), k * np.cos(a), t[1]]])
    real = np.stack([moved @ m[:, :2].T + m[:, 2]])
    S, turn = head_poses(d, real)
    for which in (lm.MOUTH_SHAPE, tuple(range(lm.NUM_MESH))):
        shape = measured_shapes(d, real, S, turn, which)[0]
        placed = d.targets({"yaw": float(turn[0, 0]), "pitch": float(turn[0, 1])}, shape)
        back = placed.astype(np.float64) @ S[0][:, :2].T + S[0][:, 2]
        assert np.abs(back[list(which)] - real[0][list(which)]).max() < 1e-2 * rig.iod
    assert np.allclose(measured_shapes(d, real, S, turn, lm.MOUTH_SHAPE)[0].offsets, offsets, atol=0.01)


def test_eval_render_with_a_second_of_own_mouths(tmp_path):
    """The first second of a clip given as the person's own mouths: the bank renderer pastes those (it
    is scored on the frames after them only), and a clip too short for that is a clear error."""
    import importlib

    bank_mod = importlib.import_module("avatarkit.render.bank")
    from avatarkit.eval.render import evaluate_render

    clip = Path(__file__).resolve().parents[1] / "data" / "talking" / "cremad_1001_DFA_ANG_XX.flv"
    picked: list[tuple[int, int]] = []
    mouth = bank_mod.BoundBank.mouth

    def spy(self, frame, entry):
        picked.append((entry, self.own))
        return mouth(self, frame, entry)

    bank_mod.BoundBank.mouth = spy
    try:
        rep = evaluate_render([clip], ["bank"], max_seconds=1.0, own_mouths_s=1.0)
    finally:
        bank_mod.BoundBank.mouth = mouth
    assert rep.videos[0].frames == int(rep.videos[0].fps * 1.0)     # one second scored, after the first
    own = picked[0][1]
    assert own > 0 and sum(e < own for e, _ in picked) > 0.8 * len(picked)
    with pytest.raises(EvalError, match="too short"):
        evaluate_render([clip], ["bank"], max_seconds=1.0, own_mouths_s=30.0)


def test_eval_render_leaves_the_photo_frame_out_of_the_pixel_figures(monkeypatch):
    """A photo kind's first frame is its own photo: a renderer that gives the photo back untouched would
    score about 150 dB there, and lift a short clip's mean PSNR by tens of dB."""
    import importlib

    from avatarkit.eval.render import evaluate_render
    from avatarkit.render.base import AvatarFrame

    warp = importlib.import_module("avatarkit.render.warp")

    def still(self, values, shape=None):
        return AvatarFrame(self.box, self.static_rgb.copy(), self.static_matte.copy(), self.deformer.targets(values))

    monkeypatch.setattr(warp.BoundWarp, "render_frame", still)
    clip = Path(__file__).resolve().parents[1] / "data" / "talking" / "grid_lbax4n.mpg"
    s = evaluate_render([clip], ["warp"], max_seconds=0.12, head_pose=False).videos[0].scores["warp"]
    assert s.frames == 3
    # Frames 1 and 2 only: the real face has moved a little from the photo, and the still photo is scored on it.
    assert 20 < s.psnr < 60, s.psnr
