"""The render service as a hostile client meets it: two keys, the real app over HTTP on loopback, real workers.

Every attack found when the service was tried with two API keys is here
(forged render records, brand-kit and avatar paths, other keys' avatars,
length and pixel bombs, YAML alias bombs, voice paths, existence oracles,
leaks, late validation, cancel, the memory ceiling, webhook addresses), with
the defences that already held (upload names, archive members, other keys'
jobs) and property-based fuzzing of every field that names a file. See
docs/security.md for the threat model.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avatarkit.script.scope import Confined, ScopeRefusal, check_relative
from avatarkit.serve.app import create_app
from avatarkit.serve.config import JobLimits, RateDefaults, ServeConfig
from avatarkit.serve.jobs import run_job
from avatarkit.serve.keys import create_key
from avatarkit.serve.store import open_store
from avatarkit.serve.tenancy import JobFolder, public_message
from avatarkit.serve.webhooks import WebhookError, check_url, deliver, resolve
from avatarkit.serve.worker import LocalWorkers

ROOT = Path(__file__).resolve().parents[1]
FACE = (ROOT / "samples" / "avatar.png").read_bytes()
PEPPER = "hostile-pepper"
SCRIPT = """\
avatarkit: 1
title: {title}
defaults:
  avatar: {avatar}
  voice: en-us-joe
  resolution: 320x180
scenes:
  - id: one
    segments:
      - text: {text}
