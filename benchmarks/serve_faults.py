"""Fault benchmark of the render service: many small real jobs while workers, the service and the database are killed.

    python benchmarks/serve_faults.py                              # 1000 jobs, 5 keys, 2 workers, PostgreSQL
    python benchmarks/serve_faults.py --jobs 200 --db sqlite       # quicker, SQLite (no database restart)
    python benchmarks/serve_faults.py --jobs 100 --kills 3 --rate 2 --avatar presenter

Not a test: a command that runs for a while (about 17 minutes with the
defaults on a 2-vCPU VM) and reports what happened. It starts the service
as a user would: keys made with `avatarkit serve keys create`, the service
with `avatarkit serve --db ... --data-dir ... --workers W --port P --config
cfg.yaml` in a subprocess, with `AVATARKIT_HOME` in a temporary folder.
With `--db postgres` it first starts a throwaway PostgreSQL cluster of its
own (Debian's `postgresql` package: initdb into a temporary folder, a Unix
socket there; as root the server runs as the `postgres` user).

Each job is a one-sentence script ("Job 17 is ready.", Piper voice
en-us-joe, 320x180) with the avatar photo uploaded as an asset (or, with
`--avatar presenter`, the photo that ships with avatarkit), submitted over
HTTP with `avatarkit.serve.client.Client` at `--rate` jobs per second,
round-robin over `--keys` keys, each with an Idempotency-Key and a webhook
to a receiver on 127.0.0.1. A submission the service cannot answer
(restarting, database down) is retried with the same Idempotency-Key.

Faults, spread over the submission window: `--kills` SIGKILLs of a worker
process (a child of the service, found in /proc; one busy with a job is
preferred, so the kill lands mid-render and the job's lease must expire
before another worker takes it again), one service restart (SIGTERM, which
drains the workers, then the same command again) at `--restart-at` of the
window, and, with PostgreSQL, a database restart (fast stop, `--pg-down`
seconds down, start) at `--pg-restart-at`.

Reported (units in the names; times are seconds, from the store's clock,
which is this machine's):
  lost            accepted jobs missing from the store or never terminal, plus submissions never accepted (goal 0)
  finished_twice  jobs with more than one `succeeded` event, or more than one webhook delivery (goal 0)
  decoded         succeeded jobs whose MP4 opens with PyAV with a video and an audio stream, every frame decoded
  queue_wait_s    from the job's creation (submit accepted) to its first claim by a worker: p50, p95, max
  submit_to_claim_s  the same from the client's first try (includes time the service could not be reached)
  worker restarts (from the service log), attempts per job, wall time, jobs per minute.
Results go to benchmarks/results/serve_faults_<db>.json and the service's log
to benchmarks/results/serve_faults_<db>.log.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import platform
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from floor import cpu_name, save_results  # noqa: E402

AVATAR_PNG = ROOT / "samples" / "avatar.png"
SCRIPT = """avatarkit: 1
title: Fault job {i}
language: en
defaults:
  avatar: {avatar}
  voice: {voice}
  background: studio
scenes:
  - segments: ["Job {i} is ready."]
