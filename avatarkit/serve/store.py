"""The render service's durable job store: jobs, their leases and status events, and API keys.

One table of jobs is the queue. A worker claims a job in one transaction
(SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`),
which sets it running under the worker's name with a lease (UNIX seconds)
it must renew by heartbeat; a job whose lease ran out (its worker died) is
claimed again by another worker, `attempts` counting each claim. Every
change a worker makes is conditional on still holding the lease, so a
stale worker can neither finish a job twice nor overwrite its successor.
Each thread gets its own connection, so one store object may be shared by
a web server's thread pool and a worker's heartbeat thread; the connection
of a thread that has ended is closed when the next one is opened.

A PostgreSQL connection can die under the store (the server restarted, or
the network dropped it). A transaction whose connection is lost is run
again, once, on a fresh connection, which may wait up to `reconnect_s`
seconds for the server to come back (longer: `StoreUnavailable`). That is
safe because the failed attempt left nothing behind: a transaction that
never reached COMMIT is discarded by the server when its session ends. The
one ambiguous moment is the COMMIT itself (the server may have committed
and died before saying so); for it the store records the transaction's id
beforehand and asks the server afterwards (`txid_status`) whether it
committed: if it did, the result computed inside it is returned and
nothing runs twice.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..errors import AvatarkitError
from .migrations import migrate

log = logging.getLogger("avatarkit.serve.store")
T = TypeVar("T")

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
MAX_ATTEMPTS = 3
RECONNECT_S = 10.0


class StoreError(AvatarkitError):
    """A store that cannot be opened, or a request naming something it does not hold."""


class JobNotFound(StoreError):
    """A job id the store does not know."""


class TooManyUnfinished(StoreError):
    """`create_job` refused: the key already has its cap of queued and running jobs (`count`)."""

    def __init__(self, count: int, cap: int):
        self.count, self.cap = count, cap
        super().__init__(f"this key already has {count} unfinished jobs (limit {cap}); wait for one to finish")


class StoreUnavailable(StoreError):
    """The database cannot be reached (PostgreSQL down longer than `reconnect_s`, or a commit whose outcome is unknown).

    Unlike the other store errors this is the server's trouble, not the
    request's: worth answering 503 and trying again later.
    """


@dataclass(frozen=True)
class Job:
    """One render job as stored: its state, its lease (UNIX seconds) and what it produced (paths relative to workdir)."""

    id: str
    key_id: str
    kind: str
    status: str                 # queued | running | succeeded | failed | cancelled
    progress: float             # 0..1
    request: dict
    workdir: str
    artifacts: list[str]
    error: str | None
    attempts: int
    worker: str | None
    lease_until: float | None
    created: float
    updated: float
    idempotency_key: str | None
    webhook_url: str | None
    cancel_requested: bool


_JOB_COLUMNS = ("id, key_id, kind, status, progress, request, workdir, artifacts, error, attempts, worker, lease_until, "
                "created, updated, idempotency_key, webhook_url, cancel_requested")


def _job(row: tuple) -> Job:
    (id_, key_id, kind, status, progress, request, workdir, artifacts, error, attempts, worker, lease_until,
     created, updated, idem, webhook, cancel) = row
    return Job(id_, key_id, kind, status, float(progress), json.loads(request), workdir, json.loads(artifacts), error,
               int(attempts), worker, lease_until, float(created), float(updated), idem, webhook, bool(cancel))


def open_store(url: str, *, max_attempts: int = MAX_ATTEMPTS, reconnect_s: float = RECONNECT_S) -> JobStore:
    """Open (creating and migrating as needed) the store at `url`.

    `url` is "sqlite:///abs/path/jobs.db" (WAL journal, 30 s busy timeout)
    or "postgresql://user:pass@host/db" (psycopg 3). `max_attempts` is how
    many claims a job gets before a crash or an expired lease fails it;
    `reconnect_s` is how long (seconds) a call whose PostgreSQL connection
    was lost waits for the server to accept a new one before it gives up.
    """
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_absolute():
            raise StoreError(f"store url: the SQLite path must be absolute (sqlite:////abs/path/jobs.db), got {url!r}")
        if not path.parent.is_dir():
            raise StoreError(f"store url: folder {path.parent} does not exist")
        return JobStore(url, "sqlite", max_attempts=max_attempts, reconnect_s=reconnect_s)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise StoreError("store url: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]')") from e
        return JobStore(url, "postgres", max_attempts=max_attempts, reconnect_s=reconnect_s)
    raise StoreError(f"store url: expected sqlite:///... or postgresql://..., got {url.split(':', 1)[0]!r}")


class JobStore:
    """Jobs, events and keys in one SQL database; see `open_store`."""

    def __init__(self, url: str, dialect: str, *, max_attempts: int = MAX_ATTEMPTS, reconnect_s: float = RECONNECT_S):
        self.url = url
        self.dialect = dialect
        self.max_attempts = max_attempts
        self.reconnect_s = float(reconnect_s)
        self.reconnects = 0                   # transactions run again after their connection was lost
        self._local = threading.local()
        self._conns: dict[threading.Thread, Any] = {}   # each thread's connection, to close it when the thread ends
        self._lock = threading.Lock()
        self._closed = False
        self._opened = False
        self.schema_version = migrate(self._conn(), dialect)
        self._opened = True

    # --- connections and transactions -------------------------------------------------------

    def _connect(self, wait_s: float) -> Any:
        """A new connection. PostgreSQL is tried again for up to `wait_s` seconds while it refuses (restarting, say)."""
        if self.dialect == "sqlite":
            # Autocommit mode: transactions are begun explicitly, so claims can take the write lock up front.
            conn = sqlite3.connect(self.url[len("sqlite:///"):], timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        import psycopg

        deadline = time.monotonic() + wait_s
        pause = 0.1
        while True:
            try:
                return psycopg.connect(self.url, autocommit=True)
            except psycopg.OperationalError as e:
                if time.monotonic() + pause > deadline:
                    raise StoreUnavailable(f"store url: cannot connect to PostgreSQL ({str(e).splitlines()[0]})") from e
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _conn(self) -> Any:
        """This thread's connection, opened on first use (waiting up to `reconnect_s` once the store is open)."""
        if self._closed:
            raise StoreError("store: already closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self._reap()
            conn = self._connect(self.reconnect_s if self._opened else 0.0)
            with self._lock:
                self._conns[threading.current_thread()] = conn
            self._local.conn = conn
        return conn

    def _reap(self) -> None:
        """Close the connections of threads that have ended (a worker starts a heartbeat thread per job)."""
        with self._lock:
            gone = [t for t in self._conns if not t.is_alive()]
            conns = [self._conns.pop(t) for t in gone]
        for c in conns:
            _close_quietly(c)

    def _drop(self, conn: Any) -> None:
        """Forget and close this thread's connection `conn` (it was lost); the next call opens another."""
        with self._lock:
            if self._conns.get(threading.current_thread()) is conn:
                del self._conns[threading.current_thread()]
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        _close_quietly(conn)

    def _lost(self, conn: Any, exc: BaseException) -> bool:
        """True if `exc` means the PostgreSQL connection itself is gone (server restarted, network cut), not a SQL error."""
        if self.dialect != "postgres":
            return False
        import psycopg

        lost = bool(conn.closed or getattr(conn, "broken", False))
        return lost and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))

    def _run(self, body: Callable[[_Cursor], T], write: bool = True) -> T:
        """Run `body(cursor)` in one transaction and return what it returned.

        A write takes SQLite's write lock up front (`BEGIN IMMEDIATE`). When
        the PostgreSQL connection is lost, the transaction runs once more on
        a new connection, unless the loss came during COMMIT and the server
        says (`txid_status`) that the COMMIT went through: then the first
        run's result stands. See the module docstring for why that is safe.
        """
        for attempt in (1, 2):
            conn = self._conn()
            xid = None
            committing = False
            try:
                cur = _Cursor(conn.cursor(), self.dialect)
                cur.raw.execute("BEGIN IMMEDIATE" if write and self.dialect == "sqlite" else "BEGIN")
                try:
                    result = body(cur)
                    if write and self.dialect == "postgres":
                        # NULL when the transaction wrote nothing: then a retry cannot repeat anything.
                        cur.raw.execute("SELECT txid_current_if_assigned()")
                        xid = cur.raw.fetchone()[0]
                except BaseException as e:
                    if not self._lost(conn, e):   # a lost connection has nothing to roll back: the server discards it
                        cur.raw.execute("ROLLBACK")
                    raise
                committing = True
                cur.raw.execute("COMMIT")
                return result
            except Exception as e:
                if not self._lost(conn, e):
                    raise
                self._drop(conn)
                if committing and xid is not None and self._outcome(xid) == "committed":
                    log.warning("store: the PostgreSQL connection was lost during a COMMIT that went through")
                    return result
                if attempt == 2:
                    raise StoreUnavailable(f"store: lost the PostgreSQL connection twice in one transaction "
                                     f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from e
                self.reconnects += 1
                log.warning("store: PostgreSQL connection lost (%s); running the transaction again on a new one",
                            str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise AssertionError("unreachable")

    def _outcome(self, xid: int) -> str | None:
        """Whether PostgreSQL transaction `xid` committed: "committed", "aborted", or None (too old to tell).

        Asked on a new connection after the one that sent COMMIT was lost. A
        transaction still "in progress" (its old session not yet gone) is
        waited for up to `reconnect_s` seconds; after that, or if the server
        cannot be asked, the outcome is unknown and `StoreError` is raised
        rather than risk running the transaction twice.
        """
        deadline = time.monotonic() + self.reconnect_s
        while True:
            conn = self._conn()
            try:
                row = conn.execute("SELECT txid_status(%s)", (xid,)).fetchone()
            except Exception as e:
                if self._lost(conn, e):
                    self._drop(conn)
                raise StoreUnavailable("store: lost the PostgreSQL connection during COMMIT and could not learn "
                                 "whether it went through") from e
            status = row[0] if row else None
            if status != "in progress":
                return status
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"store: transaction {xid} is still in progress on PostgreSQL after its "
                                 "connection was lost; its outcome is unknown")
            time.sleep(0.2)

    def _event(self, cur: _Cursor, job_id: str, status: str, worker: str | None, detail: str = "", at: float = 0.0) -> None:
        cur.execute("INSERT INTO job_events (job_id, at, status, worker, detail) VALUES (?, ?, ?, ?, ?)",
                    (job_id, at or time.time(), status, worker, detail))

    def _get(self, cur: _Cursor, job_id: str, lock: bool = False) -> Job | None:
        lock_sql = " FOR UPDATE" if lock and self.dialect == "postgres" else ""
        cur.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?{lock_sql}", (job_id,))
        row = cur.fetchone()
        return _job(row) if row else None

    # --- jobs ---------------------------------------------------------------------------------

    def create_job(self, *, key_id: str, kind: str, request: dict, workdir: str, idempotency_key: str | None = None,
                   webhook_url: str | None = None, max_unfinished: int | None = None) -> tuple[Job, bool]:
        """Queue a job; return (job, created). The same `key_id` + `idempotency_key` returns the existing job, created=False.

        With `max_unfinished`, a key that already has that many queued or running jobs gets
        `TooManyUnfinished` instead: counted and inserted in one transaction (SQLite's write lock, a
        PostgreSQL advisory lock per key), so requests sent side by side cannot all pass the count.
        """
        body = json.dumps(request, sort_keys=True)

        def tx(cur: _Cursor) -> tuple[Job, bool]:
            if idempotency_key is not None:
                cur.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE key_id = ? AND idempotency_key = ?",
                            (key_id, idempotency_key))
                row = cur.fetchone()
                if row:
                    return _job(row), False
            if max_unfinished is not None:
                if self.dialect == "postgres":
                    cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"avatarkit-key:{key_id}",))
                cur.execute("SELECT COUNT(*) FROM jobs WHERE key_id = ? AND status IN ('queued', 'running')", (key_id,))
                count = int(cur.fetchone()[0])
                if count >= max_unfinished:
                    raise TooManyUnfinished(count, max_unfinished)
            now = time.time()
            job_id = uuid.uuid4().hex
            cur.execute("INSERT INTO jobs (id, key_id, kind, status, progress, request, workdir, artifacts, attempts, "
                        "created, updated, idempotency_key, webhook_url, cancel_requested) "
                        "VALUES (?, ?, ?, 'queued', 0, ?, ?, '[]', 0, ?, ?, ?, ?, 0)",
                        (job_id, key_id, kind, body, str(workdir), now, now, idempotency_key, webhook_url))
            self._event(cur, job_id, "queued", None, at=now)
            return self._get(cur, job_id), True

        for _ in range(2):
            try:
                return self._run(tx)
            except _integrity_errors():
                # Two PostgreSQL sessions raced on one idempotency key: the loser reads the winner's job.
                if idempotency_key is None:
                    raise
        raise StoreError(f"idempotency_key: {idempotency_key!r} could not be created or read")

    def get_job(self, job_id: str) -> Job | None:
        """The job `job_id`, or None."""
        return self._run(lambda cur: self._get(cur, job_id), write=False)

    def list_jobs(self, *, key_id: str | None, limit: int = 50, cursor: str | None = None,
                  status: str | None = None) -> tuple[list[Job], str | None]:
        """Jobs newest first (of one key, or all when None), `limit` per page; returns (jobs, cursor of the next page or None).

        The cursor names the last job shown (creation time, id), so jobs
        created meanwhile never shift a page or repeat one.
        """
        if not 1 <= limit <= 1000:
            raise StoreError(f"limit: must be 1..1000, got {limit}")
        if status is not None and status not in STATUSES:
            raise StoreError(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
        where, args = [], []
        if key_id is not None:
            where.append("key_id = ?")
            args.append(key_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if cursor:
            created, last_id = _decode_cursor(cursor)
            where.append("(created < ? OR (created = ? AND id < ?))")
            args += [created, created, last_id]
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created DESC, id DESC LIMIT ?"

        def tx(cur: _Cursor) -> list[tuple]:
            cur.execute(sql, (*args, limit + 1))
            return cur.fetchall()

        rows = self._run(tx, write=False)
        jobs = [_job(r) for r in rows[:limit]]
        more = len(rows) > limit
        return jobs, (_encode_cursor(jobs[-1].created, jobs[-1].id) if more else None)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel: a queued job is cancelled at once; a running one is marked, and its worker stops at its next heartbeat."""
        def tx(cur: _Cursor) -> Job:
            job = self._get(cur, job_id, lock=True)
            if job is None:
                raise JobNotFound(f"job: no job {job_id!r}")
            now = time.time()
            if job.status == "queued":
                cur.execute("UPDATE jobs SET status = 'cancelled', cancel_requested = 1, updated = ? WHERE id = ?", (now, job_id))
                self._event(cur, job_id, "cancelled", None, "cancelled before it started", at=now)
            elif job.status == "running" and not job.cancel_requested:
                cur.execute("UPDATE jobs SET cancel_requested = 1, updated = ? WHERE id = ?", (now, job_id))
                self._event(cur, job_id, "cancel_requested", job.worker, at=now)
            return self._get(cur, job_id)

        return self._run(tx)

    # --- workers ------------------------------------------------------------------------------

    def claim_job(self, worker_id: str, lease_s: float) -> Job | None:
        """Atomically take the oldest queued job, or a running one whose lease expired; attempts += 1. None: nothing to do."""
        skip = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""

        def tx(cur: _Cursor) -> Job | None:
            while True:
                now = time.time()
                cur.execute("SELECT id, status, attempts, cancel_requested, worker FROM jobs "
                            "WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) "
                            f"ORDER BY created, id LIMIT 1{skip}", (now,))
                row = cur.fetchone()
                if row is None:
                    return None
                job_id, status, attempts, cancel, old_worker = row
                if status == "running" and (cancel or attempts >= self.max_attempts):
                    # Its worker died: a cancelled job ends here, and one that has used its attempts fails rather than loop.
                    final = "cancelled" if cancel else "failed"
                    error = None if cancel else f"worker lost (lease expired) on attempt {attempts} of {self.max_attempts}"
                    cur.execute("UPDATE jobs SET status = ?, error = ?, worker = NULL, lease_until = NULL, updated = ? "
                                "WHERE id = ?", (final, error, now, job_id))
                    self._event(cur, job_id, final, old_worker, error or "lease expired", at=now)
                    continue
                cur.execute("UPDATE jobs SET status = 'running', worker = ?, lease_until = ?, attempts = attempts + 1, "
                            "updated = ? WHERE id = ?", (worker_id, now + lease_s, now, job_id))
                detail = f"attempt {attempts + 1}" + (f"; lease of {old_worker} expired" if status == "running" else "")
                self._event(cur, job_id, "running", worker_id, detail, at=now)
                return self._get(cur, job_id)

        return self._run(tx)

    def heartbeat(self, job_id: str, worker_id: str, progress: float, lease_s: float, note: str = "") -> bool:
        """Renew the lease and record progress (0..1). False: the lease is lost or a cancel was requested, so stop."""
        def tx(cur: _Cursor) -> bool:
            now = time.time()
            cur.execute("UPDATE jobs SET progress = ?, lease_until = ?, updated = ?, note = ? "
                        "WHERE id = ? AND worker = ? AND status = 'running' AND cancel_requested = 0",
                        (min(max(float(progress), 0.0), 1.0), now + lease_s, now, note[:500], job_id, worker_id))
            return cur.rowcount == 1

        return self._run(tx)

    def finish_job(self, job_id: str, worker_id: str, artifacts: list[str]) -> bool:
        """Mark the job succeeded with its artifacts; only the lease holder can, and only once (False otherwise)."""
        def tx(cur: _Cursor) -> bool:
            now = time.time()
            cur.execute("UPDATE jobs SET status = 'succeeded', progress = 1, artifacts = ?, error = NULL, lease_until = NULL, "
                        "updated = ? WHERE id = ? AND worker = ? AND status = 'running'",
                        (json.dumps(list(artifacts)), now, job_id, worker_id))
            if cur.rowcount != 1:
                return False
            self._event(cur, job_id, "succeeded", worker_id, at=now)
            return True

        return self._run(tx)

    def fail_job(self, job_id: str, worker_id: str, error: str, retry: bool) -> bool:
        """End the lease holder's attempt: queued again if `retry` and attempts remain, cancelled if asked, else failed."""
        def tx(cur: _Cursor) -> bool:
            now = time.time()
            job = self._get(cur, job_id, lock=True)
            if job is None or job.status != "running" or job.worker != worker_id:
                return False
            if job.cancel_requested:
                status, detail = "cancelled", "stopped on request"
            elif retry and job.attempts < self.max_attempts:
                status, detail = "queued", f"retry after attempt {job.attempts}: {error}"
            else:
                status, detail = "failed", error
            cur.execute("UPDATE jobs SET status = ?, error = ?, worker = ?, lease_until = NULL, updated = ? WHERE id = ?",
                        (status, None if status == "cancelled" else error, worker_id if status != "queued" else None,
                         now, job_id))
            self._event(cur, job_id, status, worker_id, detail[:2000], at=now)
            return True

        return self._run(tx)

    def events(self, job_id: str) -> list[dict]:
        """The job's status changes in order: {"at" (UNIX s), "status", "worker", "detail"}."""
        def tx(cur: _Cursor) -> list[dict]:
            cur.execute("SELECT at, status, worker, detail FROM job_events WHERE job_id = ? ORDER BY id", (job_id,))
            return [{"at": float(a), "status": s, "worker": w, "detail": d} for a, s, w, d in cur.fetchall()]

        return self._run(tx, write=False)

    # --- API keys (hashed by the caller; stored here) ------------------------------------------

    def create_key(self, name: str, scopes: list[str], secret_hash: str, limits: dict) -> str:
        """Store a key by the hash of its secret; return its id."""
        key_id = "key_" + uuid.uuid4().hex

        def tx(cur: _Cursor) -> None:
            cur.execute("INSERT INTO api_keys (id, name, scopes, secret_hash, limits, created) VALUES (?, ?, ?, ?, ?, ?)",
                        (key_id, name, json.dumps(list(scopes)), secret_hash, json.dumps(limits, sort_keys=True),
                         time.time()))

        try:
            self._run(tx)
        except _integrity_errors() as e:
            raise StoreError("secret_hash: a key with this secret already exists") from e
        return key_id

    def get_key_by_hash(self, secret_hash: str) -> dict | None:
        """The key whose secret hashes to `secret_hash`, unless revoked."""
        def tx(cur: _Cursor) -> tuple | None:
            cur.execute("SELECT id, name, scopes, limits, created, revoked FROM api_keys WHERE secret_hash = ? AND revoked IS NULL",
                        (secret_hash,))
            return cur.fetchone()

        row = self._run(tx, write=False)
        return _key(row) if row else None

    def list_keys(self) -> list[dict]:
        """Every key (revoked ones too, with their revocation time), oldest first; never the hashes."""
        def tx(cur: _Cursor) -> list[dict]:
            cur.execute("SELECT id, name, scopes, limits, created, revoked FROM api_keys ORDER BY created, id")
            return [_key(r) for r in cur.fetchall()]

        return self._run(tx, write=False)

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key: it stops authenticating at once."""
        def tx(cur: _Cursor) -> None:
            cur.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id))
            if cur.rowcount != 1:
                cur.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,))
                if cur.fetchone() is None:
                    raise StoreError(f"key: no key {key_id!r}")

        self._run(tx)

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
            self._closed = True
        for c in conns:
            _close_quietly(c)   # a connection another thread is using may refuse; it dies with the process
        self._local = threading.local()


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead or busy connection may raise; there is nothing more to do with it
        pass


def _key(row: tuple) -> dict:
    id_, name, scopes, limits, created, revoked = row
    return {"id": id_, "name": name, "scopes": json.loads(scopes), "limits": json.loads(limits),
            "created": float(created), "revoked": float(revoked) if revoked is not None else None}


class _Cursor:
    """A DB-API cursor that takes `?` placeholders in either dialect (psycopg wants `%s`)."""

    def __init__(self, raw: Any, dialect: str):
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, args: tuple | list = ()) -> None:
        # No statement here has a literal "?" or "%", so a plain swap is safe.
        self.raw.execute(sql.replace("?", "%s") if self.dialect == "postgres" else sql, tuple(args))

    def fetchone(self) -> tuple | None:
        return self.raw.fetchone()

    def fetchall(self) -> list[tuple]:
        return self.raw.fetchall()

    @property
    def rowcount(self) -> int:
        return self.raw.rowcount


def _integrity_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import psycopg

        errors.append(psycopg.errors.IntegrityError)
    except ImportError:
        pass
    return tuple(errors)


def _encode_cursor(created: float, job_id: str) -> str:
    raw = json.dumps([repr(created), job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created, job_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return float(created), str(job_id)
    except (ValueError, TypeError) as e:
        raise StoreError("cursor: not a cursor this service returned") from e
