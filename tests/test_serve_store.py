"""The render service's job store: jobs, pagination, idempotency, cancellation, leases, migrations, keys, concurrency."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from avatarkit.errors import AvatarkitError
from avatarkit.serve.migrations import LATEST, migrate
from avatarkit.serve.store import JobNotFound, StoreError, StoreUnavailable, open_store

PG_URL = os.environ.get("AVATARKIT_TEST_POSTGRES")


class PgCluster:
    """A PostgreSQL server to test against: its URL, and `stop` / `start` when the test owns it (None otherwise)."""

    def __init__(self, url: str, stop=None, start=None):
        self.url, self.stop, self.start = url, stop, start

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server (fast: every session is cut), wait `down_s` seconds, start it again."""
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server: AVATARKIT_TEST_POSTGRES, else a throwaway local cluster when Debian's postgresql is installed.

    The cluster listens only on a Unix socket in a temporary folder and is
    removed afterwards; initdb refuses root, so as root it runs as the
    `postgres` user. Only the throwaway cluster can be restarted.
    """
    if PG_URL:
        yield PgCluster(PG_URL)
        return
    import glob
    import pwd
    import shutil
    import socket
    import subprocess

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("no PostgreSQL to test against (set AVATARKIT_TEST_POSTGRES, or install Debian's postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'avatarkit[postgres]')")
    import tempfile
    from pathlib import Path

    bindir = os.path.dirname(bins[-1])
    # Not under pytest's own temp root: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="avatarkit-pg-"))
    data, sock = folder / "data", folder / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run a test cluster as")
        for d in (folder, sock):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = lambda *cmd: subprocess.run(as_user + list(cmd), check=True, capture_output=True, timeout=120)  # noqa: E731
    start = lambda: run(f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(folder / "log"), "-o",  # noqa: E731
                        f"-p {port} -k {sock} -c listen_addresses=''", "start")
    stop = lambda: run(f"{bindir}/pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")  # noqa: E731
    try:
        run(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        start()
    except subprocess.CalledProcessError as e:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a test PostgreSQL cluster: {e.stderr.decode(errors='replace')[-300:]}")
    except (subprocess.SubprocessError, OSError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a test PostgreSQL cluster: {e}")
    try:
        yield PgCluster(f"postgresql://postgres@/postgres?host={sock}&port={port}", stop, start)
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url(pg_cluster):
    """The URL of `pg_cluster`."""
    return pg_cluster.url


@pytest.fixture
def pg_owned(pg_cluster):
    """The test's own PostgreSQL cluster (one it may restart), cleaned; skipped for an external AVATARKIT_TEST_POSTGRES."""
    if pg_cluster.stop is None:
        pytest.skip("AVATARKIT_TEST_POSTGRES is an external server; restarting it is not this test's to do")
    _clean_pg(pg_cluster.url)
    return pg_cluster