"""
TERMINAL = ("succeeded", "failed", "cancelled")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles(values: list[float]) -> dict:
    """p50, p95 and max of `values` (seconds), rounded to 10 ms; empty dict for no values."""
    if not values:
        return {}
    v = sorted(values)
    return {"p50": round(statistics.median(v), 2), "p95": round(v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))], 2),
            "max": round(v[-1], 2), "n": len(v)}


# ---- PostgreSQL ---------------------------------------------------------------------------------------

class Postgres:
    """A throwaway PostgreSQL cluster in `folder`, listening only on a Unix socket there; run as `postgres` when root."""

    def __init__(self, folder: Path):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise SystemExit("no PostgreSQL: apt-get install -y postgresql (or run with --db sqlite)")
        self.bindir = Path(bins[-1]).parent
        self.folder = folder
        self.data, self.sock = folder / "data", folder / "sock"
        self.sock.mkdir(parents=True)
        self.as_user: list[str] = []
        if os.geteuid() == 0:   # initdb and postgres refuse to run as root
            pw = pwd.getpwnam("postgres")
            for d in (folder, self.sock):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.url = f"postgresql://postgres@/postgres?host={self.sock}&port={self.port}"
        self.restarts: list[dict] = []

    def _ctl(self, *args: str) -> None:
        subprocess.run(self.as_user + [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
                       check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        """Create the cluster on first use, then start it and wait until it accepts connections."""
        if not self.data.exists():
            subprocess.run(self.as_user + [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                                           "--auth=trust", "-E", "UTF8"], check=True, capture_output=True, timeout=120)
        self._ctl("-w", "-l", str(self.folder / "log"), "-o",
                  f"-p {self.port} -k {self.sock} -c listen_addresses='' -c max_connections=200", "start")

    def restart(self, down_s: float) -> dict:
        """Fast stop (every session is cut, open transactions rolled back), `down_s` seconds down, start again."""
        t0 = time.time()
        self._ctl("-w", "-m", "fast", "stop")
        t1 = time.time()
        time.sleep(down_s)
        self.start()
        row = {"stop_at": round(t0, 3), "down_s": round(time.time() - t1, 2)}
        self.restarts.append(row)
        return row

    def stop(self) -> None:
        subprocess.run(self.as_user + [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)


# ---- webhook receiver -----------------------------------------------------------------------------------

class Hooks:
    """A webhook receiver on 127.0.0.1 that records every delivery: job id, status, delivery id, signature check."""

    def __init__(self, secret: bytes):
        from avatarkit.serve.webhooks import HEADER, verify

        self.deliveries: list[dict] = []
        lock = threading.Lock()
        record = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    job = json.loads(body)["job"]
                except (ValueError, KeyError):
                    job = {}
                row = {"at": time.time(), "path": self.path, "job": job.get("id"), "status": job.get("status"),
                       "delivery": self.headers.get("Avatarkit-Delivery"),
                       "signed": verify(secret, body, self.headers.get(HEADER, ""))}
                with lock:
                    record.append(row)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


# ---- the service ------------------------------------------------------------------------------------------

class Service:
    """`avatarkit serve` run as a subprocess, the way a user starts it; its log appends to `log_path` across restarts."""

    def __init__(self, tmp: Path, db_url: str, workers: int, webhook_secret: str, log_path: Path):
        self.exe = str(Path(sys.executable).with_name("avatarkit"))
        self.tmp = tmp
        self.db_url = db_url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "AVATARKIT_HOME": str(tmp / "home")}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.notes: list[str] = []
        self.config = tmp / "cfg.yaml"
        self.seen_workers: set[int] = set()
        self.restarts: list[dict] = []
        settings = {"allowed_webhook_hosts": ["127.0.0.1"], "webhook_networks": ["127.0.0.0/8"],
                    "webhook_secret": webhook_secret}
        self._write_config(settings)
        # An older service refuses `webhook_networks` (it then allows 127.0.0.1 by host name alone).
        check = self._cli("keys", "list")
        if check.returncode != 0 and "webhook_networks" in check.stderr + check.stdout:
            del settings["webhook_networks"]
            self._write_config(settings)
            self.notes.append("this service's config has no webhook_networks field; written without it")

    def _write_config(self, settings: dict) -> None:
        import yaml

        self.config.write_text(yaml.safe_dump(settings), encoding="utf-8")

    def _cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.exe, "serve", "--config", str(self.config), "--db", self.db_url, *args],
                              env=self.env, capture_output=True, text=True, timeout=300)

    def create_key(self, name: str) -> tuple[str, str]:
        """`avatarkit serve keys create NAME` with render scopes and limits high enough not to throttle; (key id, secret)."""
        r = self._cli("keys", "create", name, "--scope", "renders:create", "--scope", "renders:read",
                      "--scope", "renders:cancel", "--rate", "1000", "--burst", "1000", "--max-concurrent", "100000")
        secret = [ln.strip() for ln in r.stdout.splitlines() if ln.strip().startswith("ak_")]
        key_id = re.search(r"key_[0-9a-f]{32}", r.stdout + r.stderr)
        if r.returncode != 0 or not secret or not key_id:
            raise SystemExit(f"keys create failed ({r.returncode}): {r.stderr[-1000:]}")
        return key_id.group(0), secret[-1]

    def start(self, timeout_s: float = 180.0) -> float:
        """Start the service and wait until /v1/health answers; return the seconds that took."""
        import httpx

        t0 = time.time()
        with open(self.log_path, "a") as f:
            f.write(f"\n===== benchmark: starting the service at {time.strftime('%H:%M:%S')} =====\n")
        log_file = open(self.log_path, "a")   # noqa: SIM115 - stays open as the child's stdout and stderr
        self.proc = subprocess.Popen(
            [self.exe, "serve", "--db", self.db_url, "--data-dir", str(self.tmp / "data"), "--workers", str(self.workers),
             "--port", str(self.port), "--config", str(self.config)],
            env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        log_file.close()
        while time.time() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise SystemExit(f"the service exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=2).status_code == 200:
                    return time.time() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"the service did not answer within {timeout_s:.0f} s; see {self.log_path}")

    def stop(self, timeout_s: float = 120.0) -> None:
        """SIGTERM (the service drains its workers), SIGKILL after `timeout_s` seconds; then no worker it started is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        workers = self.worker_pids()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log("the service did not stop on SIGTERM; killing it")
            self.proc.kill()
            self.proc.wait(30)
        for pid in workers:   # a worker orphaned by a killed service would go on claiming jobs
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def restart(self) -> dict:
        """Stop and start again; return the seconds the API could not be reached."""
        t0 = time.time()
        self.stop()
        stopped = time.time()
        self.start()
        row = {"at": round(t0, 3), "stop_s": round(stopped - t0, 2), "unreachable_s": round(time.time() - t0, 2)}
        self.restarts.append(row)
        return row

    def worker_pids(self) -> list[int]:
        """The service's worker processes: its children started by multiprocessing's spawn (not its resource tracker)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        found = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) != self.proc.pid or fields[0] in "ZX":   # not a dead one the watcher has yet to reap
                    continue
                pid = int(stat.split("/")[2])
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(pid)
            except (OSError, IndexError, ValueError):
                continue
        self.seen_workers.update(found)
        return found


# ---- submitting -------------------------------------------------------------------------------------------

def submit_all(base: str, keys: list[tuple[str, str]], jobs: int, rate: float, hook_url: str, avatar: str,
               voice: str, t0: float, stop: threading.Event, threads: int = 16, give_up_s: float = 600.0) -> list[dict]:
    """Submit `jobs` jobs at `rate` per second from `t0` (UNIX s), round-robin over `keys`; retry what is not answered.

    Returns one row per job: index, key id, job id (None if never
    accepted), first try and acceptance times (UNIX s), tries, errors seen.
    """
    from avatarkit.serve.client import Client, ServiceError

    clients = [Client(base, secret, timeout=60) for _, secret in keys]
    rows: list[dict] = [{} for _ in range(jobs)]

    def one(i: int) -> None:
        key_id, _ = keys[i % len(keys)]
        due = t0 + i / rate if rate > 0 else t0
        time.sleep(max(0.0, due - time.time()))
        row = rows[i] = {"i": i, "key": key_id, "id": None, "first_try": time.time(), "accepted": None, "tries": 0,
                         "errors": []}
        script = SCRIPT.format(i=i, avatar=avatar, voice=voice)
        assets = [AVATAR_PNG] if avatar == "avatar.png" else []
        pause = 0.5
        while not stop.is_set():
            row["tries"] += 1
            try:
                job = clients[i % len(clients)].submit(script, assets=assets, formats=["mp4"], resolution=(320, 180),
                                                       idempotency_key=f"fault-{i}", webhook_url=f"{hook_url}/{i}")
                row["id"], row["accepted"] = job["id"], time.time()
                return
            except ServiceError as e:
                row["errors"].append(f"{e.status}: {str(e)[:160]}")
                retry = e.status == 0 or e.status == 429 or e.status >= 500
                if not retry or time.time() - row["first_try"] > give_up_s:
                    return
            time.sleep(pause)
            pause = min(pause * 2, 4.0)

    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, range(jobs)))
    for c in clients:
        c.close()
    return rows


# ---- faults -----------------------------------------------------------------------------------------------

def kill_a_worker(service: Service, store, rng: random.Random, wait_busy_s: float = 5.0) -> dict:
    """SIGKILL one worker process, preferring one that holds a running job (waits up to `wait_busy_s` s for one)."""
    deadline = time.time() + wait_busy_s
    while True:
        pids = service.worker_pids()
        busy: dict[int, str] = {}
        try:
            for job in store.list_jobs(key_id=None, status="running", limit=100)[0]:
                parts = (job.worker or "").split(":")
                if len(parts) >= 2 and parts[1].isdigit():
                    busy[int(parts[1])] = job.id
        except Exception as e:  # noqa: BLE001 - the database may be restarting; a kill needs no job
            log(f"could not list running jobs: {e}")
        live_busy = [p for p in pids if p in busy]
        if live_busy or (pids and time.time() > deadline):
            pid = rng.choice(live_busy or pids)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            return {"at": round(time.time(), 3), "pid": pid, "job": busy.get(pid)}
        if time.time() > deadline + 30:
            return {"at": round(time.time(), 3), "pid": None, "job": None}
        time.sleep(0.05)


def run_faults(plan: list[tuple[float, str]], service: Service, pg: Postgres | None, store, pg_down_s: float,
               rng: random.Random, stop: threading.Event, record: dict) -> None:
    """Carry out `plan` ([(UNIX s, "kill" | "service" | "postgres")], in time order), appending what happened to `record`."""
    for at, what in plan:
        while time.time() < at and not stop.is_set():
            time.sleep(0.1)
        if stop.is_set():
            return
        if what == "kill":
            row = kill_a_worker(service, store, rng)
            record["kills"].append(row)
            log(f"SIGKILL worker {row['pid']}" + (f" (running job {row['job'][:8]})" if row["job"] else " (idle)"))
        elif what == "service":
            log("restarting the service")
            row = service.restart()
            record["service_restarts"].append(row)
            log(f"service back after {row['unreachable_s']} s")
        elif what == "postgres" and pg is not None:
            log(f"restarting PostgreSQL ({pg_down_s:g} s down)")
            row = pg.restart(pg_down_s)
            record["postgres_restarts"].append(row)
            log("PostgreSQL back")


def fault_plan(window_s: float, t0: float, kills: int, restart_at: float, pg_restart_at: float | None,
               rng: random.Random) -> list[tuple[float, str]]:
    """Kills at random times in 5..95 % of the submission window (`window_s` s from `t0`), and the two restarts."""
    plan = [(t0 + window_s * rng.uniform(0.05, 0.95), "kill") for _ in range(kills)]
    if restart_at >= 0:
        plan.append((t0 + window_s * restart_at, "service"))
    if pg_restart_at is not None and pg_restart_at >= 0:
        plan.append((t0 + window_s * pg_restart_at, "postgres"))
    return sorted(plan)


# ---- checking ---------------------------------------------------------------------------------------------

def check_mp4(path: Path, size: tuple[int, int]) -> dict:
    """Open an MP4 with PyAV and decode every frame; {"ok", "video_frames", "audio_s", "error"}."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video or not c.streams.audio:
                return {"ok": False, "error": f"streams: {[s.type for s in c.streams]}"}
            v, a = c.streams.video[0], c.streams.audio[0]
            frames, samples, rate = 0, 0, a.codec_context.sample_rate or 1
            for frame in c.decode(v, a):
                if isinstance(frame, av.VideoFrame):
                    frames += 1
                    if (frame.width, frame.height) != size:
                        return {"ok": False, "error": f"frame size {frame.width}x{frame.height}"}
                else:
                    samples += frame.samples
        ok = frames > 0 and samples > 0
        return {"ok": ok, "video_frames": frames, "audio_s": samples / rate, "error": None if ok else "no frames or no audio"}
    except Exception as e:  # noqa: BLE001 - any failure to read is what this check reports
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def analyse(submitted: list[dict], store, hooks: Hooks, service_log: str, sample_downloads: dict, kills: list[dict]) -> dict:
    """Every accepted job's final state, events, webhooks and MP4; the figures of the report.

    `kills` are the worker kills made: for each that hit a job, the seconds
    until another worker claimed that job again (the lease running out).
    """
    accepted = [r for r in submitted if r.get("id")]
    never_accepted = [r for r in submitted if not r.get("id")]
    by_job = collections.defaultdict(list)
    for d in hooks.deliveries:
        by_job[d["job"]].append(d)
    statuses: collections.Counter = collections.Counter()
    attempts: collections.Counter = collections.Counter()
    missing, non_terminal, twice_events, twice_hooks, no_hook, bad_outputs, no_artifacts = [], [], [], [], [], [], []
    failed: list[dict] = []
    queue_wait, submit_to_claim, latency = [], [], []
    timeline = []   # per job: index, id, created, first claim and success (s after the first job's creation), attempts
    decoded, frames, audio_s = 0, 0, 0.0
    ids = collections.Counter(r["id"] for r in accepted)
    shared_ids = [i for i, n in ids.items() if n > 1]   # two submissions answered with one job: a wrong idempotency match
    for r in accepted:
        job = store.get_job(r["id"])
        if job is None:
            missing.append(r["id"])
            continue
        statuses[job.status] += 1
        attempts[job.attempts] += 1
        events = store.events(job.id)
        claims = [e["at"] for e in events if e["status"] == "running"]
        if claims:
            queue_wait.append(claims[0] - job.created)
            submit_to_claim.append(claims[0] - r["first_try"])
        done = [e for e in events if e["status"] == "succeeded"]
        timeline.append([r["i"], job.id, job.created, claims[0] if claims else None, done[-1]["at"] if done else None,
                         job.attempts, job.status])
        if len(done) > 1:
            twice_events.append(job.id)
        hooks_for = {d["delivery"] for d in by_job.get(job.id, [])}
        if len(hooks_for) > 1:
            twice_hooks.append(job.id)
        if job.status not in TERMINAL:
            non_terminal.append({"id": job.id, "status": job.status, "attempts": job.attempts})
            continue
        if not hooks_for:
            no_hook.append(job.id)
        if job.status != "succeeded":
            failed.append({"id": job.id, "status": job.status, "error": job.error, "attempts": job.attempts,
                           "events": [(e["status"], e["detail"][:120]) for e in events]})
            continue
        latency.append(done[-1]["at"] - job.created if done else float("nan"))
        mp4s = [a for a in job.artifacts if a.endswith(".mp4")]
        if not mp4s or not all((Path(job.workdir) / a).is_file() for a in job.artifacts):
            no_artifacts.append({"id": job.id, "artifacts": job.artifacts})
            continue
        res = check_mp4(Path(job.workdir) / mp4s[0], (320, 180))
        if res["ok"]:
            decoded += 1
            frames += res["video_frames"]
            audio_s += res["audio_s"]
        else:
            bad_outputs.append({"id": job.id, "error": res["error"]})
    succeeded = statuses["succeeded"]
    reclaim = []
    for k in kills:
        if k.get("job"):
            again = [e["at"] for e in store.events(k["job"]) if e["status"] == "running" and e["at"] > k["at"]]
            if again:
                reclaim.append(again[0] - k["at"])
    restarts_logged = len(re.findall(r"worker \d+ \(pid \d+\) died", service_log))
    return {
        "submitted": len(submitted), "accepted": len(accepted),
        "lost": len(never_accepted) + len(missing) + len(non_terminal),
        "lost_detail": {"never_accepted": [{"i": r["i"], "errors": r["errors"][-3:]} for r in never_accepted],
                        "missing_from_store": missing, "not_terminal": non_terminal},
        "statuses": dict(statuses), "failed": failed,
        "finished_twice": len(set(twice_events) | set(twice_hooks)),
        "finished_twice_detail": {"succeeded_events": twice_events, "webhook_deliveries": twice_hooks},
        "shared_job_ids": shared_ids,
        "webhooks": {"posts": len(hooks.deliveries), "jobs_without": len(no_hook), "bad_signature":
                     sum(not d["signed"] for d in hooks.deliveries), "without_example": no_hook[:5]},
        "decoded_with_audio": decoded, "succeeded": succeeded, "outputs_bad": bad_outputs,
        "succeeded_without_artifacts": no_artifacts,
        "video_frames": frames, "audio_s": round(audio_s, 1),
        "queue_wait_s": percentiles(queue_wait), "submit_to_claim_s": percentiles(submit_to_claim),
        "submit_to_succeeded_s": percentiles(latency),
        "killed_job_claimed_again_after_s": percentiles(reclaim),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "submit_tries": dict(collections.Counter(r["tries"] for r in submitted)),
        "submit_errors": sum(len(r["errors"]) for r in submitted),
        "worker_restarts_logged": restarts_logged,
        "service_log": {"tracebacks": service_log.count("Traceback"),
                        "http_500": len(re.findall(r'" 500\b', service_log)),
                        "store_reconnects": service_log.count("PostgreSQL connection lost"),
                        "commit_resolved": service_log.count("during a COMMIT that went through")},
        "downloads": sample_downloads,
        "timeline_columns": ["i", "id", "created_s", "first_claim_s", "succeeded_s", "attempts", "status"],
        "timeline": _relative(timeline),
    }


