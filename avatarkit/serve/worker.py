"""Worker processes that run the store's jobs: claim, run with a heartbeat, finish or fail, tell the webhook.

Each worker is a separate process (multiprocessing "spawn", so no lock or
connection is inherited) with its own store connection. While a job runs,
a heartbeat thread renews its lease every `min(lease_s / 3, 2)` seconds
and learns of cancellation or a lost lease; the job sees that through its
`report` callback returning False and stops. A job that raises an
`AvatarkitError` (bad input) fails at once; any other exception is retried
until the store's attempt limit. A worker killed outright leaves its
lease to expire, and another worker claims the job again. `LocalWorkers`
restarts a worker process that died, and `stop` drains: workers finish the
job in hand and exit, and those still busy at the timeout are terminated
(their jobs resume elsewhere once the lease expires).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable

from ..errors import AvatarkitError
from .jobs import JobStopped, run_job
from .store import Job, JobStore, open_store
from .webhooks import WebhookConfig, WebhookError, deliver

log = logging.getLogger("avatarkit.serve.worker")

RunFn = Callable[[Job, Callable[[float], bool]], list[str]]


@dataclass(frozen=True)
class WorkerSettings:
    """What every worker process needs, picklable: the store URL, lease and poll times (seconds), the job function."""

    url: str
    lease_s: float
    poll_s: float
    run: RunFn
    webhook: WebhookConfig | None = None


def execute(store: JobStore, job: Job, worker_id: str, settings: WorkerSettings) -> str:
    """Run one claimed job to its end; return what happened ("succeeded", "failed", "retry", "cancelled", "lost")."""
    state = {"progress": float(job.progress), "ok": True, "note": ""}
    done = threading.Event()
    interval = min(settings.lease_s / 3.0, 2.0)

    def beat() -> None:
        while not done.wait(interval):
            try:
                if not store.heartbeat(job.id, worker_id, state["progress"], settings.lease_s, state["note"]):
                    state["ok"] = False
                    return
            except Exception:  # noqa: BLE001 - a database hiccup: keep trying until the lease runs out
                log.warning("heartbeat for job %s failed", job.id, exc_info=True)

    def report(progress: float, note: str = "") -> bool:
        state["progress"] = float(progress)
        state["note"] = note
        return state["ok"]

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.id[:8]}", daemon=True)
    thread.start()
    try:
        artifacts = settings.run(job, report)
        outcome = "succeeded" if store.finish_job(job.id, worker_id, list(artifacts)) else "lost"
    except JobStopped:
        current = store.get_job(job.id)
        if current is not None and current.cancel_requested and current.worker == worker_id:
            store.fail_job(job.id, worker_id, "cancelled", retry=False)
            outcome = "cancelled"
        else:
            outcome = "lost"
    except AvatarkitError as e:
        outcome = "failed" if store.fail_job(job.id, worker_id, str(e), retry=False) else "lost"
    except Exception as e:  # noqa: BLE001 - anything unexpected is worth another attempt
        log.error("job %s raised:\n%s", job.id, traceback.format_exc())
        if store.fail_job(job.id, worker_id, f"{type(e).__name__}: {e}", retry=True):
            after = store.get_job(job.id)
            outcome = "retry" if after is not None and after.status == "queued" else (after.status if after else "lost")
        else:
            outcome = "lost"
    finally:
        done.set()
        thread.join()
    if outcome in ("succeeded", "failed", "cancelled"):
        notify(store, job.id, settings.webhook)
    return outcome


def notify(store: JobStore, job_id: str, config: WebhookConfig | None) -> bool:
    """Send the job's final state to its webhook_url, if it has one and webhooks are configured."""
    if config is None:
        return False
    job = store.get_job(job_id)
    if job is None or not job.webhook_url:
        return False
    payload = {"event": f"job.{job.status}", "job": {"id": job.id, "status": job.status, "kind": job.kind,
                                                     "artifacts": job.artifacts, "error": job.error,
                                                     "attempts": job.attempts, "updated": job.updated}}
    try:
        return deliver(job.webhook_url, payload, config.secret, config.attempts, config.backoff_s,
                       allowed_hosts=config.allowed_hosts, timeout_s=config.timeout_s)
    except WebhookError as e:
        log.warning("job %s: webhook not sent: %s", job.id, e)
        return False


