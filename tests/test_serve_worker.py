"""Render-service workers: load, a worker killed mid-job, cancellation, retries, webhooks, and what a real job does."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from avatarkit.errors import AvatarkitError
from avatarkit.serve import jobs as jobs_mod
from avatarkit.serve.jobs import JobRequestError, JobStopped, parse_request, run_job
from avatarkit.serve.store import open_store
from avatarkit.serve.webhooks import HEADER, WebhookConfig, WebhookError, check_url, deliver, sign, verify
from avatarkit.serve.worker import LocalWorkers


def fake_job(job, report) -> list[str]:
    """A fast stand-in for a render: records each run, reports progress in steps, writes one artifact atomically."""
    wd = Path(job.workdir)
    with open(wd / "runs.txt", "a") as f:
        f.write(f"{os.getpid()} {job.attempts}\n")
    req = job.request
    if req.get("fail") == "flaky" and job.attempts == 1:
        raise RuntimeError("transient trouble")
    steps, dt = req.get("steps", 2), req.get("sleep", 0.01)
    for k in range(steps):
        time.sleep(dt)
        if not report((k + 1) / steps):
            raise JobStopped(job.id)
    if req.get("fail") == "user":
        raise AvatarkitError("request.script: no scenes")
    out = wd / "artifacts"
    out.mkdir(exist_ok=True)
    tmp = out / f".out.{os.getpid()}.partial"
    tmp.write_text(job.id)
    os.replace(tmp, out / "out.txt")
    return ["artifacts/out.txt"]


def _submit(store, tmp_path: Path, n: int, threads: int = 8, request=None, special: dict | None = None) -> list[str]:
    """Create `n` jobs from `threads` threads at once, each with its own workdir; return their ids in index order."""
    ids: list[str | None] = [None] * n

    def one(k0: int) -> None:
        for i in range(k0, n, threads):
            wd = tmp_path / f"job{i:03d}"
            wd.mkdir()
            req = dict((special or {}).get(i, request or {}))
            ids[i] = store.create_job(key_id="k1", kind="render", request=req, workdir=str(wd))[0].id

    ts = [threading.Thread(target=one, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return ids  # type: ignore[return-value]


def _wait(store, ids: list[str], timeout: float, statuses=("succeeded", "failed", "cancelled")) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(store.get_job(i).status in statuses for i in ids):
            return
        time.sleep(0.1)
    left = [(i, store.get_job(i).status) for i in ids if store.get_job(i).status not in statuses]
    raise AssertionError(f"{len(left)} jobs not finished after {timeout} s: {left[:5]}")


def _warm(store, tmp_path: Path) -> None:
    """One job through the pool, so timings below exclude process start-up."""
    wd = tmp_path / "warm"
    wd.mkdir()
    job, _ = store.create_job(key_id="warm", kind="render", request={}, workdir=str(wd))
    _wait(store, [job.id], 30)


def _check_exactly_once(store, ids: list[str], tmp_path: Path) -> None:
    for i, job_id in enumerate(ids):
        job = store.get_job(job_id)
        assert job.status == "succeeded" and job.artifacts == ["artifacts/out.txt"], (i, job)
        assert (tmp_path / f"job{i:03d}" / "artifacts" / "out.txt").read_text() == job_id
        assert [e["status"] for e in store.events(job_id)].count("succeeded") == 1


def test_load_200_jobs(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    with LocalWorkers(store, n=2, lease_s=10, poll_s=0.05, run=fake_job):
        _warm(store, tmp_path)
        t0 = time.time()
        ids = _submit(store, tmp_path, 200, request={"steps": 2, "sleep": 0.005})
        _wait(store, ids, 60)
        wall = time.time() - t0
    _check_exactly_once(store, ids, tmp_path)
    runs = [len((tmp_path / f"job{i:03d}" / "runs.txt").read_text().splitlines()) for i in range(200)]
    assert runs == [1] * 200   # none lost, none run twice
    lat = sorted(store.events(i)[-1]["at"] - store.get_job(i).created for i in ids)
    workers = {store.get_job(i).worker.split(":")[1] for i in ids}
    assert len(workers) == 2
    print(f"\nload: 200 jobs (2 x 5 ms) by 2 worker processes in {wall:.2f} s = {200 / wall:.0f} jobs/s; "
          f"latency submit->succeeded p50 {lat[100] * 1000:.0f} ms, p95 {lat[189] * 1000:.0f} ms")
    store.close()


def test_worker_killed_mid_job(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'jobs.db'}")
    victim = random.randrange(200)
    special = {victim: {"steps": 30, "sleep": 0.1}}   # about 3 s, so it is surely mid-way when killed
    with LocalWorkers(store, n=2, lease_s=1.5, poll_s=0.05, run=fake_job) as pool:
        _warm(store, tmp_path)
        t0 = time.time()
        ids = _submit(store, tmp_path, 200, request={"steps": 2, "sleep": 0.005}, special=special)
        deadline = time.monotonic() + 30
        while (j := store.get_job(ids[victim])).status != "running" or j.progress < 0.1:
            assert time.monotonic() < deadline, "the slow job never started"
            time.sleep(0.02)
        pid = int(j.worker.split(":")[1])
        os.kill(pid, signal.SIGKILL)
        _wait(store, ids, 60)
        wall = time.time() - t0
        restarts = pool.restarts
    _check_exactly_once(store, ids, tmp_path)
    killed = store.get_job(ids[victim])
    assert killed.attempts == 2 and int(killed.worker.split(":")[1]) != pid
    runs = (tmp_path / f"job{victim:03d}" / "runs.txt").read_text().split()
    assert runs[0::2][0] == str(pid) and runs[1::2] == ["1", "2"]
    others = [store.get_job(i).attempts for k, i in enumerate(ids) if k != victim]
    assert others == [1] * 199
    assert [e["status"] for e in store.events(ids[victim])] == ["queued", "running", "running", "succeeded"]
    assert restarts == 1
    print(f"\nfault: job {victim} worker {pid} SIGKILLed mid-job; 200 jobs done in {wall:.2f} s, the victim on attempt 2")
    store.close()


# --- one pool for the behaviours below --------------------------------------------------------

class _Hooks(BaseHTTPRequestHandler):
    received: list = []
    answers: list = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        code = type(self).answers.pop(0) if type(self).answers else 204
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def hook_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hook", handler=_Hooks)
    server.shutdown()


SECRET = b"s3cret-for-tests"
LOOPBACK = ["127.0.0.0/8"]     # the test receiver is on loopback, which webhooks may not reach unless allowed


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pool")
    store = open_store(f"sqlite:///{tmp / 'jobs.db'}")
    workers = LocalWorkers(store, n=2, lease_s=1.5, poll_s=0.05, run=fake_job,
                           webhook=WebhookConfig(SECRET, ("127.0.0.1",), ("127.0.0.0/8",), attempts=3, backoff_s=0.05,
                                                 timeout_s=2)).start()
    yield SimpleNamespace(store=store, tmp=tmp, workers=workers)
    assert workers.stop(10)
    store.close()


def _job(pool, name: str, request: dict, **kw) -> str:
    wd = pool.tmp / name
    wd.mkdir()
    return pool.store.create_job(key_id="k1", kind="render", request=request, workdir=str(wd), **kw)[0].id


def test_cancel_stops_a_running_job(pool):
    job_id = _job(pool, "long", {"steps": 1000, "sleep": 0.01})   # about 10 s if left alone
    deadline = time.monotonic() + 20
    while pool.store.get_job(job_id).status != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(1.0)   # past the first heartbeat, which records progress
    t0 = time.monotonic()
    assert pool.store.cancel_job(job_id).cancel_requested
    _wait(pool.store, [job_id], 5)
    stopped_after = time.monotonic() - t0
    job = pool.store.get_job(job_id)
    assert job.status == "cancelled" and job.error is None and 0 < job.progress < 0.5
    assert stopped_after < 1.5   # heartbeat every lease/3 = 0.5 s
    assert not (pool.tmp / "long" / "artifacts").exists()
    assert [e["status"] for e in pool.store.events(job_id)][-2:] == ["cancel_requested", "cancelled"]


def test_user_errors_fail_at_once_and_crashes_retry(pool):
    bad = _job(pool, "bad", {"fail": "user"})
    flaky = _job(pool, "flaky", {"fail": "flaky"})
    _wait(pool.store, [bad, flaky], 20)
    b, f = pool.store.get_job(bad), pool.store.get_job(flaky)
    assert (b.status, b.attempts, b.error) == ("failed", 1, "request.script: no scenes")
    assert (f.status, f.attempts, f.artifacts) == ("succeeded", 2, ["artifacts/out.txt"])
    # The client learns an internal error happened, not what it said (that goes to the service's log).
    detail = pool.store.events(flaky)[2]["detail"]
    assert "internal error (RuntimeError)" in detail and "transient trouble" not in detail


def test_webhook_delivered_with_valid_signature(pool, hook_server):
    hook_server.handler.received.clear()
    hook_server.handler.answers[:] = [503]   # the first try fails; the worker retries
    job_id = _job(pool, "hooked", {}, webhook_url=hook_server.url)
    _wait(pool.store, [job_id], 20)
    deadline = time.monotonic() + 10
    while len(hook_server.handler.received) < 2:
        assert time.monotonic() < deadline, "webhook not delivered"
        time.sleep(0.05)
    headers, body = hook_server.handler.received[-1]
    assert verify(SECRET, body, headers[HEADER])
    assert not verify(b"wrong", body, headers[HEADER])
    payload = json.loads(body)
    assert payload["event"] == "job.succeeded"
    assert payload["job"]["id"] == job_id and payload["job"]["artifacts"] == ["artifacts/out.txt"]
    assert SECRET.decode() not in json.dumps(headers) + body.decode()


# --- webhooks as a library --------------------------------------------------------------------

def test_sign_and_verify():
    body = b'{"a":1}'
    header = sign(b"key", body, 1_700_000_000)
    assert header == "t=1700000000,v1=" + __import__("hmac").new(b"key", b"1700000000." + body, "sha256").hexdigest()
    assert verify(b"key", body, header, now=1_700_000_100)
    assert not verify(b"key", body + b" ", header, now=1_700_000_100)             # tampered
    assert not verify(b"key", body, header, now=1_700_000_000 + 301)              # stale
    assert not verify(b"key", body, "garbage", now=1_700_000_000)


def test_urls_are_checked():
    assert check_url("https://hooks.example.com/x", ["hooks.example.com"])
    for url, why in [("ftp://hooks.example.com/x", "http and https"), ("http://evil.example/x", "not in"),
                     ("http://127.0.0.1/x", "not in"), ("http://u:p@hooks.example.com/", "credentials")]:
        with pytest.raises(WebhookError, match=why):
            check_url(url, ["hooks.example.com"])
    with pytest.raises(WebhookError):
        deliver("http://127.0.0.1:9/x", {}, b"k")   # nothing allowed by default


def test_deliver_gives_up_on_4xx_and_after_attempts(hook_server):
    waits = []
    hook_server.handler.answers[:] = [400]
    assert deliver(hook_server.url, {"x": 1}, b"k", attempts=3, backoff=0.5, allowed_hosts=["127.0.0.1"],
                   networks=LOOPBACK, sleep=waits.append) is False
    assert waits == []
    hook_server.handler.answers[:] = [500, 500, 500]
    assert deliver(hook_server.url, {"x": 1}, b"k", attempts=3, backoff=0.5, allowed_hosts=["127.0.0.1"],
                   networks=LOOPBACK, sleep=waits.append) is False
    assert waits == [0.5, 1.0]
    # Nothing listens on port 9: connection errors are retried, then reported as a failure.
    assert deliver("http://127.0.0.1:9/x", {}, b"k", attempts=2, backoff=0.1, allowed_hosts=["127.0.0.1"],
                   networks=LOOPBACK, sleep=waits.append) is False


# --- what a real job does (the course API stubbed: a real render is minutes) -------------------

def _fake_results(renders: Path, langs: list[str]) -> dict:
    out = {}
    for lang in langs:
        paths = [renders / f"c.{lang}.{ext}" for ext in ("mp4", "vtt", "srt")]
        for p in paths:
            p.write_bytes(f"{lang} {p.suffix}".encode())
        out[lang] = SimpleNamespace(video=paths[0], vtt=paths[1], srt=paths[2])
    return out


def test_run_job_renders_packages_and_reports(tmp_path, monkeypatch):
    from avatarkit.pipeline import course
    from avatarkit.pipeline.core import ProgressEvent
    from avatarkit.pipeline.course import CourseProgress

    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "c.yaml").write_text("x")
    calls = {}

    def render_course(script, renders, *, languages, resolution, captions, brand, progress, executor, ray_address,
                      cache):
        calls["render"] = (script, renders, languages, resolution, captions, brand)
        calls["executor"] = (executor, ray_address)
        calls["cache"] = cache
        for k, lang in enumerate(["en", "de"]):
            if lang == "en":   # finished by an earlier attempt
                progress(CourseProgress(lang, k, 2, reused=True))
                continue
            for d in (1, 2):
                progress(CourseProgress(lang, k, 2, ProgressEvent(d, 2, d * 1.0)))
        return _fake_results(Path(renders), ["en", "de"])

    def export_course(script, out, *, format, languages, renders, brand, resolution, captions, cache):
        assert cache == calls["cache"]
        Path(out).write_bytes(b"PK" + format.encode())
        return Path(out)

    monkeypatch.setattr(course, "render_course", render_course)
    monkeypatch.setattr(course, "export_course", export_course)
    seen = []
    job = SimpleNamespace(id="j1", key_id="k1", workdir=str(tmp_path), request={"script": "input/c.yaml",
                                                                                 "languages": ["en", "de"],
                                                                      "formats": ["mp4", "scorm2004", "html"],
                                                                      "resolution": [640, 360], "captions": True})
    arts = run_job(job, lambda p: seen.append(p) or True)
    assert arts == ["artifacts/c.en.mp4", "artifacts/c.en.vtt", "artifacts/c.en.srt", "artifacts/c.de.mp4",
                    "artifacts/c.de.vtt", "artifacts/c.de.srt", "artifacts/c.scorm2004.zip", "artifacts/c.html.zip"]
    assert (tmp_path / "artifacts" / "c.de.vtt").read_bytes() == b"de .vtt"
    assert (tmp_path / "artifacts" / "c.html.zip").read_bytes() == b"PKhtml"
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == sorted(Path(a).name for a in arts)   # no partials
    assert calls["render"][1:] == (tmp_path / "renders", ["en", "de"], (640, 360), True, None)
    assert calls["executor"] == ("local", None)         # the default backend renders in the worker itself
    assert calls["cache"] is False                      # no data folder: no render cache (never the server's home)
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert pytest.approx(seen[1:6]) == [0.45, 0.675, 0.9, 0.9, 0.95]   # en reused: half the render share at once

    # With the service's data folder, the key's own render cache, private to the service.
    run_job(job, lambda p: True, data_dir=tmp_path / "data")
    assert calls["cache"] == tmp_path / "data" / "tenants" / "k1" / "cache" / "renders"
    assert oct(calls["cache"].stat().st_mode & 0o777) == "0o700"

    # A report that says stop ends the job at the next tick.
    with pytest.raises(JobStopped):
        run_job(job, lambda p: p < 0.5)


def test_requests_are_checked(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "c.yaml").write_text("x")
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "c.en.json").write_text("{}")
    c = "input/c.yaml"
    assert parse_request({"script": c}, tmp_path).formats == ("mp4",)
    for req, field in [({}, "request.script"), ({"script": "../c.yaml"}, "outside"), ({"script": "c.yaml"}, "outside"),
                       ({"script": "renders/c.en.json"}, "outside"), ({"script": "input/nope.yaml"}, "uploaded"),
                       ({"script": c, "formats": ["avi"]}, "request.formats"),
                       ({"script": c, "resolution": [640]}, "request.resolution"),
                       ({"script": c, "languages": "de"}, "request.languages"),
                       ({"script": c, "captions": "yes"}, "request.captions"),
                       ({"script": c, "brand": "input/b.yaml"}, "request.brand"),
                       ({"script": c, "colour": 1}, "unknown field")]:
        with pytest.raises(JobRequestError, match=field):
            parse_request(req, tmp_path)
    assert issubclass(JobRequestError, AvatarkitError) and jobs_mod.RENDER_SHARE == 0.9
