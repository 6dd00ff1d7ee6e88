"""The README, followed in order by a new user, works as written (slow: it renders every sample).

Every ```bash block of README.md is read in order and each command run as
printed, from a fresh copy of the repository (its `.venv` the project's
own, `$AVATARKIT_HOME` empty), as a user who has just cloned it would. Not
run, each for a reason in `SKIP`: installing (the virtualenv exists), the
test suite itself, training and benchmarks (tens of minutes to hours), and
lines that do not start with `.venv/bin/` (examples on the reader's own
files, such as `avatarkit avatar add anna --footage anna_talking.mp4`).
`avatarkit serve`, which does not return, runs in the background on a
free port while the test talks to it with the key the README made.

Each command must exit 0 without a traceback and leave the outputs that
`EXPECT` lists for it, non-empty, and say what `SAYS` lists; every output
must differ from every other and still be as its command left it when the
README is done (no section overwrites another's video). A README command
that is in neither table fails the test, which then says to add it. The
copy's own code runs (`PYTHONPATH`), so edits to the checkout while the
test runs do not reach it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT

LANGS = ("en", "de", "fr", "ja", "ar")

# Commands not run, by pattern (searched in the command as printed), and why.
SKIP = {
    r"^python3\.11 -m venv": "creates the virtualenv, which exists",
    r"^\.venv/bin/pip install": "installs packages",
    r"-m pytest": "the test suite itself",
    r"avatarkit\.training\.": "trains the lip-sync model (about 18 minutes) over the shipped one",
    r"benchmarks/": "a benchmark (minutes to hours)",
    r"avatarkit live": "serves a page until stopped (tests/test_live.py drives it in Chromium)",
}

# What each command leaves, by pattern (matched against the whole command, as printed).
EXPECT = {
    r"avatarkit render samples/welcome\.yaml -o out/": [f"out/welcome.en.{x}" for x in ("mp4", "vtt", "srt", "jpg")],
    r"avatarkit from-slides samples/deck\.pptx .*-o out/deck\.yaml": ["out/deck.yaml"],
    r"avatarkit render out/deck\.yaml .*-o out/": [f"out/deck.en.{x}" for x in ("mp4", "vtt", "srt", "jpg")],
    r"avatarkit localize export samples/course\.yaml --to de,fr,ja,ar -o out/course\.xlf":
        [f"out/course.{lang}.xlf" for lang in LANGS[1:]],
    r"avatarkit localize import out/course\.de\.xlf": ["samples/course.translations.yaml"],
    r"avatarkit render samples/course\.yaml --lang all -o out/":
        [f"out/course.{lang}.{x}" for lang in LANGS for x in ("mp4", "vtt")],
    r"avatarkit export samples/course\.yaml --format scorm2004 -o out/course\.zip": ["out/course.zip"],
    r"avatarkit serve keys create lms( --scope \S+)+": [],     # prints the key's secret, used below
    r"avatarkit serve": [],                                    # the service: run in the background
}

# What a command must say, by the same patterns: the README's word that the package "renders every language
# that is not rendered yet" (the languages were rendered by the command before it, with the same inputs).
SAYS = {
    r"avatarkit export samples/course\.yaml .*": [rf"{lang} \(\d/\d\) (reused|up to date)" for lang in LANGS],
}


def readme_commands(text: str) -> list[str]:
    """The commands of README.md's ```bash blocks, in order: one per line, `&&` chains split, comments off."""
    out = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S):
        for line in block.splitlines():
            tokens = shlex.split(line, comments=True)
            while tokens:
                cut = tokens.index("&&") if "&&" in tokens else len(tokens)
                out.append(shlex.join(tokens[:cut]))
                tokens = tokens[cut + 1:]
    return out


def _kind(cmd: str) -> tuple[str, object]:
    for pattern, why in SKIP.items():
        if re.search(pattern, cmd):
            return "skip", why
    if not cmd.startswith(".venv/bin/"):
        return "skip", "an example on the reader's own files"
    found = [p for p in EXPECT if re.fullmatch(r"\.venv/bin/" + p, cmd)]
    assert len(found) == 1, (f"README command {cmd!r} matches {len(found)} entries of EXPECT: add what it writes to "
                             "EXPECT, or a reason not to run it to SKIP")
    return "run", EXPECT[found[0]]


def test_readme_commands_are_all_known():
    """Fast (not slow): every README command is either expected, with its outputs, or skipped with a reason."""
    cmds = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    kinds = [_kind(c) for c in cmds]
    assert sum(k == "run" for k, _ in kinds) >= 9, cmds


