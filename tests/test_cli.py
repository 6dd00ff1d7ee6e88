"""The command line: help, validation errors with exit codes, a real render."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from avatarkit.cli import app

from .conftest import SAMPLES

runner = CliRunner()


def test_help_lists_every_command():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("render", "from-slides", "export", "localize", "serve", "voices", "say", "check", "lipsync", "eval",
                "avatar", "dub"):
        assert cmd in r.output
    r = runner.invoke(app, ["render", "--help"])
    assert "--out" in r.output and "--renderer" in r.output
    for flag in ("--brand", "--aspect", "--size", "--captions"):
        assert flag in r.output


def test_check_reports_file_line_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"title: t\ndefaults:\n  avatar: {SAMPLES / 'avatar.png'}\n  layout: diagonal\n"
                   "scenes:\n  - segments: [hi]\n")
    r = runner.invoke(app, ["check", str(bad)])
    assert r.exit_code == 2
    assert f"{bad}:4: defaults.layout: unknown layout 'diagonal'" in " ".join(r.output.split())
    assert "Traceback" not in r.output


def test_voices_lists_the_catalogue():
    r = runner.invoke(app, ["voices"])
    assert r.exit_code == 0 and "en-us-joe" in r.output


def test_say_writes_a_wav(tmp_path):
    import soundfile as sf

    out = tmp_path / "hi.wav"
    r = runner.invoke(app, ["say", "Hello there.", "-o", str(out)])
    assert r.exit_code == 0, r.output
    audio, sr = sf.read(out)
    assert sr == 48000 and 0.5 < len(audio) / sr < 3


def test_render_from_the_shell(tmp_path):
    script = tmp_path / "tiny.yaml"
    script.write_text(f"title: Tiny\ndefaults:\n  avatar: {SAMPLES / 'avatar.png'}\n  resolution: 320x180\n"
                      "scenes:\n  - segments: [Hi there.]\n")
    r = subprocess.run([sys.executable, "-m", "avatarkit", "render", str(script), "-o", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "tiny.en.mp4").exists()
    assert "wrote" in r.stderr and "Traceback" not in r.stderr


def test_lipsync_command_renders_and_rejects_bad_audio(tmp_path):
    from .audiofiles import speech, write_audio

    x, sr, _ = speech(seconds_of_words=1)
    wav = write_audio(tmp_path / "talk.flac", x, sr)
    out = tmp_path / "talk.mp4"
    r = runner.invoke(app, ["lipsync", "--avatar", str(SAMPLES / "avatar.png"), "--audio", str(wav),
                            "-o", str(out), "--size", "320x180"])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "wrote" in r.output
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio " * 200)
    r = runner.invoke(app, ["lipsync", "--avatar", str(SAMPLES / "avatar.png"), "--audio", str(notes),
                            "-o", str(tmp_path / "x.mp4")])
    assert r.exit_code == 2 and "notes.txt" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x.mp4").exists()
    r = runner.invoke(app, ["lipsync", "--avatar", str(SAMPLES / "avatar.png"), "--audio", str(wav),
                            "-o", str(tmp_path / "y.mp4"), "--size", "big"])
    assert r.exit_code == 2 and "WIDTHxHEIGHT" in r.output


def test_from_slides_then_a_portrait_branded_render(tmp_path):
    import av
    import numpy as np

    from avatarkit.face.detect import reset_tracking, try_detect_landmarks

    course = tmp_path / "course.yaml"
    r = runner.invoke(app, ["from-slides", str(SAMPLES / "deck.md"), "-o", str(course),
                            "--avatar", str(SAMPLES / "avatar.png"), "--voice", "en-us-joe"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["check", str(course), "--brand", str(SAMPLES / "brand.yaml")])
    assert r.exit_code == 0 and "brand kit" in r.output, r.output
    r = runner.invoke(app, ["render", str(course), "--aspect", "4:3"])
    assert r.exit_code == 2 and "--aspect '4:3'" in r.output
    r = subprocess.run([sys.executable, "-m", "avatarkit", "render", str(course), "-o", str(tmp_path / "out"),
                        "--brand", str(SAMPLES / "brand.yaml"), "--aspect", "9:16", "--size", "480p", "--captions"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with av.open(str(tmp_path / "out" / "course.en.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i % 50 == 25]
    assert frames[0].shape == (854, 480, 3)
    # MediaPipe finds the whole face inside the portrait frame wherever the presenter is shown.
    reset_tracking()
    found = [pts for f in frames if (pts := try_detect_landmarks(f)) is not None]
    assert len(found) >= len(frames) // 2
    for pts in found:
        assert pts[:, 0].min() > 0 and pts[:, 0].max() < 480 and pts[:, 1].min() > 0 and pts[:, 1].max() < 854
        assert np.ptp(pts[:, 1]) > 60
    r = runner.invoke(app, ["from-slides", str(tmp_path / "missing.pptx"), "-o", str(course), "--avatar", "x.png"])
    assert r.exit_code == 2 and "missing.pptx" in r.output and "Traceback" not in r.output


def test_localize_commands(tmp_path):
    import shutil

    for f in ("course.yaml", "avatar.png"):
        shutil.copy(SAMPLES / f, tmp_path / f)
    script = tmp_path / "course.yaml"
    r = runner.invoke(app, ["localize", "status", str(script)])
    assert r.exit_code == 0 and "de" in r.output, r.output
    r = runner.invoke(app, ["localize", "export", str(script), "--to", "de,ar", "-o", str(tmp_path / "course.xlf")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "course.de.xlf").is_file() and (tmp_path / "course.ar.xlf").is_file()
    # An untranslated file comes back with every id reported missing, and nothing breaks.
    r = runner.invoke(app, ["localize", "import", str(tmp_path / "course.de.xlf")])
    assert r.exit_code == 0 and "0 translated, 10 missing" in " ".join(r.output.split()), r.output
    r = runner.invoke(app, ["localize", "translate", str(script), "--to", "de", "--with", "pseudo"])
    assert r.exit_code == 0 and "10 filled by pseudo" in r.output, r.output
    r = runner.invoke(app, ["localize", "translate", str(script), "--to", "de", "--with", "marian",
                            "--model", str(tmp_path)])
    assert r.exit_code == 2 and "transformers" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["render", str(script), "--lang", "ja"])
    assert r.exit_code == 2 and "scenes.welcome" in r.output      # untranslated ids are listed before rendering
    r = runner.invoke(app, ["check", str(script), "--lang", "de"])
    assert r.exit_code == 0, r.output                              # pseudo-translated above: complete
    r = runner.invoke(app, ["check", str(script), "--lang", "all"])
    assert r.exit_code == 2 and "no up-to-date fr translation" in " ".join(r.output.split()), r.output
    r = runner.invoke(app, ["check", str(SAMPLES / "course.yaml"), "--lang", "all"])
    assert r.exit_code == 0, r.output


def _tiny(tmp_path, avatar=None, text="Hi there."):
    script = tmp_path / "tiny.yaml"
    script.write_text(f"title: Tiny\ndefaults:\n  avatar: {avatar or SAMPLES / 'avatar.png'}\n  resolution: 320x180\n"
                      f"scenes:\n  - segments: [{text}]\n")
    return script


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    # Each once ended in a traceback (FileExistsError, NotADirectoryError, soundfile's or PyAV's own), some after
    # the whole render or dub had run.
    script = _tiny(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("hi")
    cases = [
        (["render", str(script), "-o", str(afile)], f"--out {afile}: is a file, not a folder"),
        (["render", str(script), "-o", str(afile / "sub")], f"{afile} is a file, not a folder"),
        (["render", str(script), "-o", str(tmp_path / "o"), "--name", "../escape"], "must be a plain file name"),
        (["render", str(script), "-o", str(tmp_path / "o"), "--name", "a/b"], "must be a plain file name"),
        (["export", str(script), "-f", "scorm12", "-o", str(afile / "x.zip")], "is a file, not a folder"),
        (["export", str(script), "-f", "scorm12", "-o", str(tmp_path / "x.zip"), "--completion", "2"],
         "completion: 2.0 is outside 0-1"),
        (["say", "Hi", "-o", str(tmp_path)], "is a folder; give a file name ending in .wav"),
        (["say", "[pause 1s]", "-o", str(tmp_path / "w.wav")], "nothing to say"),
        (["voices", "save", "v", "--speaker", "af_heart", "--dir", str(afile)], "is a file, not a folder"),
        (["lipsync", "--avatar", str(SAMPLES / "avatar.png"), "--audio", str(afile), "-o", str(afile / "x.mp4")],
         "is a file, not a folder"),
        (["transcribe", str(afile), "-o", str(tmp_path / "t.txt")], "must end in .vtt, .srt or .json"),
        (["dub", str(afile), "--audio", str(afile), "-o", str(tmp_path)], "is a folder; give a file name ending in .mp4"),
    ]
    for args, needle in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in " ".join(r.output.split()), (args, r.output)
        assert "Traceback" not in r.output
    # Nothing was rendered or left: no output folder, no escaped file, no hidden work folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "tiny.yaml"]


def test_a_photo_that_cannot_be_animated_is_named_by_script_and_scene(tmp_path):
    bad = tmp_path / "face.png"
    bad.write_text("not an image")
    script = _tiny(tmp_path, avatar=bad)
    r = runner.invoke(app, ["check", str(script)])
    assert r.exit_code == 2
    assert f"{script}: scenes[0] (scene1).avatar: avatar face.png: not a readable image" in " ".join(r.output.split())
    r = runner.invoke(app, ["render", str(script), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "scenes[0] (scene1).avatar" in " ".join(r.output.split())
    assert not (tmp_path / "out").exists()


def test_text_too_long_for_one_segment_or_sentence_is_refused(tmp_path):
    r = runner.invoke(app, ["check", str(_tiny(tmp_path, text="word " * 999 + "word."))])
    assert r.exit_code == 2 and "a sentence of 1000 words" in " ".join(r.output.split())
    r = runner.invoke(app, ["check", str(_tiny(tmp_path, text="Word. " * 4000))])
    assert r.exit_code == 2 and "text is 23999 characters; a segment holds at most 20000" in " ".join(r.output.split())


def test_from_slides_warns_of_a_photo_that_is_not_there(tmp_path):
    r = runner.invoke(app, ["from-slides", str(SAMPLES / "deck.md"), "-o", str(tmp_path / "d.yaml"),
                            "--avatar", str(tmp_path / "nosuch.png")])
    # The script is still written (the photo may come later), but the command says the photo is missing.
    assert r.exit_code == 0 and "no such photo yet" in " ".join(r.output.split()), r.output


def test_progress_is_written_as_lines_where_no_bar_can_be_drawn(monkeypatch):
    import io

    from rich.console import Console

    from avatarkit.cli import common

    log = io.StringIO()
    now = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    with common.Progress(console=Console(file=log, force_terminal=False)) as bar:
        task = bar.add_task("render", total=50)
        for t, done in ((100.0, 10), (101.0, 20), (106.0, 30)):      # the second comes too soon
            now[0] = t
            bar.update(task, completed=done)
    lines = [ln for ln in log.getvalue().splitlines() if ln.startswith("render:")]
    assert [ln.split(" (")[0] for ln in lines] == ["render: 10/50", "render: 30/50"], log.getvalue()


def test_size_is_one_concept_across_commands():
    # `render --size 720p` and `lipsync --size 1280x720` once took different forms of one option.
    from avatarkit.cli.common import picture_size
    from avatarkit.errors import AvatarkitError

    assert picture_size("720p") == picture_size("1280x720") == (1280, 720)
    assert picture_size("480p") == (854, 480) and picture_size("960x540") == (960, 540)
    try:
        picture_size("big")
    except AvatarkitError as e:
        assert "expected 480p, 720p, 1080p, 4k or WIDTHxHEIGHT" in str(e)
    else:
        raise AssertionError("'big' was taken as a size")


def test_check_warns_of_a_voice_in_another_language(tmp_path):
    script = _tiny(tmp_path)
    script.write_text(script.read_text().replace("title: Tiny\n", "title: Tiny\nlanguage: de\n")
                      .replace("  resolution:", "  voice: en-us-joe\n  resolution:"))
    r = runner.invoke(app, ["check", str(script)])
    out = " ".join(r.output.split())
    assert r.exit_code == 0 and "warning:" in out and "voice en-us-joe speaks en-US, the script is in de" in out, out
    r = runner.invoke(app, ["check", str(_tiny(tmp_path))])
    assert r.exit_code == 0 and "warning" not in r.output
