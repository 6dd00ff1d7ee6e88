"""Numbered schema steps for the render service's job store, for SQLite and PostgreSQL.

Each step is a list of SQL statements per dialect. `migrate` reads the
`schema_version` table and applies the missing steps in order, each in its
own transaction together with the version bump, so a crash mid-upgrade
leaves the database at the last whole step. Opening a store always calls
it, so a database written by an older release is brought forward; running
it again is a no-op. Steps are append-only: never edit a released one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import AvatarkitError


class MigrationError(AvatarkitError):
    """A database whose schema this release cannot use (newer than it knows, or a failed step)."""


@dataclass(frozen=True)
class Step:
    """One schema version: what it adds, and its statements in each dialect ("sqlite", "postgres")."""

    version: int
    about: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        return self.sqlite if dialect == "sqlite" else self.postgres


def _both(*sql: str) -> dict[str, tuple[str, ...]]:
    return {"sqlite": sql, "postgres": sql}


# Times are UNIX seconds (float8 / REAL); JSON values are TEXT so both dialects read them the same way.
_V1_JOBS = """CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    request TEXT NOT NULL,
    workdir TEXT NOT NULL,
    artifacts TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until DOUBLE PRECISION,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    idempotency_key TEXT
)"""
_V1_KEYS = """CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    limits TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION
)"""

STEPS: tuple[Step, ...] = (
    Step(1, "jobs and API keys", **_both(
        _V1_JOBS,
        _V1_KEYS,
        "CREATE INDEX jobs_status ON jobs (status, created)",
    )),
    Step(2, "webhooks, cancellation, idempotency per key, status events", **{
        "sqlite": (
            "ALTER TABLE jobs ADD COLUMN webhook_url TEXT",
            "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''",
            "CREATE UNIQUE INDEX jobs_idempotency ON jobs (key_id, idempotency_key)",
            "CREATE INDEX jobs_key_created ON jobs (key_id, created)",
            "CREATE INDEX jobs_created ON jobs (created)",
            """CREATE TABLE job_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job_id TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL,
                worker TEXT,
                detail TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX job_events_job ON job_events (job_id, id)",
        ),
        "postgres": (
            "ALTER TABLE jobs ADD COLUMN webhook_url TEXT",
            "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''",
            "CREATE UNIQUE INDEX jobs_idempotency ON jobs (key_id, idempotency_key)",
            "CREATE INDEX jobs_key_created ON jobs (key_id, created)",
            "CREATE INDEX jobs_created ON jobs (created)",
            """CREATE TABLE job_events (
                id BIGSERIAL PRIMARY KEY,
                job_id TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL,
                worker TEXT,
                detail TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX job_events_job ON job_events (job_id, id)",
        ),
    }),
)

LATEST = STEPS[-1].version


def _version(cur: Any) -> int:
    cur.execute("SELECT MAX(version) FROM schema_version")
    row = cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: Any, dialect: str, *, target: int = LATEST) -> int:
    """Bring the database on `conn` (autocommit mode) up to schema `target`; return the version it ends at.

    SQLite serialises concurrent openers with `BEGIN IMMEDIATE`; PostgreSQL
    with a transaction-scoped advisory lock, so two services starting at once
    never apply a step twice.
    """
    if dialect not in ("sqlite", "postgres"):
        raise MigrationError(f"database: unknown dialect {dialect!r}")
    cur = conn.cursor()
    for step in [s for s in STEPS if s.version <= target] or [None]:
        _begin(cur, dialect)
        try:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION)")
            have = _version(cur)
            if have > LATEST:
                raise MigrationError(f"database: schema version {have} is newer than this release knows ({LATEST}); "
                                     "upgrade avatarkit")
            if step is not None and step.version > have:
                for sql in step.statements(dialect):
                    cur.execute(sql)
                cur.execute("INSERT INTO schema_version (version, applied) VALUES (" + _ph(dialect, 2) + ")",
                            (step.version, _now()))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    cur.execute("SELECT MAX(version) FROM schema_version")
    return int(cur.fetchone()[0] or 0)


def _begin(cur: Any, dialect: str) -> None:
    if dialect == "sqlite":
        cur.execute("BEGIN IMMEDIATE")
    else:
        cur.execute("BEGIN")
        cur.execute("SELECT pg_advisory_xact_lock(7420117)")


def _ph(dialect: str, n: int) -> str:
    return ", ".join(["?" if dialect == "sqlite" else "%s"] * n)


def _now() -> float:
    import time

    return time.time()