def _relative(timeline: list[list]) -> list[list]:
    """The timeline with its times (UNIX s) as seconds after the first job's creation, rounded to 10 ms."""
    if not timeline:
        return []
    t0 = min(row[2] for row in timeline)
    return [[i, jid] + [None if t is None else round(t - t0, 2) for t in (c, cl, d)] + rest
            for i, jid, c, cl, d, *rest in sorted(timeline)]


def download_sample(base: str, keys: list[tuple[str, str]], submitted: list[dict], store, n: int, tmp: Path,
                    rng: random.Random) -> dict:
    """Download `n` random succeeded jobs' MP4s through the API and compare them with the files on disk."""
    import hashlib

    from avatarkit.serve.client import Client

    secrets_by_key = dict(keys)
    rows = [r for r in submitted if r.get("id")]
    ok, bad = 0, []
    for r in rng.sample(rows, min(n, len(rows))):
        job = store.get_job(r["id"])
        if job is None or job.status != "succeeded":
            continue
        name = next((a for a in job.artifacts if a.endswith(".mp4")), None)
        if name is None:
            continue
        with Client(base, secrets_by_key[r["key"]]) as c:
            try:
                got = c.download(job.id, name, tmp / "download.mp4")
            except Exception as e:  # noqa: BLE001
                bad.append({"id": job.id, "error": str(e)[:200]})
                continue
        same = hashlib.sha256(got.read_bytes()).digest() == hashlib.sha256((Path(job.workdir) / name).read_bytes()).digest()
        ok += same
        if not same:
            bad.append({"id": job.id, "error": "downloaded bytes differ from the file on disk"})
    return {"checked": ok + len(bad), "same": ok, "bad": bad}


