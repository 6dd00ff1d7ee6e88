"""Footage avatars, the mouth diffusion model, its training, the diffusion renderer and dubbing.

The footage is a real avatarkit render (the sample photo speaking eSpeak
speech through the warp renderer), so intake, training and dubbing run on
frames MediaPipe really tracks. Models are tiny ones built from a config.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from avatarkit.errors import AvatarkitError, FaceError, RenderError, ScriptError
from avatarkit.face.avatar import AvatarError, add_avatar, list_avatars, open_avatar
from avatarkit.face.crop import LIP_OUTER, crop_matrix, face_pose, from_crop, mouth_mask, paste, to_crop, track_poses
from avatarkit.face.footage import mouth_gap
from avatarkit.face.mouthrig import MouthRig
from avatarkit.models.mouth_diffusion import ModelError, MouthDiffusion, MouthDiffusionConfig

from .audiofiles import speech, write_audio
from .conftest import SAMPLES

TINY = MouthDiffusionConfig(size=32, patch=2, block_out_channels=(8, 16), norm_num_groups=4,
                            attention=False, steps=2)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    """A 7 s talking-head video with sound: the sample avatar speaking through the warp renderer."""
    import avatarkit

    d = tmp_path_factory.mktemp("footage")
    audio, sr, _ = speech(7)
    wav = write_audio(d / "talk.wav", audio, sr)
    out = d / "talk.mp4"
    avatarkit.lipsync(SAMPLES / "avatar.png", wav, out, resolution=(320, 240), fps=25)
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory, footage) -> Path:
    """An avatar home with `talk` made from the footage and trained for a few tiny steps."""
    from avatarkit.training.mouth import TrainSettings, train

    h = tmp_path_factory.mktemp("home")
    consent = h / "consent.txt"
    consent.write_text("I agree to my likeness being used for training videos.")
    a = add_avatar("talk", footage, consent, home=h)
    train(a, TrainSettings(steps=4, size=32, batch=4, preview_every=2, checkpoint_every=2), config=TINY)
    return h


def _batch(config: MouthDiffusionConfig, n: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = config.size
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, s), torch.linspace(-1, 1, s), indexing="ij")
    target = torch.stack([torch.stack([torch.sin(3 * xx + k), torch.cos(2 * yy - k), xx * yy]) for k in range(n)]) * 0.8
    cond = torch.rand((n, 9, s, s), generator=g) * 2 - 1
    return target, cond


# -- crop geometry and paste-back -------------------------------------------------------------

def test_crop_maps_points_there_and_back():
    from avatarkit.face.rig import load_avatar

    rig = load_avatar(SAMPLES / "avatar.png")
    m = crop_matrix(face_pose(rig.landmarks), 128)
    pts = rig.landmarks[:, :2]
    back = from_crop(to_crop(pts, m), m)
    assert np.abs(back - pts).max() < 1e-3
    c = to_crop(pts, m)
    # The whole mouth (outer lip contour, corners of a broad smile included) and the chin get full paste
    # weight; the nose base gets none.
    hard, alpha = mouth_mask(128)
    lips = c[list(LIP_OUTER) + [152]]
    assert ((lips > 0) & (lips < 128)).all()
    assert min(alpha[int(y), int(x)] for x, y in lips) == 1.0
    assert alpha[int(c[2, 1]), int(c[2, 0])] == 0.0
    # The weight ramps down to zero at the crop's own border too: no seam where the crop ends.
    assert alpha[-1].max() == 0.0 and alpha[:, 0].max() == 0.0 and alpha[:, -1].max() == 0.0
    assert alpha[-4:].max() < 0.5


def test_paste_leaves_every_pixel_outside_the_mask_bit_identical():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
    orig = frame.copy()
    pose = np.array([160.0, 100.0, 58.0, 9.0, 44.0])     # a tilted face, 59 px between the eyes
    m = crop_matrix(pose, 64)
    generated = np.full((64, 64, 3), 7, np.uint8)
    box = paste(frame, generated, m)
    changed = np.any(frame != orig, axis=2)
    assert changed.sum() > 500
    ys, xs = np.nonzero(changed)
    assert xs.min() >= box[0] and xs.max() < box[2] and ys.min() >= box[1] and ys.max() < box[3]
    # Every changed pixel maps into the crop's mask; everything else is bit-identical.
    hard, _ = mouth_mask(64)
    inside = to_crop(np.stack([xs + 0.0, ys + 0.0], 1), m)
    hx = np.clip(inside[:, 0].astype(int), 0, 63)
    hy = np.clip(inside[:, 1].astype(int), 0, 63)
    near = [hard[max(0, y - 1):y + 2, max(0, x - 1):x + 2].max() for x, y in zip(hx, hy)]
    assert min(near) == 1
    np.testing.assert_array_equal(frame[~changed], orig[~changed])
    # Deep inside the mask the generated pixels are pasted as they are.
    cx, cy = from_crop(np.array([[32.0, 40.0]]), m)[0]
    assert (frame[int(cy), int(cx)] == 7).all()


# -- the model --------------------------------------------------------------------------------

def test_config_rejects_bad_settings():
    with pytest.raises(ModelError, match="multiple"):
        MouthDiffusionConfig(size=36, block_out_channels=(8, 16, 32))
    with pytest.raises(ModelError, match="scheduler"):
        MouthDiffusionConfig(scheduler="euler")
    with pytest.raises(ModelError, match="unknown"):
        MouthDiffusionConfig.from_dict({"size": 32, "flag_relative": True})


def test_training_steps_lower_the_loss():
    torch.manual_seed(0)
    model = MouthDiffusion(TINY)
    target, cond = _batch(TINY)
    opt = torch.optim.Adam(model.unet.parameters(), lr=3e-3)

    def loss_now():
        with torch.no_grad():
            return model.loss(target, cond, torch.Generator().manual_seed(5)).item()

    before = loss_now()
    for step in range(40):
        loss = model.loss(target, cond, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_now() < 0.6 * before


def test_training_noise_is_the_same_whichever_sampler_is_chosen():
    target, cond = _batch(TINY)
    torch.manual_seed(0)
    ddim = MouthDiffusion(TINY)
    dpm = MouthDiffusion(MouthDiffusionConfig.from_dict({**TINY.to_dict(), "scheduler": "dpm"}))
    dpm.unet.load_state_dict(ddim.unet.state_dict())
    a = ddim.loss(target, cond, torch.Generator().manual_seed(3))
    b = dpm.loss(target, cond, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # Near t = 0 the noised crop is the clean one; at t = 999 it is nearly all noise.
    noise = torch.randn_like(target)
    near = ddim.noise_schedule.add_noise(target, noise, torch.full((4,), 0))
    far = ddim.noise_schedule.add_noise(target, noise, torch.full((4,), 999))
    assert (near - target).abs().max() < 0.05 and (far - noise).abs().max() < 0.05


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_save_load_round_trip_gives_identical_samples(tmp_path, scheduler):
    torch.manual_seed(0)
    config = MouthDiffusionConfig.from_dict({**TINY.to_dict(), "scheduler": scheduler})
    model = MouthDiffusion(config)
    _, cond = _batch(config, n=3)
    a = model.sample(cond)
    assert a.shape == (3, 3, 32, 32)
    assert a.abs().max() <= 1.0
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = MouthDiffusion.from_pretrained(tmp_path / "m")
    assert loaded.config == config
    assert torch.equal(loaded.sample(cond), a)
    # Every frame starts from the same noise: identical conditions give identical crops.
    same = model.sample(cond[:1].expand(2, -1, -1, -1))
    assert torch.equal(same[0], same[1])


def test_loading_a_folder_that_is_no_model_says_so(tmp_path):
    with pytest.raises(ModelError, match="not a trained mouth model"):
        MouthDiffusion.from_pretrained(tmp_path)


# -- footage intake and avatar folders ---------------------------------------------------------

def test_intake_finds_usable_neutral_and_loop_frames(home, footage):
    a = open_avatar("talk", home)
    t = a.track
    n = a.meta["footage"]["frames"]
    assert n == t.frames and abs(n - 7 * 25) < 40
    assert t.good.mean() > 0.95
    assert a.meta["footage"]["audio"] and a.audio is not None
    gaps = np.array([mouth_gap(p) for p in t.landmarks[t.good]])
    neutral = np.array([mouth_gap(t.landmarks[i]) for i in t.neutral])
    assert len(t.neutral) >= 3 and neutral.max() <= np.percentile(gaps, 40)
    assert t.loops and all(0 <= s < e <= n for s, e in t.loops)
    # Consent travels with the avatar, with its digest.
    c = a.meta["consent"]
    assert (a.folder / c["file"]).read_text().startswith("I agree") and len(c["sha256"]) == 64
    assert [x.name for x in list_avatars(home)] == ["talk"]


def test_intake_checks_what_training_needs(home, footage, tmp_path):
    import avatarkit

    # The short test footage is accepted, with a warning that gives its usable length and what to film.
    a = open_avatar("talk", home)
    usable = f"usable footage is {a.track.good.sum() / a.track.fps:.3g} s (below 60)"
    assert any(w.startswith(usable) and "2-5 minutes" in w for w in a.meta["intake"]["warnings"])
    # A person who never opens their mouth is refused with the measured figure; nothing is left behind.
    audio, sr, _ = speech(4)
    still = tmp_path / "still.mp4"
    avatarkit.lipsync(SAMPLES / "avatar.png", write_audio(tmp_path / "s.wav", audio, sr), still,
                      resolution=(320, 240), motion="still", captions=False)
    consent = tmp_path / "c.txt"
    consent.write_text("yes")
    with pytest.raises(FaceError, match=r"mouth movement is 0\.0\d* IOD \(below 0\.015\).*talking naturally"):
        add_avatar("mute", still, consent, home=tmp_path / "h")
    assert not (tmp_path / "h" / "mute").exists() and not list((tmp_path / "h").glob(".mute*"))


def test_intake_image_figures_fall_with_darkness_and_blur():
    import cv2

    from avatarkit.face.detect import detect_landmarks
    from avatarkit.face.intake import face_image_stats, footage_checks
    from avatarkit.face.rig import load_avatar

    rig = load_avatar(SAMPLES / "avatar.png")
    pts = detect_landmarks(rig.image)
    luma, sharp = face_image_stats(rig.image, pts)
    dark, _ = face_image_stats((rig.image * 0.15).astype(np.uint8), pts)
    _, blurred = face_image_stats(cv2.GaussianBlur(rig.image, (0, 0), 4), pts)
    assert dark < 0.2 * luma and blurred < 0.2 * sharp
    ok = np.full(100, 1.0)
    levels = {c.name: c.level for c in footage_checks(np.linspace(0, 0.3, 100), 120, ok * luma, ok * sharp, ok * 80)}
    assert set(levels.values()) == {"ok"}, levels
    bad = {c.name: c.level for c in footage_checks(np.full(100, 0.1), 30, ok * dark, ok * blurred, ok * 30)}
    assert bad == {"mouth movement": "refuse", "usable footage": "warn", "face brightness": "refuse",
                   "sharpness": "warn", "face size": "warn"}, bad


def test_eval_render_scores_a_footage_avatar_on_its_own_video(home, footage):
    from avatarkit.eval.render import evaluate_render

    rep = evaluate_render([footage], ["warp", "talk"], max_seconds=2, home=home)
    s = rep.videos[0].scores
    assert set(s) == {"warp", "talk"} and s["talk"].frames >= 45
    # The avatar repaints only the mouth of the real frames: everything outside the face is as filmed.
    assert s["talk"].outside < 0.005 and np.isfinite(s["talk"].psnr) and np.isfinite(s["talk"].flicker)


def test_avatar_add_refuses_bad_input_and_leaves_nothing(tmp_path, footage):
    consent = tmp_path / "c.txt"
    consent.write_text("yes")
    with pytest.raises(AvatarError, match="consent"):
        add_avatar("anna", footage, tmp_path / "missing.pdf", home=tmp_path)
    with pytest.raises(AvatarError, match="name"):
        add_avatar("Anna Smith", footage, consent, home=tmp_path)
    blank = tmp_path / "blank.mp4"
    with av.open(str(blank), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for _ in range(30):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), 90, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(FaceError, match=r"only 0 of 30 frames"):
        add_avatar("anna", blank, consent, home=tmp_path)
    assert not any((tmp_path / "avatars").iterdir())


def test_mouth_rig_opens_and_closes_the_mouth(home):
    a = open_avatar("talk", home)
    rig = MouthRig.fit(a.track)
    p = a.track.landmarks[a.track.neutral[0]]
    closed = mouth_gap(np.c_[rig.retarget(p, {"jaw": 0.0, "press": 1.0}), np.zeros(478)])
    quarter = mouth_gap(np.c_[rig.retarget(p, {"jaw": 0.25}), np.zeros(478)])
    loud = mouth_gap(np.c_[rig.retarget(p, {"jaw": 0.5}), np.zeros(478)])
    widest = mouth_gap(np.c_[rig.retarget(p, {"jaw": 1.2}), np.zeros(478)])
    assert closed < 0.01 < quarter < loud < widest
    # A loud vowel's jaw opens the mouth as far as this person does at their 95th percentile; nothing beyond 1.5x.
    p95 = rig.open_range[2]
    assert abs(loud - p95) < 0.25 * p95 and widest < 1.6 * p95


# -- training --------------------------------------------------------------------------------

def test_training_saves_a_loadable_model_with_previews_and_resumes(home):
    from avatarkit.training.mouth import TrainSettings, train

    a = open_avatar("talk", home)
    m = a.model_dir
    for f in ("config.json", "training.json", "reference.png", "mouthrig.json", "unet/config.json",
              "scheduler/scheduler_config.json", "checkpoint/state.pt", "previews/step_000004.png"):
        assert (m / f).is_file(), f
    info = json.loads((m / "training.json").read_text())
    assert info["steps"] == 4 and info["device"] == "cpu" and info["validation_loss"] is None
    steps = []
    train(a, TrainSettings(steps=6, size=32, batch=4, preview_every=2, checkpoint_every=2), config=TINY,
          progress=lambda stage, d, n, i: steps.append(d) if stage == "train" else None)
    assert steps == [5, 6]   # resumed from the checkpoint at step 4
    assert json.loads((m / "training.json").read_text())["steps"] == 6
    # Resuming restores weights, optimiser and every random state: the same weights as one straight run.
    fresh = home.parent / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    (fresh / "avatars").mkdir(parents=True)
    shutil.copytree(a.folder, fresh / "avatars" / "talk", ignore=shutil.ignore_patterns("model"))
    straight = train(open_avatar("talk", fresh), TrainSettings(steps=6, size=32, batch=4, preview_every=6,
                                                               checkpoint_every=6), config=TINY)
    resumed = MouthDiffusion.from_pretrained(m)
    for (k, v), w in zip(straight.unet.state_dict().items(), resumed.unet.state_dict().values()):
        assert torch.equal(v, w), k
    # Other model settings do not silently throw the checkpoint away.
    with pytest.raises(AvatarError, match="checkpoint at step 6 of a model with other settings"):
        train(a, TrainSettings(steps=8, size=64, batch=4))


# -- dubbing and the diffusion renderer --------------------------------------------------------

def _frames(path: Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        dur = sum(f.samples for f in c.decode(audio=0)) / 48000
    return frames, dur


def test_dub_changes_only_the_mouth_region_and_covers_the_new_audio(home, footage, tmp_path):
    import cv2

    from avatarkit.recordings.dub import dub

    audio, sr, _ = speech(8, voice="en-us+f3", rate=150)
    wav = write_audio(tmp_path / "new.wav", audio, sr)
    out = tmp_path / "dubbed.mp4"
    r = dub(footage, out, audio=wav, home=home, avatar="talk")     # a named trained avatar: the diffusion path
    src, _ = _frames(footage)
    assert r.renderer == "diffusion"
    got, dur = _frames(out)
    speech_frames = int(np.ceil(audio.size / sr * 25))
    assert len(got) == r.frames == max(len(src), speech_frames)
    assert r.stretch == r.frames / len(src) and abs(dur - r.frames / 25) < 0.05
    assert r.painted >= 0.9 * r.frames
    # The new recording's captions, in the language Whisper heard (eSpeak reading "the quick brown fox ...").
    assert r.language == "en" and r.captions["vtt"] == tmp_path / "dubbed.en.vtt" and r.captions["srt"].exists()
    assert "quick brown" in r.captions["vtt"].read_text().lower()
    # Outside the (slightly dilated) mouth mask every frame is the source frame, up to the codec;
    # inside it the tiny model's crop replaced the mouth.
    a = open_avatar("talk", home)
    poses = track_poses(a.track.landmarks, a.track.good)
    _, alpha = mouth_mask(64)
    for j in range(0, r.frames, 15):
        k = min(j * len(src) // r.frames, len(src) - 1)
        m = crop_matrix(poses[k], 64)
        region = cv2.warpAffine(alpha, m, (320, 240), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0
        near = cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        x0, y0, x1, y1 = r.label_box
        near[max(0, y0 - 4):y1 + 4, max(0, x0 - 4):x1 + 4] = True      # the AI-generated label
        diff = np.abs(got[j].astype(int) - src[k]).mean(2)
        assert diff[~near].mean() < 2.0, (j, diff[~near].mean())
        assert diff[region].mean() > 3 * diff[~near].mean() + 1, (j, diff[region].mean())
    with av.open(str(out)) as c:
        assert "AI-generated" in c.metadata.get("comment", "")
    x0, y0, x1, y1 = r.label_box
    assert 0 < x0 < x1 <= 320 and 0 <= y0 < y1 < 60
    assert np.abs(got[0][y0:y1, x0:x1].astype(int) - src[0][y0:y1, x0:x1]).mean() > 10


def test_a_dub_that_fails_half_way_leaves_no_file(home, footage, tmp_path, monkeypatch):
    from avatarkit.recordings import dub as dub_module
    from avatarkit.render.diffusion import MouthPainter

    calls = []
    original = MouthPainter.paint

    def failing(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return original(self, *args)

    monkeypatch.setattr(MouthPainter, "paint", failing)
    wav = write_audio(tmp_path / "a.wav", *speech(3)[:2])
    with pytest.raises(RuntimeError, match="out of memory"):
        dub_module.dub(footage, tmp_path / "o.mp4", audio=wav, home=home, avatar="talk")
    assert len(calls) == 3 and list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".o*")) == []
    assert list(tmp_path.glob("*.vtt")) == [] and list(tmp_path.glob("*.srt")) == []


def test_dub_errors_name_the_problem_and_write_nothing(home, footage, tmp_path):
    from avatarkit.recordings.dub import dub

    other = tmp_path / "other.mp4"
    shutil.copyfile(footage, other)
    with open(other, "ab") as f:
        f.write(b"\0")   # a different file: no avatar was made from it
    wav = write_audio(tmp_path / "a.wav", speech(2)[0], speech(2)[1])
    with pytest.raises(AvatarError, match="diffusion renderer needs a trained avatar"):
        dub(other, tmp_path / "o.mp4", audio=wav, home=home, renderer="diffusion")
    with pytest.raises(RenderError, match="exactly one"):
        dub(footage, tmp_path / "o.mp4", audio=wav, text="hello", home=home)
    with pytest.raises(AvatarkitError, match="none.wav: no such file"):
        dub(footage, tmp_path / "o.mp4", audio=tmp_path / "none.wav", home=home)
    with pytest.raises(RenderError, match="missing.txt: cannot read"):
        dub(footage, tmp_path / "o.mp4", text=tmp_path / "missing.txt", voice="en-espeak", home=home)
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.*"))


def test_dub_from_text_keeps_the_video_length_when_the_speech_is_shorter(home, footage, tmp_path):
    from avatarkit.recordings.dub import dub

    script = tmp_path / "de.txt"
    script.write_text("Guten Morgen.", encoding="utf-8")
    r = dub(footage, tmp_path / "de.mp4", text=script, voice="de-espeak", home=home)
    src, _ = _frames(footage)
    got, dur = _frames(r.video)
    assert len(got) == len(src) == r.frames and r.stretch == 1.0
    assert abs(dur - len(src) / 25) < 0.05


def test_script_scene_with_the_diffusion_renderer(home, tmp_path, monkeypatch):
    import avatarkit

    monkeypatch.setenv("AVATARKIT_HOME", str(home))
    script = tmp_path / "s.yaml"
    script.write_text("avatarkit: 1\ntitle: Footage avatar\ndefaults:\n  resolution: 320x240\n  voice: en-us-joe\n"
                      "scenes:\n  - avatar: talk\n    renderer: diffusion\n    background: photo\n"
                      "    segments:\n      - text: Hello from my own footage.\n")
    from typer.testing import CliRunner

    from avatarkit.cli import app
    from avatarkit.render.diffusion import MouthPainter

    assert CliRunner().invoke(app, ["check", str(script)]).exit_code == 0
    painted = []
    original = MouthPainter.paint
    monkeypatch.setattr(MouthPainter, "paint", lambda self, frames, *a: painted.append(len(frames)) or
                        original(self, frames, *a))
    r = avatarkit.render(script, tmp_path / "out")
    assert sum(painted) == r.frames   # every frame's mouth came from the diffusion renderer
    frames, dur = _frames(r.video)
    assert len(frames) == r.frames and frames[0].shape == (240, 320, 3)
    assert abs(dur - r.frames / 25) < 0.05
    # A photo with the diffusion renderer is refused at parse time, with the line.
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"avatarkit: 1\ntitle: x\nscenes:\n  - avatar: {SAMPLES / 'avatar.png'}\n"
                   "    renderer: diffusion\n    segments:\n      - text: Hi.\n")
    with pytest.raises(ScriptError, match=r"bad.yaml:5: scenes\[0\].renderer: renderer 'diffusion' needs"):
        avatarkit.load_script(bad)


def said(result) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_avatar_and_dub_commands_from_the_shell(footage, tmp_path):
    from typer.testing import CliRunner

    from avatarkit.cli import app

    runner = CliRunner()
    home = tmp_path / "home"
    consent = tmp_path / "consent.txt"
    consent.write_text("recorded consent")
    r = runner.invoke(app, ["avatar", "add", "anna", "--footage", str(footage), "--consent", str(tmp_path / "no.pdf"),
                            "--home", str(home)])
    assert r.exit_code == 2 and "consent document not found" in said(r)
    r = runner.invoke(app, ["avatar", "add", "anna", "--footage", str(footage), "--consent", str(consent),
                            "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "added anna" in said(r) and "avatar train anna" in said(r)
    r = runner.invoke(app, ["dub", str(footage), "-o", str(tmp_path / "d.mp4"), "--audio", str(tmp_path / "x.wav"),
                            "--renderer", "diffusion", "--home", str(home)])
    assert r.exit_code == 2 and "no trained mouth model" in said(r)
    r = runner.invoke(app, ["avatar", "train", "anna", "--steps", "2", "--size", "32", "--batch", "2",
                            "--preview-every", "1", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "trained anna: 2 steps on cpu" in said(r)
    assert (home / "avatars" / "anna" / "model" / "previews" / "step_000002.png").is_file()
    r = runner.invoke(app, ["avatar", "list", "--home", str(home)])
    assert "anna" in r.output and "yes" in r.output
    wav = write_audio(tmp_path / "new.wav", *speech(3)[:2])
    r = runner.invoke(app, ["dub", str(footage), "-o", str(tmp_path / "d.mp4"), "--audio", str(wav),
                            "--avatar", "anna", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "repainted by the diffusion renderer" in said(r) and (tmp_path / "d.mp4").is_file()
    r = runner.invoke(app, ["avatar", "remove", "anna", "--home", str(home)])
    assert r.exit_code == 0 and not (home / "avatars" / "anna").exists()