"""


def script(avatar: str = "face.png", text: str = "Hello there.", title: str = "Hostile", extra: str = "") -> str:
    return SCRIPT.format(avatar=avatar, text=text, title=title) + extra


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG file that declares `width` x `height` pixels (its data is one empty row: a header bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def minimal_avatar(folder: Path, name: str) -> None:
    """An avatar folder complete enough to be found and opened (what `avatarkit avatar add` leaves)."""
    folder.mkdir(parents=True)
    (folder / "footage.mp4").write_bytes(b"\x00")
    (folder / "track.npz").write_bytes(b"\x00")
    (folder / "consent").mkdir()
    (folder / "consent" / "consent.pdf").write_bytes(b"%PDF-1.4 private consent of " + name.encode())
    (folder / "avatar.json").write_text(json.dumps({"name": name, "footage": {"file": "footage.mp4"}, "intake": {}}))


class Live:
    """The service listening on 127.0.0.1 (uvicorn in a thread) with two real worker processes."""

    def __init__(self, tmp: Path):
        import uvicorn

        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.config = ServeConfig(db=f"sqlite:///{tmp / 'db' / 'jobs.db'}", data_dir=str(self.data_dir), pepper=PEPPER,
                                  max_upload_mb=8, rate=RateDefaults(per_s=1000, burst=1000, max_concurrent=100),
                                  limits=JobLimits(script_chars=20_000, image_pixels=30_000_000, worker_mb=4096))
        self.app = create_app(self.config)         # opens (and makes private) the SQLite store itself
        self.store = self.app.state.store
        self.workers = LocalWorkers(open_store(self.config.db), n=2, lease_s=6, poll_s=0.1, memory_mb=4096,
                                    run=_run_here).start()
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning"))
        self.server = server
        self.thread = threading.Thread(target=server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def key(self, name: str, scopes=("renders:create", "renders:read", "renders:cancel")) -> tuple[str, dict]:
        key_id, secret = create_key(self.store, name, list(scopes), PEPPER.encode())
        return key_id, {"Authorization": f"Bearer {secret}"}

    def submit(self, auth: dict, text: str, assets: dict | None = None, **fields) -> httpx.Response:
        files = [("script", ("script.yaml", text.encode()))]
        files += [("assets", (n, b)) for n, b in ({"face.png": FACE} if assets is None else assets).items()]
        return self.http.post("/v1/renders", headers=auth, files=files, data=fields)

    def wait(self, auth: dict, job_id: str, timeout: float = 120, until=("succeeded", "failed", "cancelled")) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            got = self.http.get(f"/v1/renders/{job_id}", headers=auth).json()
            if got["status"] in until:
                return got
            assert time.monotonic() < deadline, got
            time.sleep(0.1)

    def close(self) -> None:
        self.workers.stop(20)
        self.server.should_exit = True
        self.thread.join(10)
        self.http.close()


def _run_here(job, report):
    """The service's job function, with the key libraries of this test's data folder (module level: picklable)."""
    return run_job(job, report, data_dir=Path(job.workdir).parents[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    old = os.environ.get("AVATARKIT_HOME")
    os.environ["AVATARKIT_HOME"] = str(tmp / "home")      # the worker processes inherit it
    svc = Live(tmp)
    svc.a_id, svc.a = svc.key("team-a")
    svc.b_id, svc.b = svc.key("team-b")
    minimal_avatar(svc.data_dir / "tenants" / svc.a_id / "avatars" / "alice", "alice")
    try:
        yield svc
    finally:
        svc.close()
        if old is None:
            os.environ.pop("AVATARKIT_HOME", None)
        else:
            os.environ["AVATARKIT_HOME"] = old


def _detail(r: httpx.Response) -> str:
    return r.json()["detail"]


# --- 1. forged render records ---------------------------------------------------------------------------

def test_forged_render_record_publishes_nothing_of_the_server(live):
    forged = {"inputs": "x", "video": "/etc/passwd", "vtt": "/etc/passwd", "srt": "/etc/passwd",
              "thumbnail": "/etc/passwd", "frames": 1, "fps": 25, "scenes": []}
    assets = {"face.png": FACE, "renders/script.en.json": json.dumps(forged).encode(),
              "artifacts/script.en.json": json.dumps(forged).encode()}
    r = live.submit(live.a, script(), assets)
    assert r.status_code == 201, r.text
    done = live.wait(live.a, r.json()["id"])
    assert done["status"] == "succeeded", done
    names = [a["name"] for a in done["artifacts"]]
    assert names == ["artifacts/script.en.mp4", "artifacts/script.en.vtt", "artifacts/script.en.srt"]
    passwd = Path("/etc/passwd").read_bytes()
    for art in done["artifacts"]:
        body = live.http.get(art["url"], headers=live.a).content
        assert body != passwd and b"root:" not in body
    import av

    video = live.http.get(done["artifacts"][0]["url"], headers=live.a).content
    with av.open(io.BytesIO(video)) as c:
        assert c.streams.video and c.streams.audio
        assert sum(1 for _ in c.decode(video=0)) > 10
    # The key's upload stayed an upload; the service's own record is the real one. Once the job has ended,
    # its uploads are gone.
    work = Path(live.store.get_job(r.json()["id"]).workdir)
    assert json.loads((work / "renders" / "script.en.json").read_text())["video"].startswith(str(work / "renders"))
    assert not (work / "input").exists()
    # And key B cannot read what A made, by job or by artifact.
    assert live.http.get(f"/v1/renders/{r.json()['id']}", headers=live.b).status_code == 404
    assert live.http.get(done["artifacts"][0]["url"], headers=live.b).status_code == 404


# --- 2. paths in scripts and brand kits -------------------------------------------------------------------

BRAND = "name: b\nlogo: {logo}\n"


@pytest.mark.parametrize("field,template", [
    ("logo", "name: b\nlogo: {p}\n"), ("logo.file", "name: b\nlogo: {{file: {p}}}\n"),
    ("music", "name: b\nmusic: {p}\n"), ("fonts.heading", "name: b\nfonts: {{heading: {p}}}\n")])
def test_brand_kit_paths_stay_in_the_job(live, tmp_path, field, template):
    outside = tmp_path / "outside.png"
    outside.write_bytes(FACE)
    answers = []
    for p in (str(outside), str(tmp_path / "missing.png"), "../../outside.png", "~/outside.png"):
        r = live.submit(live.a, script(extra="brand: brand.yaml\n"),
                        {"face.png": FACE, "brand.yaml": template.format(p=p).encode()})
        assert r.status_code == 422, (p, r.text)
        assert _detail(r).startswith("brand.yaml:") and field in _detail(r), _detail(r)
        assert str(tmp_path) not in _detail(r) and str(live.data_dir) not in _detail(r)
        answers.append(_detail(r).replace(p, "P"))
    assert answers[0] == answers[1], "an existing and a missing server file must get the same answer"


SCRIPT_FIELDS = {
    "defaults.avatar": lambda p: script(avatar=p),
    "scenes[0].slide": lambda p: script() + f"    slide: {p}\n",
    "scenes[0].segments[1].audio": lambda p: script().replace(
        "      - text: Hello there.\n", f"      - text: Hello there.\n      - audio: {p}\n"),
}


@pytest.mark.parametrize("field", sorted(SCRIPT_FIELDS))
def test_script_paths_are_no_oracle(live, field):
    answers = []
    for p in ("/etc/hostname", "/etc/no-such-file", "/etc/passwd"):
        r = live.submit(live.a, SCRIPT_FIELDS[field](p))
        assert r.status_code == 422, (p, r.text)
        assert field in _detail(r) and "/etc" not in _detail(r).replace(p, ""), _detail(r)
        answers.append(_detail(r).replace(repr(p), "P"))
    assert len(set(answers)) == 1, answers


# --- 3. avatars belong to their key ------------------------------------------------------------------------

def test_another_keys_avatar_looks_missing(live):
    assert live.submit(live.a, script(avatar="alice"), {}).status_code == 201
    theirs = live.submit(live.b, script(avatar="alice"), {})
    nobody = live.submit(live.b, script(avatar="nobody"), {})
    assert theirs.status_code == nobody.status_code == 422
    assert _detail(theirs).replace("alice", "X") == _detail(nobody).replace("nobody", "X")
    # Their consent record, named through the data folder, is refused by the name's form alone.
    r = live.submit(live.b, script(extra="    slide: ../../tenants/x/avatars/alice/consent/consent.pdf\n"))
    assert r.status_code == 422 and "'..' part" in _detail(r)
    assert sorted(live.http.get("/v1/avatars", headers=live.a).json()) == ["alice", "presenter"]
    assert live.http.get("/v1/avatars", headers=live.b).json() == ["presenter"]


def test_presenter_and_no_avatar_work_as_in_the_cli(live):
    assert live.submit(live.b, script(avatar="presenter"), {}).status_code == 201
    bare = script().replace("  avatar: face.png\n", "")
    r = live.submit(live.b, bare, {})
    assert r.status_code == 201, r.text


# --- 4, 5. length and pixel caps ---------------------------------------------------------------------------

def test_long_script_is_refused_before_any_work(live):
    words = " ".join(["word"] * 100_000)
    t0 = time.monotonic()
    r = live.submit(live.a, script(text=words))
    assert r.status_code == 413 and "limits.script_chars" in _detail(r), _detail(r)[:300]
    assert time.monotonic() - t0 < 10
    many = "".join(f"  - segments: [Hi {i}.]\n" for i in range(250))
    r = live.submit(live.a, script() + many)
    assert r.status_code == 413 and "limits.scenes = 200" in _detail(r)


@pytest.mark.parametrize("size", [(12_000, 12_000), (20_000, 20_000), (65_000, 65_000)])
def test_pixel_bombs_are_measured_from_the_header(live, size):
    bomb = png_header(*size)
    assert len(bomb) < 100
    r = live.submit(live.a, script(avatar="bomb.png"), {"bomb.png": bomb})
    assert r.status_code == 413, r.text
    assert "limits.image_pixels" in _detail(r) and "bomb.png" in _detail(r)
    r = live.submit(live.a, script(extra="    slide: bomb.png\n"), {"face.png": FACE, "bomb.png": bomb})
    assert r.status_code == 413


# --- 6. leaks ------------------------------------------------------------------------------------------------

def test_a_keys_identical_job_reuses_its_render_and_no_other_key_does(live):
    text = script(text="Reuse this one, please.", title="Cached")

    def job(auth):
        r = live.submit(auth, text)
        assert r.status_code == 201, r.text
        assert live.wait(auth, r.json()["id"])["status"] == "succeeded"
        return Path(live.store.get_job(r.json()["id"]).workdir) / "renders" / "script.en.mp4"

    first = job(live.a)
    again = job(live.a)
    assert os.stat(again).st_ino == os.stat(first).st_ino      # the same file: A's render, linked, not drawn again
    other = job(live.b)
    assert os.stat(other).st_ino != os.stat(first).st_ino      # B's own render: nothing of A's was read
    wall = [json.loads((v.parent / "script.en.json").read_text())["wall_s"] for v in (first, again, other)]
    assert wall[0] == wall[1] != wall[2]
    key = json.loads((first.parent / "script.en.json").read_text())["inputs"]
    for key_id, video in ((live.a_id, first), (live.b_id, other)):
        entry = live.data_dir / "tenants" / key_id / "cache" / "renders" / key
        assert os.stat(entry / "video.mp4").st_ino == os.stat(video).st_ino
        assert stat.S_IMODE(os.stat(entry.parent).st_mode) == 0o700
    # The server's own cache (its $AVATARKIT_HOME) is never used for a job.
    assert not (Path(os.environ["AVATARKIT_HOME"]) / "cache" / "renders").exists()


def test_files_and_folders_are_private(live):
    r = live.submit(live.a, script())
    work = Path(live.store.get_job(r.json()["id"]).workdir)
    assert stat.S_IMODE(os.stat(live.data_dir).st_mode) == 0o700
    db = Path(live.config.db[len("sqlite:///"):])
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(work / "input" / "face.png").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(work).st_mode) == 0o700


def test_messages_show_no_server_path(tmp_path):
    folder = JobFolder(tmp_path / "jobs" / "j")
    msg = f"cannot read {folder.input}/pics/a.png, see /srv/avatarkit/data/x.db and /etc/passwd"
    out = public_message(msg, folder)
    assert out == "cannot read pics/a.png, see <server path> and <server path>"
    assert public_message("GET /v1/voices lists them; not /srv/v1/x") == "GET /v1/voices lists them; not <server path>"
    assert len(public_message("x" * 10_000)) == 500


# --- 7. validation at submit --------------------------------------------------------------------------------

@pytest.mark.parametrize("case,assets,needle", [
    ("brand field", {"brand.yaml": b"name: b\ncolour: red\n"}, "brand.yaml:2: colour: unknown field"),
    ("brand logo", {"brand.yaml": b"logo: nope.png\n"}, "brand.yaml:1: logo"),
    ("voice", None, "script.yaml:10: scenes[0].segments[0].voice: unknown voice 'no-such-voice'"),
])
def test_bad_brand_kits_and_voices_fail_at_submit(live, case, assets, needle):
    text = script(extra="brand: brand.yaml\n") if assets else script().replace("voice: en-us-joe", "voice: no-such-voice")
    r = live.submit(live.a, text, {"face.png": FACE, **(assets or {})})
    assert r.status_code == 422 and needle in _detail(r), (case, r.text)


def test_fonts_and_music_are_read_at_submit(live):
    kit = b"name: b\nfonts: {heading: bad.ttf}\n"
    r = live.submit(live.a, script(extra="brand: brand.yaml\n"),
                    {"face.png": FACE, "brand.yaml": kit, "bad.ttf": b"\x00\x01\x00\x00" + bytes(200)})
    assert r.status_code == 400 and "assets: bad.ttf" in _detail(r), r.text
    kit = b"name: b\nmusic: tune.wav\n"
    r = live.submit(live.a, script(extra="brand: brand.yaml\n"),
                    {"face.png": FACE, "brand.yaml": kit, "tune.wav": b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(64)})
    assert r.status_code == 400 and "assets: tune.wav: not a readable recording" in _detail(r), r.text


def test_voice_paths_are_refused_by_their_form(live):
    answers = []
    for ref in ("piper:/etc/passwd", "piper:/no/such.onnx", "/etc/voice.yaml", "espeak:../../x"):
        r = live.submit(live.a, script().replace("voice: en-us-joe", f"voice: '{ref}'"))
        assert r.status_code == 422 and "defaults.voice" in _detail(r), r.text
        answers.append(_detail(r).replace(repr(ref), "R"))
    assert answers[0] == answers[1]
    ids = {v["id"] for v in live.http.get("/v1/voices", headers=live.a).json()}
    assert "en-us-joe" in ids


# --- 8. amplification -----------------------------------------------------------------------------------

def test_yaml_alias_bomb_gets_a_short_answer(live):
    levels = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = "\n".join(levels) + "\n" + script(title="*a9")
    assert len(bomb) < 1500
    t0 = time.monotonic()
    r = live.submit(live.a, bomb)
    assert r.status_code == 422 and len(r.content) < 2000, (r.status_code, len(r.content))
    assert "expands" in _detail(r) or "unknown field" in _detail(r)
    assert time.monotonic() - t0 < 5


def test_a_long_string_aliased_many_times_is_refused_before_it_is_read(live):
    # 29 KB of YAML that repeats one 10,000-character title a thousand times: before the aliases' characters
    # were counted, the server parsed all 10 million of them (27 s of CPU) before refusing the text as too long.
    body = script(title="&t '" + "Hi there. " * 1000 + "'")
    body += "".join("      - {text: *t}\n" for _ in range(1000))
    assert len(body) < 40_000
    t0 = time.monotonic()
    r = live.submit(live.a, body)
    assert r.status_code == 422 and "aliases repeat more than" in _detail(r), r.text
    assert time.monotonic() - t0 < 5


def test_webhooks_go_by_the_address_they_resolve_to():
    with pytest.raises(WebhookError, match="non-public"):
        resolve("localhost", 80)
    with pytest.raises(WebhookError, match="not a public address"):
        check_url("http://10.1.2.3/hook", ["10.1.2.3"])
    for literal in ("http://[::ffff:127.0.0.1]/x", "http://169.254.169.254/latest"):
        host = literal.split("//")[1].split("/")[0].strip("[]")
        with pytest.raises(WebhookError):
            check_url(literal, [host])
    # An allowed name that resolves to loopback is refused when the webhook is sent, before any connection.
    with pytest.raises(WebhookError, match="non-public"):
        deliver("http://localhost:9/hook", {"x": 1}, b"k", attempts=1, allowed_hosts=["localhost"])
    assert resolve("localhost", 80, ["127.0.0.0/8", "::1/128"]) in ("127.0.0.1", "::1")


# --- 9. what already held -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x.png", "/abs.png", "a/../../x.png", "C:/x.png", "a\\x.png", "x\x00.png",
                                  ".request.sha256", "a/.hidden.png", "script.yaml", "", "./x.png"])
def test_upload_names_that_escape_are_refused(live, name):
    r = live.http.post("/v1/renders", headers=live.a, json={
        "script": script(), "assets": {"face.png": base64.b64encode(FACE).decode(),
                                       name: base64.b64encode(FACE).decode()}})
    assert r.status_code == 400 and _detail(r).startswith("assets["), (name, r.text)


def test_archive_members_that_escape_are_refused(live):
    for member in ("../../evil.png", "/tmp/evil.png", ".hidden/evil.png"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(member, FACE)
        r = live.submit(live.a, script(), {"face.png": FACE, "pack.zip": buf.getvalue()})
        assert r.status_code == 400 and "pack.zip" in _detail(r) or "assets[1]" in _detail(r), r.text


def test_scope_follows_symlinks_out(tmp_path):
    inside = tmp_path / "job" / "input"
    inside.mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(FACE)
    (inside / "link.png").symlink_to(tmp_path / "secret.png")
    (inside / "real.png").write_bytes(FACE)
    scope = Confined(roots=(inside,))
    assert scope.exists(scope.file("real.png", inside))
    assert not scope.exists(scope.file("link.png", inside))
    for bad in ("/etc/passwd", "~root/x", "a/../../x", "a\\b", "x\x00", ""):
        with pytest.raises(ScopeRefusal):
            check_relative(bad)


# --- cancel and the memory ceiling ----------------------------------------------------------------------------

def _running(live, auth, job_id, min_progress: float = 0.0, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = live.http.get(f"/v1/renders/{job_id}", headers=auth).json()
        if got["status"] == "running" and got["progress"] >= min_progress:
            return
        assert got["status"] in ("queued", "running") and time.monotonic() < deadline, got
        time.sleep(0.05)


@pytest.mark.parametrize("stage", ["speech", "drawing"])
def test_cancel_takes_effect_within_5_s(live, stage):
    # Speech: one scene of many sentences is spoken before its first frame; drawing: short phrases drawn one by one.
    if stage == "speech":
        r = live.submit(live.a, script(text=" ".join(f"This is sentence number {i}, spoken slowly." for i in range(150))))
    else:
        r = live.submit(live.a, script(text="Hello there, everyone. " * 50), resolution="1280x720")
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    _running(live, live.a, job_id, 0.0 if stage == "speech" else 0.02)
    time.sleep(1.5 if stage == "speech" else 0.3)
    got = live.http.get(f"/v1/renders/{job_id}", headers=live.a).json()
    assert got["status"] == "running", got
    t0 = time.monotonic()
    assert live.http.post(f"/v1/renders/{job_id}/cancel", headers=live.a).status_code == 200
    done = live.wait(live.a, job_id, timeout=15)
    assert done["status"] == "cancelled" and done["artifacts"] == []
    work = Path(live.store.get_job(job_id).workdir)
    # The worker has stopped the job's work, not just its record: nothing half-made is left.
    deadline = time.monotonic() + 5
    while (work / "renders").exists() or (work / "artifacts").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert time.monotonic() - t0 < 5, time.monotonic() - t0


def _hog(job, report):
    """A job function that grows by 64 MiB every 50 ms until stopped (module level: picklable)."""
    import numpy as np

    held = []
    for _ in range(200):
        held.append(np.ones(64 << 20, np.uint8))
        time.sleep(0.05)
        report(0.1)
    return []


def test_a_job_over_the_memory_ceiling_fails_once(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    (tmp_path / "w").mkdir()
    job, _ = store.create_job(key_id="k", kind="render", request={}, workdir=str(tmp_path / "w"))
    workers = LocalWorkers(store, n=1, lease_s=3, poll_s=0.05, run=_hog, memory_mb=600).start()
    try:
        deadline = time.monotonic() + 60
        while store.get_job(job.id).status not in ("failed", "succeeded"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(4)      # past a lease: a retry would have claimed it again by now
        got = store.get_job(job.id)
        assert got.status == "failed" and got.attempts == 1, got
        assert "limits.worker_mb = 600" in got.error and "MiB" in got.error
        assert "Traceback" not in got.error
    finally:
        workers.stop(10)
        store.close()


# --- property-based fuzzing of every field that names a file --------------------------------------------------

NAMES = st.one_of(
    st.sampled_from(["/etc/passwd", "/etc/hostname", "../face.png", "../../data/db/jobs.db", "~/x.png", "face.png",
                     "renders/script.en.json", "../renders/script.en.json", "C:/x.png", "a\\b.png", "//etc/passwd",
                     "face.png/..", "./face.png", "presenter", "alice", "%2e%2e/x.png", "face.png\x00.txt",
                     "/proc/self/environ", "logo.png", "tune.wav"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))

FIELDS = {
    "avatar": lambda v: script(avatar=json.dumps(v)),
    "slide": lambda v: script() + f"    slide: {json.dumps(v)}\n",
    "slide.file": lambda v: script() + f"    slide: {{file: {json.dumps(v)}}}\n",
    "audio": lambda v: script().replace("      - text: Hello there.\n",
                                        f"      - text: Hello there.\n      - audio: {json.dumps(v)}\n"),
    "brand": lambda v: script(extra=f"brand: {json.dumps(v)}\n"),
}
BRAND_FIELDS = {
    "logo": lambda v: f"logo: {json.dumps(v)}\n",
    "music": lambda v: f"music: {json.dumps(v)}\n",
    "fonts.body": lambda v: f"fonts: {{body: {json.dumps(v)}}}\n",
}


def _fuzz_check(live, r: httpx.Response, value: str) -> None:
    assert r.status_code in (201, 400, 413, 422), (value, r.status_code, r.text[:300])
    if r.status_code != 201:
        detail = _detail(r)
        assert str(live.data_dir) not in detail and str(live.tmp) not in detail, detail
        assert len(r.content) < 2000
        return
    # Accepted: every file the job will read is its own upload or a house asset.
    from avatarkit.script import load_script
    from avatarkit.script.scope import using
    from avatarkit.serve.tenancy import job_scope

    job = live.store.get_job(r.json()["id"])
    folder = JobFolder(Path(job.workdir))
    with using(job_scope(folder, live.data_dir, job.key_id)):
        s = load_script(folder.input / "script.yaml")
    allowed = (os.path.realpath(folder.input), os.path.realpath(ROOT / "avatarkit" / "avatars"),
               os.path.realpath(live.data_dir / "tenants" / job.key_id))
    used = [sc.avatar for sc in s.scenes] + [sc.slide.file for sc in s.scenes if sc.slide] + \
        [seg.audio for sc in s.scenes for seg in sc.segments if seg.audio] + ([s.brand] if s.brand else [])
    for p in used:
        assert os.path.realpath(p).startswith(allowed), (value, p)
    live.http.post(f"/v1/renders/{job.id}/cancel", headers=live.a)


ASSETS = {"face.png": FACE, "logo.png": FACE}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(sorted(FIELDS)), value=NAMES)
def test_fuzz_script_file_fields(live, field, value):
    r = live.submit(live.a, FIELDS[field](value), ASSETS)
    _fuzz_check(live, r, value)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(sorted(BRAND_FIELDS)), value=NAMES)
def test_fuzz_brand_kit_file_fields(live, field, value):
    r = live.submit(live.a, script(extra="brand: brand.yaml\n"),
                    {**ASSETS, "brand.yaml": ("name: fuzz\n" + BRAND_FIELDS[field](value)).encode()})
    _fuzz_check(live, r, value)


def test_library_cli_gives_one_key_a_voice(live, tmp_path):
    from typer.testing import CliRunner

    from avatarkit.cli import app

    voice = tmp_path / "team-narrator.yaml"
    voice.write_text("id: team-narrator\nengine: kokoro\nlanguage: en-US\nsettings: {speaker: af_bella, espeak: en-us}\n")
    runner = CliRunner()
    base = ["serve", "--db", live.config.db, "--data-dir", str(live.data_dir)]
    r = runner.invoke(app, base + ["library", "add", live.a_id, "voice", str(voice)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, base + ["library", "list", live.a_id])
    assert r.exit_code == 0 and "team-narrator" in r.output and "alice" in r.output, r.output
    r = runner.invoke(app, base + ["library", "add", "no-such-key", "voice", str(voice)])
    assert r.exit_code != 0 and "no key" in r.output
    piper = tmp_path / "p.yaml"
    piper.write_text("id: p\nengine: piper\nlanguage: en-US\nsettings: {model: /etc/passwd}\n")
    r = runner.invoke(app, base + ["library", "add", live.a_id, "voice", str(piper)])
    assert r.exit_code != 0 and "kokoro or espeak" in r.output
    mine = live.submit(live.a, script().replace("voice: en-us-joe", "voice: team-narrator"))
    theirs = live.submit(live.b, script().replace("voice: en-us-joe", "voice: team-narrator"))
    assert mine.status_code == 201, mine.text
    assert theirs.status_code == 422 and "unknown voice 'team-narrator'" in _detail(theirs)
    live.http.post(f"/v1/renders/{mine.json()['id']}/cancel", headers=live.a)
    assert "team-narrator" in {v["id"] for v in live.http.get("/v1/voices", headers=live.a).json()}
    assert "team-narrator" not in {v["id"] for v in live.http.get("/v1/voices", headers=live.b).json()}
