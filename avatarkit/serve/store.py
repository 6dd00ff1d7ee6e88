"""The render service's durable job store: jobs, their leases and status events, and API keys.

One table of jobs is the queue. A worker claims a job in one transaction
(SQLite `BEGIN IMMEDIATE`, PostgreSQL `SELECT ... FOR UPDATE SKIP LOCKED`),
which sets it running under the worker's name with a lease (UNIX seconds)
it must renew by heartbeat; a job whose lease ran out (its worker died) is
claimed again by another worker, `attempts` counting each claim. Every
change a worker makes is conditional on still holding the lease, so a
stale worker can neither finish a job twice nor overwrite its successor.
Each thread gets its own connection, so one store object may be shared by
a web server's thread pool and a worker's heartbeat thread.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import AvatarkitError
from .migrations import migrate

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
MAX_ATTEMPTS = 3


class StoreError(AvatarkitError):
    """A store that cannot be opened, or a request naming something it does not hold."""


class JobNotFound(StoreError):
    """A job id the store does not know."""


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


def open_store(url: str, *, max_attempts: int = MAX_ATTEMPTS) -> JobStore:
    """Open (creating and migrating as needed) the store at `url`.

    `url` is "sqlite:///abs/path/jobs.db" (WAL journal, 30 s busy timeout)
    or "postgresql://user:pass@host/db" (psycopg 3). `max_attempts` is how
    many claims a job gets before a crash or an expired lease fails it.
    """
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_absolute():
            raise StoreError(f"store url: the SQLite path must be absolute (sqlite:////abs/path/jobs.db), got {url!r}")
        if not path.parent.is_dir():
            raise StoreError(f"store url: folder {path.parent} does not exist")
        return JobStore(url, "sqlite", max_attempts=max_attempts)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise StoreError("store url: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]')") from e
        return JobStore(url, "postgres", max_attempts=max_attempts)
    raise StoreError(f"store url: expected sqlite:///... or postgresql://..., got {url.split(':', 1)[0]!r}")


class JobStore:
    """Jobs, events and keys in one SQL database; see `open_store`."""

    def __init__(self, url: str, dialect: str, *, max_attempts: int = MAX_ATTEMPTS):
        self.url = url
        self.dialect = dialect
        self.max_attempts = max_attempts
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False
        self.schema_version = migrate(self._conn(), dialect)

    # --- connections and transactions -------------------------------------------------------

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            # Autocommit mode: transactions are begun explicitly, so claims can take the write lock up front.
            conn = sqlite3.connect(self.url[len("sqlite:///"):], timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True)
        except psycopg.OperationalError as e:
            raise StoreError(f"store url: cannot connect to PostgreSQL ({str(e).splitlines()[0]})") from e

    def _conn(self) -> Any:
        if self._closed:
            raise StoreError("store: already closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[_Cursor]:
        cur = _Cursor(self._conn().cursor(), self.dialect)
        if self.dialect == "sqlite":
            cur.raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        else:
            cur.raw.execute("BEGIN")
        try:
            yield cur
        except BaseException:
            cur.raw.execute("ROLLBACK")
            raise
        cur.raw.execute("COMMIT")

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
                   webhook_url: str | None = None) -> tuple[Job, bool]:
        """Queue a job; return (job, created). The same `key_id` + `idempotency_key` returns the existing job, created=False."""
        body = json.dumps(request, sort_keys=True)
        for _ in range(2):
            try:
                with self._tx() as cur:
                    if idempotency_key is not None:
                        cur.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE key_id = ? AND idempotency_key = ?",
                                    (key_id, idempotency_key))
                        row = cur.fetchone()
                        if row:
                            return _job(row), False
                    now = time.time()
                    job_id = uuid.uuid4().hex
                    cur.execute("INSERT INTO jobs (id, key_id, kind, status, progress, request, workdir, artifacts, attempts, "
                                "created, updated, idempotency_key, webhook_url, cancel_requested) "
                                "VALUES (?, ?, ?, 'queued', 0, ?, ?, '[]', 0, ?, ?, ?, ?, 0)",
                                (job_id, key_id, kind, body, str(workdir), now, now, idempotency_key, webhook_url))
                    self._event(cur, job_id, "queued", None, at=now)
                    return self._get(cur, job_id), True
            except _integrity_errors():
                # Two PostgreSQL sessions raced on one idempotency key: the loser reads the winner's job.
                if idempotency_key is None:
                    raise
        raise StoreError(f"idempotency_key: {idempotency_key!r} could not be created or read")

    def get_job(self, job_id: str) -> Job | None:
        """The job `job_id`, or None."""
        with self._tx(write=False) as cur:
            return self._get(cur, job_id)

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
        with self._tx(write=False) as cur:
            cur.execute(sql, (*args, limit + 1))
            rows = cur.fetchall()
        jobs = [_job(r) for r in rows[:limit]]
        more = len(rows) > limit
        return jobs, (_encode_cursor(jobs[-1].created, jobs[-1].id) if more else None)

    def cancel_job(self, job_id: str) -> Job:
        """Cancel: a queued job is cancelled at once; a running one is marked, and its worker stops at its next heartbeat."""
        with self._tx() as cur:
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

    # --- workers ------------------------------------------------------------------------------

    def claim_job(self, worker_id: str, lease_s: float) -> Job | None:
        """Atomically take the oldest queued job, or a running one whose lease expired; attempts += 1. None: nothing to do."""
        skip = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgres" else ""
        with self._tx() as cur:
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

    def heartbeat(self, job_id: str, worker_id: str, progress: float, lease_s: float, note: str = "") -> bool:
        """Renew the lease and record progress (0..1). False: the lease is lost or a cancel was requested, so stop."""
        now = time.time()
        with self._tx() as cur:
            cur.execute("UPDATE jobs SET progress = ?, lease_until = ?, updated = ?, note = ? "
                        "WHERE id = ? AND worker = ? AND status = 'running' AND cancel_requested = 0",
                        (min(max(float(progress), 0.0), 1.0), now + lease_s, now, note[:500], job_id, worker_id))
            return cur.rowcount == 1

    def finish_job(self, job_id: str, worker_id: str, artifacts: list[str]) -> bool:
        """Mark the job succeeded with its artifacts; only the lease holder can, and only once (False otherwise)."""
        now = time.time()
        with self._tx() as cur:
            cur.execute("UPDATE jobs SET status = 'succeeded', progress = 1, artifacts = ?, error = NULL, lease_until = NULL, "
                        "updated = ? WHERE id = ? AND worker = ? AND status = 'running'",
                        (json.dumps(list(artifacts)), now, job_id, worker_id))
            if cur.rowcount != 1:
                return False
            self._event(cur, job_id, "succeeded", worker_id, at=now)
            return True

    def fail_job(self, job_id: str, worker_id: str, error: str, retry: bool) -> bool:
        """End the lease holder's attempt: queued again if `retry` and attempts remain, cancelled if asked, else failed."""
        now = time.time()
        with self._tx() as cur:
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

    def events(self, job_id: str) -> list[dict]:
        """The job's status changes in order: {"at" (UNIX s), "status", "worker", "detail"}."""
        with self._tx(write=False) as cur:
            cur.execute("SELECT at, status, worker, detail FROM job_events WHERE job_id = ? ORDER BY id", (job_id,))
            return [{"at": float(a), "status": s, "worker": w, "detail": d} for a, s, w, d in cur.fetchall()]

    # --- API keys (hashed by the caller; stored here) ------------------------------------------

    def create_key(self, name: str, scopes: list[str], secret_hash: str, limits: dict) -> str:
        """Store a key by the hash of its secret; return its id."""
        key_id = "key_" + uuid.uuid4().hex
        try:
            with self._tx() as cur:
                cur.execute("INSERT INTO api_keys (id, name, scopes, secret_hash, limits, created) VALUES (?, ?, ?, ?, ?, ?)",
                            (key_id, name, json.dumps(list(scopes)), secret_hash, json.dumps(limits, sort_keys=True),
                             time.time()))
        except _integrity_errors() as e:
            raise StoreError("secret_hash: a key with this secret already exists") from e
        return key_id

    def get_key_by_hash(self, secret_hash: str) -> dict | None:
        """The key whose secret hashes to `secret_hash`, unless revoked."""
        with self._tx(write=False) as cur:
            cur.execute("SELECT id, name, scopes, limits, created, revoked FROM api_keys WHERE secret_hash = ? AND revoked IS NULL",
                        (secret_hash,))
            row = cur.fetchone()
        return _key(row) if row else None

    def list_keys(self) -> list[dict]:
        """Every key (revoked ones too, with their revocation time), oldest first; never the hashes."""
        with self._tx(write=False) as cur:
            cur.execute("SELECT id, name, scopes, limits, created, revoked FROM api_keys ORDER BY created, id")
            return [_key(r) for r in cur.fetchall()]

    def revoke_key(self, key_id: str) -> None:
        """Revoke a key: it stops authenticating at once."""
        with self._tx() as cur:
            cur.execute("UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id))
            if cur.rowcount != 1:
                cur.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,))
                if cur.fetchone() is None:
                    raise StoreError(f"key: no key {key_id!r}")

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            conns, self._conns = self._conns, []
            self._closed = True
        for c in conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - a connection another thread is using may refuse; it dies with the process
                pass
        self._local = threading.local()


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