def _copy_repo(dest: Path) -> None:
    """The working tree as a fresh clone would have it (tracked and unignored files), `.venv` linked."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _boxes(path: Path) -> list[str]:
    """The top-level MP4 boxes in file order."""
    names, data = [], path.read_bytes()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        names.append(data[at + 4:at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        if size < 8:
            break
        at += size
    return names


def _check_mp4(path: Path, size: tuple[int, int] = (1280, 720)) -> None:
    """What the README promises of a video: 1280x720, 25 fps, H.264 + AAC, faststart, labelled AI-generated."""
    import av

    boxes = _boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), f"{path}: not faststart ({boxes})"
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, v.width, v.height, v.average_rate) == ("h264", *size, 25), path
        assert a.codec_context.name == "aac" and c.duration > 2e6, path
        assert "AI-generated" in " ".join(c.metadata.values()), (path, c.metadata)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict | str]:
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _talk_to_service(cmd: list[str], repo: Path, env: dict, key: str) -> None:
    """Start `avatarkit serve` (on a free port: tests run side by side), then use it as the README says."""
    port = _free_port()
    log = (repo / "serve.log").open("w")
    proc = subprocess.Popen([*cmd, "--port", str(port)], cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if _http("GET", f"{base}/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (repo / "serve.log").read_text()
            time.sleep(0.5)
        else:
            pytest.fail("avatarkit serve did not answer in 60 s:\n" + (repo / "serve.log").read_text())
        assert _http("GET", f"{base}/docs")[0] == 200                  # "OpenAPI docs at .../docs"
        assert _http("GET", f"{base}/v1/renders", key)[0] == 200
        # The README's key submits a render and cancels it: the three scopes it was given.
        script = (repo / "samples" / "welcome.yaml").read_text(encoding="utf-8")
        avatar = base64.b64encode((repo / "samples" / "avatar.png").read_bytes()).decode()
        status, job = _http("POST", f"{base}/v1/renders", key, {"script": script, "assets": {"avatar.png": avatar}})
        assert status == 201, job
        status, done = _http("POST", f"{base}/v1/renders/{job['id']}/cancel", key)
        assert status == 200 and done["status"] in ("cancelled", "succeeded", "failed"), done
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_the_readme_works_as_written(tmp_path):
    if not (ROOT / ".venv" / "bin" / "avatarkit").exists() or shutil.which("git") is None:
        pytest.skip("needs the project's .venv and git")
    repo = tmp_path / "avatarkit"
    _copy_repo(repo)
    # The copy's own code runs (ahead of the editable install's path on sys.path), as a fresh clone's would,
    # and stays as it was copied while the README runs.
    env = {**os.environ, "AVATARKIT_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    env.pop("AVATARKIT_VOICES", None)
    where = subprocess.run([".venv/bin/python", "-c", "import avatarkit; print(avatarkit.__file__)"], cwd=repo, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(repo), where
    cmds = readme_commands((repo / "README.md").read_text(encoding="utf-8"))
    made: dict[str, str] = {}          # output -> its SHA-256 when its command finished
    ran, key = [], None
    for cmd in cmds:
        kind, what = _kind(cmd)
        if kind == "skip":
            continue
        argv = shlex.split(cmd)
        if argv[1:] == ["serve"]:
            assert key, "the README starts the service before making a key"
            _talk_to_service(argv, repo, env, key)
            ran.append(cmd)
            continue
        t0 = time.monotonic()
        p = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=3600)
        said = p.stdout + p.stderr
        assert p.returncode == 0, f"{cmd}\nexit {p.returncode}\n{said[-4000:]}"
        assert "Traceback" not in said, f"{cmd}\n{said[-4000:]}"
        print(f"{time.monotonic() - t0:6.1f} s  {cmd}")
        for pattern, wanted in SAYS.items():
            if re.fullmatch(r"\.venv/bin/" + pattern, cmd):
                missing = [w for w in wanted if not re.search(w, said)]
                assert not missing, f"{cmd} did not say {missing}:\n{said[-3000:]}"
        if argv[1:4] == ["serve", "keys", "create"]:
            key = next((w for w in p.stdout.split() if w.startswith("ak_")), None)
            assert key, f"{cmd} printed no key:\n{said}"
        for rel in what:
            out = repo / rel
            assert out.is_file() and out.stat().st_size > 0, f"{cmd} did not write {rel}"
            made[rel] = _sha(out)
        ran.append(cmd)

    assert any(c.endswith("serve") for c in ran), "the README's service was not started"
    # Every output is its own (no two sections wrote the same thing) and none was overwritten afterwards.
    by_hash: dict[str, list[str]] = {}
    for rel, digest in made.items():
        by_hash.setdefault(digest, []).append(rel)
    assert all(len(v) == 1 for v in by_hash.values()), [v for v in by_hash.values() if len(v) > 1]
    changed = [rel for rel, digest in made.items() if _sha(repo / rel) != digest]
    assert not changed, f"overwritten by a later README command: {changed}"

    # What the README says of them.
    _check_mp4(repo / "out" / "welcome.en.mp4")                      # 1280x720, 25 fps, H.264 + AAC, faststart
    _check_mp4(repo / "out" / "deck.en.mp4")                         # --aspect 16:9 --size 720p
    for lang in LANGS:
        _check_mp4(repo / "out" / f"course.{lang}.mp4")
    for vtt in ("welcome.en.vtt", "deck.en.vtt", "course.de.vtt"):
        assert "AI-generated" in (repo / "out" / vtt).read_text(encoding="utf-8")
    assert (repo / "out" / "welcome.en.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    import zipfile

    with zipfile.ZipFile(repo / "out" / "course.zip") as z:
        names = z.namelist()
    assert "imsmanifest.xml" in names and sum(n.endswith(".mp4") for n in names) == len(LANGS), names
    # Following the README leaves the checkout as it was: importing the exported German file gives the
    # translations file back unchanged.
    assert _sha(repo / "samples" / "course.translations.yaml") == _sha(ROOT / "samples" / "course.translations.yaml")