# ---- the run ----------------------------------------------------------------------------------------------

def run(args: argparse.Namespace, tmp: Path) -> dict:
    """One whole benchmark in `tmp`; returns the results."""
    from avatarkit.serve.store import open_store

    rng = random.Random(args.seed)
    results_dir = ROOT / "benchmarks" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    log_path = results_dir / f"serve_faults_{args.db}.log"
    log_path.write_text("")
    pg = None
    if args.db == "postgres":
        pg = Postgres(tmp / "pg")
        pg.start()
        db_url = pg.url
        log(f"PostgreSQL {pg.bindir.parent.name} on {pg.sock} port {pg.port}")
    else:
        db_url = f"sqlite:///{tmp / 'jobs.db'}"
    secret = secrets.token_hex(16)
    hooks = Hooks(secret.encode())
    service = Service(tmp, db_url, args.workers, secret, log_path)
    keys = [service.create_key(f"fault-{k}") for k in range(args.keys)]
    started_s = service.start()
    log(f"service on {service.base} ({args.workers} workers) answered after {started_s:.1f} s; {len(keys)} keys")
    store = open_store(db_url)   # the benchmark's own view of the jobs, read-only
    window_s = args.jobs / args.rate if args.rate > 0 else 60.0
    t0 = time.time() + 1.0
    plan = fault_plan(window_s, t0, args.kills, args.restart_at, args.pg_restart_at if pg else None, rng)
    record: dict = {"kills": [], "service_restarts": [], "postgres_restarts": []}
    stop = threading.Event()
    faults = threading.Thread(target=run_faults, args=(plan, service, pg, store, args.pg_down, rng, stop, record),
                              daemon=True)
    faults.start()
    submitted: list[dict] = []
    submitter = threading.Thread(target=lambda: submitted.extend(
        submit_all(service.base, keys, args.jobs, args.rate, hooks.url, args.avatar_name, args.voice, t0, stop)), daemon=True)
    submitter.start()
    log(f"submitting {args.jobs} jobs at {args.rate:g}/s over {window_s:.0f} s; faults: "
        f"{', '.join(f'{w} at +{a - t0:.0f}s' for a, w in plan)}")

    def counts() -> collections.Counter:
        c: collections.Counter = collections.Counter()
        for status in ("queued", "running"):
            cursor = None
            while True:
                page, cursor = store.list_jobs(key_id=None, status=status, limit=1000, cursor=cursor)
                c[status] += len(page)
                if not cursor:
                    break
        return c

    last_print = 0.0
    deadline = None
    load: list[float] = []   # the 1-minute load average, each second: anything else on the machine shows here
    while True:
        time.sleep(1.0)
        load.append(os.getloadavg()[0])
        service.worker_pids()   # remember every worker process seen
        if not submitter.is_alive() and deadline is None:
            deadline = time.time() + args.drain_min * 60
        try:
            c = counts()
        except Exception as e:  # noqa: BLE001 - the database may be restarting
            log(f"could not count jobs: {e}")
            continue
        if time.time() - last_print > 30:
            log(f"+{time.time() - t0:.0f}s queued {c['queued']} running {c['running']}, kills {len(record['kills'])}, "
                f"worker pids seen {len(service.seen_workers)}")
            last_print = time.time()
        if deadline is not None and not faults.is_alive() and c["queued"] + c["running"] == 0:
            break
        if deadline is not None and time.time() > deadline:
            log(f"still {c['queued']} queued and {c['running']} running after {args.drain_min} min; giving up")
            break
    wall_s = time.time() - t0
    # Webhooks go out after a job is finished: give the last ones a moment.
    accepted = sum(1 for r in submitted if r.get("id"))
    end = time.time() + 30
    while len({d["job"] for d in hooks.deliveries}) < accepted and time.time() < end:
        time.sleep(0.5)
    stop.set()
    downloads = download_sample(service.base, keys, submitted, store, 20, tmp, rng)
    service.stop()
    result = analyse(submitted, store, hooks, log_path.read_text(errors="replace"), downloads, record["kills"])
    store.close()
    hooks.close()
    if pg is not None:
        pg.stop()
    result.update({
        "db": args.db, "jobs": args.jobs, "keys": args.keys, "workers": args.workers, "rate_per_s": args.rate,
        "avatar": args.avatar, "voice": args.voice, "seed": args.seed,
        "wall_s": round(wall_s, 1), "jobs_per_min": round(result["succeeded"] / (wall_s / 60), 1),
        "kills": record["kills"], "kills_mid_job": sum(1 for k in record["kills"] if k["job"]),
        "service_restarts": record["service_restarts"], "postgres_restarts": record["postgres_restarts"],
        "worker_pids_seen": len(service.seen_workers), "notes": service.notes,
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1min": {"mean": round(statistics.fmean(load), 2) if load else None,
                                      "max": round(max(load), 2) if load else None}},
        "service_log": {**result["service_log"], "path": str(log_path.relative_to(ROOT))},
    })
    return result


