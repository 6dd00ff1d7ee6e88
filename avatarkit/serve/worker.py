"""Worker processes that run the store's jobs: claim, run with a heartbeat, finish or fail, tell the webhook.

Each worker is a separate process (multiprocessing "spawn", so no lock or
connection is inherited) with its own store connection, creating files
private to the service's user. While a job runs, a heartbeat thread renews
its lease every `min(lease_s / 3, 2)` seconds and learns of cancellation or
a lost lease. The job then stops in whatever stage it is (speech, motion,
drawing, encoding, packaging): the heartbeat thread interrupts the worker's
main thread with SIGUSR1, whose handler raises `JobStopped` there (a job
run off the main thread, as in tests, sees its `report` callback return
False instead). The same thread watches the worker's resident memory: a job
that passes `memory_mb` is stopped and failed once, with no retry, and the
worker process is replaced. A job that raises an `AvatarkitError` (bad
input) fails at once; any other exception is retried until the store's
attempt limit. Errors a client can read name no server path and carry no
traceback (that goes to the service's log). A worker killed outright leaves its
lease to expire, and another worker claims the job again. `LocalWorkers`
restarts a worker process that died, and `stop` drains: workers finish the
job in hand and exit, and those still busy at the timeout are terminated
(their jobs resume elsewhere once the lease expires).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import AvatarkitError
from .jobs import JobStopped, run_job
from .store import Job, JobStore, StoreUnavailable, open_store
from .tenancy import JobFolder, private_umask, public_message
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
    memory_mb: float | None = None      # resident memory a job may reach (MiB); None: no ceiling


class _Interrupt:
    """SIGUSR1 raises `JobStopped` in the main thread while a job runs there (`armed`), and is ignored otherwise."""

    armed = False
    installed = False

    @classmethod
    def install(cls) -> None:
        def handler(signum, frame):
            if cls.armed:
                cls.armed = False
                raise JobStopped("stopped by the service")

        signal.signal(signal.SIGUSR1, handler)
        cls.installed = True


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


WATCH_S = 0.25      # how often the heartbeat thread looks at memory (seconds)
KILL_AFTER_S = 5.0  # how long a job stopped for memory has to unwind before its worker exits anyway


def execute(store: JobStore, job: Job, worker_id: str, settings: WorkerSettings) -> str:
    """Run one claimed job to its end; return what happened ("succeeded", "failed", "retry", "cancelled", "lost",
    or "memory": failed for passing `memory_mb`, after which the caller should replace this process)."""
    state = {"progress": float(job.progress), "ok": True, "note": "", "memory": 0.0}
    done = threading.Event()
    interval = min(settings.lease_s / 3.0, 2.0)
    main = threading.main_thread()
    interruptible = _Interrupt.installed and threading.current_thread() is main
    folder = JobFolder(Path(job.workdir))

    def stop_job() -> None:
        state["ok"] = False
        if interruptible and _Interrupt.armed:
            signal.pthread_kill(main.ident, signal.SIGUSR1)

    def memory_error() -> str:
        return (f"the render used {state['memory']:.0f} MiB of memory, over the limit limits.worker_mb = "
                f"{settings.memory_mb:g}; make the script, its pictures or its resolution smaller")

    def beat() -> None:
        last = time.monotonic()
        while not done.wait(WATCH_S):
            if settings.memory_mb and (rss := rss_mb()) > settings.memory_mb:
                state["memory"] = rss
                log.warning("job %s: worker memory %.0f MiB over the ceiling of %g MiB; stopping it", job.id, rss,
                            settings.memory_mb)
                stop_job()
                if not done.wait(KILL_AFTER_S):    # stuck in native code: fail the job here and end the process
                    store.fail_job(job.id, worker_id, memory_error(), retry=False)
                    os._exit(70)
                return
            if time.monotonic() - last < interval:
                continue
            last = time.monotonic()
            try:
                if not store.heartbeat(job.id, worker_id, state["progress"], settings.lease_s, state["note"]):
                    stop_job()
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
        _Interrupt.armed = interruptible
        try:
            artifacts = settings.run(job, report)
        finally:
            _Interrupt.armed = False
        outcome = "succeeded" if store.finish_job(job.id, worker_id, list(artifacts)) else "lost"
    except (JobStopped, MemoryError) as e:
        current = store.get_job(job.id)
        if state["memory"] or isinstance(e, MemoryError):
            state["memory"] = state["memory"] or rss_mb()
            outcome = "memory" if store.fail_job(job.id, worker_id, memory_error(), retry=False) else "lost"
        elif current is not None and current.cancel_requested and current.worker == worker_id:
            store.fail_job(job.id, worker_id, "cancelled", retry=False)
            outcome = "cancelled"
        else:
            outcome = "lost"
    except AvatarkitError as e:
        outcome = "failed" if store.fail_job(job.id, worker_id, public_message(str(e), folder), retry=False) else "lost"
    except Exception as e:  # noqa: BLE001 - anything unexpected is worth another attempt
        log.error("job %s raised:\n%s", job.id, traceback.format_exc())
        message = f"internal error ({type(e).__name__}) while rendering; the service's log has the details (job {job.id})"
        if store.fail_job(job.id, worker_id, message, retry=True):
            after = store.get_job(job.id)
            outcome = "retry" if after is not None and after.status == "queued" else (after.status if after else "lost")
        else:
            outcome = "lost"
    finally:
        done.set()
        thread.join()
    if outcome in ("succeeded", "failed", "cancelled", "memory"):
        # A job that has ended is never run again: its uploads would hold the disk for nothing, and so would
        # the renders of one that did not succeed (a finished one's share their files with the key's render
        # cache). One stopped part way published nothing either: its artifacts go too.
        _remove_tree(folder.input)
        if outcome != "succeeded":
            _remove_tree(folder.renders)
        if outcome in ("cancelled", "memory"):
            _remove_tree(folder.artifacts)
        notify(store, job.id, settings.webhook)
    return outcome


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


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
                       allowed_hosts=config.allowed_hosts, networks=config.networks, timeout_s=config.timeout_s)
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
    if store is None:
        store = _open_waiting(settings.url, stop)
        if store is None:
            return 0
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{slot}"
    ran = 0
    try:
        while not stop.is_set():
            job = store.claim_job(worker_id, settings.lease_s)
            if job is None:
                stop.wait(settings.poll_s)
                continue
            outcome = execute(store, job, worker_id, settings)
            ran += 1
            if outcome == "memory" and own:
                break       # a process that grew this much is replaced rather than trusted with the next job
    finally:
        if own:
            store.close()
    return ran


def _open_waiting(url: str, stop, most_s: float = 5.0) -> JobStore | None:
    """The store at `url`, waiting (with backoff, up to `most_s` seconds between tries) while the database is
    unreachable, rather than dying and being restarted in a tight loop; None if `stop` is set first."""
    pause = 0.2
    while not stop.is_set():
        try:
            return open_store(url)
        except StoreUnavailable as e:
            log.warning("job store unreachable (%s); trying again in %.1f s", type(e).__name__, pause)
            stop.wait(pause)
            pause = min(pause * 2, most_s)
    return None


def _process_main(settings: WorkerSettings, stop, slot: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    private_umask()
    _Interrupt.install()
    worker_loop(settings, stop, slot)


class LocalWorkers:
    """A pool of `n` worker processes serving `store`'s queue; `run` is the job function (picklable, module level)."""

    def __init__(self, store: JobStore, n: int = 2, lease_s: float = 30.0, poll_s: float = 0.5, run: RunFn = run_job,
                 webhook: WebhookConfig | None = None, restart: bool = True, memory_mb: float | None = None):
        if n < 1:
            raise AvatarkitError(f"workers: need at least 1, got {n}")
        if lease_s <= 0 or poll_s <= 0:
            raise AvatarkitError("workers: lease_s and poll_s must be positive seconds")
        self.settings = WorkerSettings(store.url, float(lease_s), float(poll_s), run, webhook, memory_mb)
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