class StopFlag:
    """A stop signal shared with worker processes, with no lock inside.

    `multiprocessing.Event` guards its state with a lock that an idle worker
    holds while it waits; a worker killed at that moment leaves the lock
    taken, and the service's `stop()` would block forever. A shared byte,
    written only by the parent and read by the workers, cannot deadlock.
    """

    def __init__(self, ctx):
        self._flag = ctx.RawValue("b", 0)

    def set(self) -> None:
        self._flag.value = 1

    def is_set(self) -> bool:
        return bool(self._flag.value)

    def wait(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not self.is_set() and time.monotonic() < end:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        return self.is_set()


def worker_loop(settings: WorkerSettings, stop: threading.Event | StopFlag, slot: int = 0,
                store: JobStore | None = None) -> int:
    """Claim and run jobs until `stop` is set; return how many jobs this worker ran."""
    own = store is None
    store = store or open_store(settings.url)
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{slot}"
    ran = 0
    try:
        while not stop.is_set():
            job = store.claim_job(worker_id, settings.lease_s)
            if job is None:
                stop.wait(settings.poll_s)
                continue
            execute(store, job, worker_id, settings)
            ran += 1
    finally:
        if own:
            store.close()
    return ran


def _process_main(settings: WorkerSettings, stop, slot: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    worker_loop(settings, stop, slot)


class LocalWorkers:
    """A pool of `n` worker processes serving `store`'s queue; `run` is the job function (picklable, module level)."""

    def __init__(self, store: JobStore, n: int = 2, lease_s: float = 30.0, poll_s: float = 0.5, run: RunFn = run_job,
                 webhook: WebhookConfig | None = None, restart: bool = True):
        if n < 1:
            raise AvatarkitError(f"workers: need at least 1, got {n}")
        if lease_s <= 0 or poll_s <= 0:
            raise AvatarkitError("workers: lease_s and poll_s must be positive seconds")
        self.settings = WorkerSettings(store.url, float(lease_s), float(poll_s), run, webhook)
        self.n = n
        self.restart = restart
        self._ctx = mp.get_context("spawn")
        self._stop = StopFlag(self._ctx)
        self._procs: list[mp.process.BaseProcess | None] = [None] * n
        self._watch: threading.Thread | None = None
        self._watch_stop = threading.Event()
        self._lock = threading.Lock()
        self.restarts = 0

    def _spawn(self, slot: int) -> None:
        p = self._ctx.Process(target=_process_main, args=(self.settings, self._stop, slot),
                              name=f"avatarkit-worker-{slot}", daemon=True)
        p.start()
        self._procs[slot] = p

    def start(self) -> LocalWorkers:
        """Start the worker processes (and a watcher that replaces any that die)."""
        with self._lock:
            for slot in range(self.n):
                self._spawn(slot)
        self._watch = threading.Thread(target=self._watcher, name="avatarkit-workers-watch", daemon=True)
        self._watch.start()
        return self

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [p.pid for p in self._procs if p is not None and p.is_alive() and p.pid]

    def _watcher(self) -> None:
        while not self._watch_stop.wait(0.5):
            if not self.restart or self._stop.is_set():
                continue
            with self._lock:
                for slot, p in enumerate(self._procs):
                    if p is not None and not p.is_alive() and not self._stop.is_set():
                        log.warning("worker %d (pid %s) died with exit code %s; starting another", slot, p.pid, p.exitcode)
                        self._spawn(slot)
                        self.restarts += 1

    def stop(self, timeout: float = 30.0) -> bool:
        """Drain: workers finish their current job and exit; after `timeout` seconds the rest are terminated. True if all drained."""
        self._stop.set()
        self._watch_stop.set()
        if self._watch is not None:
            self._watch.join()
        deadline = time.monotonic() + timeout
        clean = True
        for p in self._procs:
            if p is None:
                continue
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                clean = False
                p.terminate()
                p.join(5.0)
        return clean

    def __enter__(self) -> LocalWorkers:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