def table(r: dict) -> str:
    """The report's headline figures as a small text table."""
    q, s = r["queue_wait_s"], r["submit_to_claim_s"]
    rows = [
        ("database", r["db"]),
        ("jobs submitted / accepted / succeeded", f"{r['submitted']} / {r['accepted']} / {r['succeeded']}"),
        ("jobs lost (goal 0)", r["lost"]),
        ("jobs failed", len(r["failed"])),
        ("jobs finished twice (goal 0)", r["finished_twice"]),
        ("outputs decoded with audio", f"{r['decoded_with_audio']} of {r['succeeded']}"),
        ("queue wait p50 / p95 / max (s)", f"{q.get('p50')} / {q.get('p95')} / {q.get('max')}"),
        ("first try to claim p50 / p95 / max (s)", f"{s.get('p50')} / {s.get('p95')} / {s.get('max')}"),
        ("worker kills (mid-job) / restarts logged",
         f"{len(r['kills'])} ({r['kills_mid_job']}) / {r['worker_restarts_logged']}"),
        ("service restarts / PostgreSQL restarts", f"{len(r['service_restarts'])} / {len(r['postgres_restarts'])}"),
        ("attempts per job", ", ".join(f"{k}: {v}" for k, v in r["attempts"].items())),
        ("webhooks: posts / jobs without / bad signature",
         f"{r['webhooks']['posts']} / {r['webhooks']['jobs_without']} / {r['webhooks']['bad_signature']}"),
        ("submit retries (errors seen)", r["submit_errors"]),
        ("wall time (s) / jobs per minute", f"{r['wall_s']} / {r['jobs_per_min']}"),
        ("load average mean / max (cores)", f"{r['machine']['load_avg_1min']['mean']} / {r['machine']['load_avg_1min']['max']}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000, help="render jobs to submit (default 1000)")
    ap.add_argument("--keys", type=int, default=5, help="API keys, used round-robin (default 5)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the service (default 2)")
    ap.add_argument("--db", choices=("postgres", "sqlite"), default="postgres",
                    help="job store; the PostgreSQL restart happens only with postgres (default postgres)")
    ap.add_argument("--kills", type=int, default=10, help="worker SIGKILLs spread over the run (default 10)")
    ap.add_argument("--rate", type=float, default=1.0, help="jobs submitted per second; 0: all at once (default 1)")
    ap.add_argument("--restart-at", type=float, default=0.5,
                    help="when to restart the service, as a fraction of the submission window; negative: never")
    ap.add_argument("--pg-restart-at", type=float, default=0.75,
                    help="when to restart PostgreSQL, as a fraction of the submission window; negative: never")
    ap.add_argument("--pg-down", type=float, default=5.0, help="seconds PostgreSQL stays down (default 5)")
    ap.add_argument("--avatar", choices=("upload", "presenter"), default="upload",
                    help="upload samples/avatar.png with each job (default), or name the shipped `presenter` photo")
    ap.add_argument("--voice", default="en-us-joe", help="voice of every job (default en-us-joe, Piper)")
    ap.add_argument("--drain-min", type=float, default=30.0,
                    help="minutes to wait for the queue to empty after the last submission (default 30)")
    ap.add_argument("--seed", type=int, default=24, help="random seed of the fault times (default 24)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (jobs, database) for inspection")
    args = ap.parse_args()
    args.avatar_name = "avatar.png" if args.avatar == "upload" else "presenter"
    tmp = Path(tempfile.mkdtemp(prefix="avatarkit-faults-"))
    os.chmod(tmp, 0o755)   # the PostgreSQL server (user postgres) must reach its folder inside
    try:
        result = run(args, tmp)
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    path = save_results(f"serve_faults_{args.db}.json", result)
    print()
    print(table(result))
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