def _sqlite(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


def _clean_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        for t in ("job_events", "jobs", "api_keys", "schema_version"):
            c.execute(f"DROP TABLE IF EXISTS {t}")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return _sqlite(tmp_path)
    pg = request.getfixturevalue("pg_url")
    _clean_pg(pg)
    return pg


def _new(store, n=1, key="k1", **kw):
    return [store.create_job(key_id=key, kind="render", request={"script": "s.yaml", "i": i}, workdir=f"/w/{i}", **kw)[0]
            for i in range(n)]


def test_create_get_and_fields(url):
    store = open_store(url)
    job, created = store.create_job(key_id="k1", kind="render", request={"script": "a.yaml", "formats": ["mp4"]},
                                    workdir="/tmp/w", webhook_url="http://127.0.0.1/x")
    assert created and len(job.id) == 32 and all(c in "0123456789abcdef" for c in job.id)
    got = store.get_job(job.id)
    assert got == job
    assert (got.status, got.progress, got.attempts, got.artifacts, got.worker, got.lease_until) == ("queued", 0.0, 0, [], None, None)
    assert got.request == {"script": "a.yaml", "formats": ["mp4"]} and got.webhook_url == "http://127.0.0.1/x"
    assert abs(got.created - time.time()) < 5 and not got.cancel_requested
    assert store.get_job("nope") is None
    assert [e["status"] for e in store.events(job.id)] == ["queued"]
    store.close()


def test_list_pagination_is_newest_first_and_stable(url):
    store = open_store(url)
    mine = _new(store, 7)
    _new(store, 3, key="other")
    page1, cur = store.list_jobs(key_id="k1", limit=3)
    assert [j.id for j in page1] == [j.id for j in reversed(mine)][:3]
    # Jobs created between pages must not shift or repeat the next page.
    _new(store, 2)
    page2, cur2 = store.list_jobs(key_id="k1", limit=3, cursor=cur)
    page3, cur3 = store.list_jobs(key_id="k1", limit=3, cursor=cur2)
    assert [j.id for j in page1 + page2 + page3] == [j.id for j in reversed(mine)]
    assert cur3 is None
    everyone, _ = store.list_jobs(key_id=None, limit=100)
    assert len(everyone) == 12
    queued, _ = store.list_jobs(key_id="other", status="queued")
    assert len(queued) == 3
    with pytest.raises(StoreError, match="cursor"):
        store.list_jobs(key_id="k1", cursor="garbage!")
    with pytest.raises(StoreError, match="status"):
        store.list_jobs(key_id="k1", status="done")
    store.close()


def test_idempotency_per_key(url):
    store = open_store(url)
    a, c1 = store.create_job(key_id="k1", kind="render", request={"x": 1}, workdir="/w", idempotency_key="abc")
    b, c2 = store.create_job(key_id="k1", kind="render", request={"x": 2}, workdir="/w2", idempotency_key="abc")
    c, c3 = store.create_job(key_id="k2", kind="render", request={"x": 1}, workdir="/w", idempotency_key="abc")
    assert (c1, c2, c3) == (True, False, True)
    assert b.id == a.id and b.request == {"x": 1} and c.id != a.id
    assert len(store.list_jobs(key_id="k1")[0]) == 1
    store.close()


def test_cancel_queued_and_running(url):
    store = open_store(url)
    q, r = _new(store, 2)
    assert store.cancel_job(q.id).status == "cancelled"
    assert store.claim_job("w1", 30).id == r.id   # the cancelled one is never claimed
    job = store.cancel_job(r.id)
    assert job.status == "running" and job.cancel_requested
    assert store.heartbeat(r.id, "w1", 0.5, 30) is False   # the worker learns it must stop
    assert store.fail_job(r.id, "w1", "stopped", retry=True)
    assert store.get_job(r.id).status == "cancelled"
    assert [e["status"] for e in store.events(r.id)] == ["queued", "running", "cancel_requested", "cancelled"]
    assert store.cancel_job(r.id).status == "cancelled"   # idempotent on a finished job
    with pytest.raises(JobNotFound):
        store.cancel_job("missing")
    assert store.claim_job("w1", 30) is None
    store.close()


def test_survives_restart(tmp_path):
    url = _sqlite(tmp_path)
    store = open_store(url)
    a, b = _new(store, 2)
    assert store.claim_job("w1", 30).id == a.id
    store.heartbeat(a.id, "w1", 0.25, 30)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_job(a.id)
    again = open_store(url)   # a service restart
    ja, jb = again.get_job(a.id), again.get_job(b.id)
    assert (ja.status, ja.progress, ja.worker, ja.attempts) == ("running", 0.25, "w1", 1)
    assert jb.status == "queued"
    assert again.claim_job("w2", 30).id == b.id   # a's lease is still live
    again.close()


def test_lease_expiry_reclaims_and_counts_attempts(url):
    store = open_store(url, max_attempts=3)
    (job,) = _new(store)
    assert store.claim_job("dead", 0.05).attempts == 1
    assert store.claim_job("w2", 30) is None   # lease still live
    time.sleep(0.1)
    again = store.claim_job("w2", 30)
    assert again.id == job.id and again.attempts == 2 and again.worker == "w2"
    # The stale worker wakes up: its heartbeat, finish and fail are all refused.
    assert store.heartbeat(job.id, "dead", 0.9, 30) is False
    assert store.finish_job(job.id, "dead", ["x"]) is False
    assert store.fail_job(job.id, "dead", "boom", retry=False) is False
    assert store.finish_job(job.id, "w2", ["artifacts/a.mp4"]) is True
    assert store.finish_job(job.id, "w2", ["artifacts/a.mp4"]) is False   # exactly once
    done = store.get_job(job.id)
    assert (done.status, done.progress, done.artifacts, done.attempts) == ("succeeded", 1.0, ["artifacts/a.mp4"], 2)
    assert [e["status"] for e in store.events(job.id)] == ["queued", "running", "running", "succeeded"]
    store.close()


def test_attempt_limit_on_retry_and_on_lost_leases(url):
    store = open_store(url, max_attempts=2)
    a, b = _new(store, 2)
    store.claim_job("w", 30)
    assert store.fail_job(a.id, "w", "flaky", retry=True)
    assert store.get_job(a.id).status == "queued"
    assert store.claim_job("w", 30).id == a.id   # oldest first, so a again
    store.fail_job(a.id, "w", "flaky again", retry=True)
    fa = store.get_job(a.id)
    assert (fa.status, fa.error, fa.attempts) == ("failed", "flaky again", 2)
    # A job whose workers keep dying fails instead of being claimed for ever.
    for _ in range(2):
        assert store.claim_job("w", 0.01).id == b.id
        time.sleep(0.03)
    assert store.claim_job("w", 30) is None
    fb = store.get_job(b.id)
    assert fb.status == "failed" and "lease expired" in fb.error
    store.close()


def test_concurrent_claims_never_duplicate(url):
    store = open_store(url)
    jobs = _new(store, 200)
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()
    errors = []

    def hammer(w: int) -> None:
        try:
            own = open_store(url) if w % 2 else store   # own connections and one shared store object
            while True:
                job = own.claim_job(f"w{w}", 60)
                if job is None:
                    return
                with lock:
                    claimed.setdefault(job.id, []).append(f"w{w}")
                assert own.finish_job(job.id, f"w{w}", [])
            if own is not store:
                own.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(8)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    assert not errors
    assert sorted(claimed) == sorted(j.id for j in jobs)
    assert all(len(v) == 1 for v in claimed.values())
    assert len({w for v in claimed.values() for w in v}) >= 2   # the work really was shared
    done, _ = store.list_jobs(key_id="k1", status="succeeded", limit=1000)
    assert len(done) == 200
    print(f"\n200 claims+finishes by 8 threads: {wall * 1000:.0f} ms ({200 / wall:.0f} jobs/s)")
    store.close()


def test_migrates_a_v1_database_forward(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, "sqlite", target=1) == 1
    conn.execute("INSERT INTO jobs (id, key_id, kind, status, progress, request, workdir, artifacts, attempts, created, updated) "
                 "VALUES ('old1', 'k1', 'render', 'queued', 0, '{\"script\": \"a.yaml\"}', '/w', '[]', 0, 1.5, 1.5)")
    conn.execute("INSERT INTO api_keys (id, name, scopes, secret_hash, limits, created) "
                 "VALUES ('key_old', 'ci', '[\"render\"]', 'h1', '{}', 1.0)")
    cols_v1 = {r[1] for r in conn.execute("PRAGMA table_info(jobs)")}
    assert "webhook_url" not in cols_v1
    conn.close()

    store = open_store(f"sqlite:///{path}")
    assert store.schema_version == LATEST == 2
    old = store.get_job("old1")
    assert (old.status, old.request, old.webhook_url, old.cancel_requested, old.created) == ("queued", {"script": "a.yaml"},
                                                                                            None, False, 1.5)
    assert store.get_key_by_hash("h1")["id"] == "key_old"
    assert store.claim_job("w", 30).id == "old1"
    assert [e["status"] for e in store.events("old1")] == ["running"]   # history starts at the upgrade
    store.close()
    # Reopening is a no-op: no step runs twice.
    store = open_store(f"sqlite:///{path}")
    versions = sqlite3.connect(path).execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert versions == [(1,), (2,)]
    store.close()


def test_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_version (version, applied) VALUES (99, 0)")
    conn.close()
    with pytest.raises(AvatarkitError, match="newer than this release"):
        open_store(f"sqlite:///{path}")


def test_keys(url):
    store = open_store(url)
    kid = store.create_key("ci", ["render", "read"], "hash-1", {"jobs_per_hour": 10})
    other = store.create_key("admin", ["admin"], "hash-2", {})
    assert kid.startswith("key_") and kid != other
    k = store.get_key_by_hash("hash-1")
    assert (k["id"], k["name"], k["scopes"], k["limits"], k["revoked"]) == (kid, "ci", ["render", "read"], {"jobs_per_hour": 10}, None)
    assert "secret_hash" not in k
    with pytest.raises(StoreError, match="secret_hash"):
        store.create_key("dup", [], "hash-1", {})
    store.revoke_key(kid)
    assert store.get_key_by_hash("hash-1") is None
    listed = {x["id"]: x for x in store.list_keys()}
    assert listed[kid]["revoked"] is not None and listed[other]["revoked"] is None
    with pytest.raises(StoreError, match="no key"):
        store.revoke_key("key_missing")
    store.close()


def test_bad_urls(tmp_path):
    with pytest.raises(StoreError, match="absolute"):
        open_store("sqlite:///relative.db")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/missing/jobs.db")
    with pytest.raises(StoreError, match="expected sqlite"):
        open_store("mysql://x")


def test_postgres_restart_under_an_open_store(pg_owned):
    """Every thread's connection dies with the server; each call after the restart reconnects and nothing runs twice."""
    from concurrent.futures import ThreadPoolExecutor

    store = open_store(pg_owned.url, reconnect_s=20)
    a, b = _new(store, 2)
    with ThreadPoolExecutor(1) as other:   # a second thread, with its own connection, alive across the restart
        assert other.submit(store.claim_job, "w1", 60).result().id == a.id
        pg_owned.restart()
        assert store.get_job(a.id).status == "running"             # the main thread's connection was dead
        assert other.submit(store.finish_job, a.id, "w1", ["artifacts/a.mp4"]).result() is True
        # Down for a while: the call waits for the server instead of failing.
        pg_owned.stop()
        threading.Timer(1.0, pg_owned.start).start()
        t0 = time.monotonic()
        assert store.claim_job("w2", 60).id == b.id
        assert time.monotonic() - t0 >= 0.9
        assert other.submit(store.heartbeat, b.id, "w2", 0.5, 60).result() is True   # that thread's connection died too
    (c,) = _new(store)
    assert store.claim_job("w2", 60).id == c.id
    assert store.reconnects >= 3
    assert [e["status"] for e in store.events(a.id)] == ["queued", "running", "succeeded"]
    assert [e["status"] for e in store.events(b.id)] == ["queued", "running"]
    assert store.get_job(b.id).attempts == 1
    assert len(store.list_jobs(key_id="k1")[0]) == 3
    store.close()


def test_postgres_down_longer_than_reconnect_s_is_an_error_then_recovers(pg_owned):
    store = open_store(pg_owned.url, reconnect_s=0.5)
    (a,) = _new(store)
    pg_owned.stop()
    try:
        with pytest.raises(StoreUnavailable, match="cannot connect"):
            store.get_job(a.id)
    finally:
        pg_owned.start()
    assert store.get_job(a.id).status == "queued"
    store.close()


class _CommitAnswerLost:
    """A psycopg connection whose next COMMIT is cut: the server gets it (`reaches=True`) or not, the client only sees the cut."""

    def __init__(self, real, reaches: bool):
        self.real, self.reaches, self.armed = real, reaches, True

    def cursor(self):
        owner, raw = self, self.real.cursor()

        class Cursor:
            def execute(self, sql, args=None):
                if sql == "COMMIT" and owner.armed:
                    import psycopg

                    owner.armed = False
                    if owner.reaches:
                        raw.execute(sql)
                    owner.real.close()
                    raise psycopg.OperationalError("server closed the connection unexpectedly")
                return raw.execute(sql, args)

            def __getattr__(self, name):
                return getattr(raw, name)

        return Cursor()

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("reaches", [True, False], ids=["committed", "not-committed"])
def test_a_commit_whose_answer_is_lost_applies_once(pg_owned, reaches):
    """Whether or not the cut COMMIT went through, the write lands exactly once and the caller gets its true result."""
    store = open_store(pg_owned.url)

    def cut_next_commit():
        conn = store._conn()
        flaky = store._local.conn = _CommitAnswerLost(conn, reaches)
        store._conns[threading.current_thread()] = flaky

    cut_next_commit()
    job, created = store.create_job(key_id="k1", kind="render", request={"x": 1}, workdir="/w")
    assert created and len(store.list_jobs(key_id="k1")[0]) == 1
    cut_next_commit()
    assert store.claim_job("w1", 60).id == job.id
    assert store.get_job(job.id).attempts == 1
    cut_next_commit()
    assert store.finish_job(job.id, "w1", ["artifacts/a.mp4"]) is True
    assert [e["status"] for e in store.events(job.id)] == ["queued", "running", "succeeded"]
    assert store.reconnects == (0 if reaches else 3)
    store.close()


def test_connections_of_ended_threads_are_closed(url):
    """A worker runs each job's heartbeat in a new thread: their connections must not pile up (PostgreSQL caps them)."""
    store = open_store(url)
    (job,) = _new(store)

    def server_sessions() -> int | None:
        if not url.startswith("postgresql"):
            return None
        import psycopg

        with psycopg.connect(url, autocommit=True) as c:
            return c.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").fetchone()[0]

    before = server_sessions()
    for _ in range(30):
        t = threading.Thread(target=store.get_job, args=(job.id,))
        t.start()
        t.join()
    assert len(store._conns) <= 2   # this thread's and the last thread's
    if before is not None:
        assert server_sessions() <= before + 1
    store.close()
