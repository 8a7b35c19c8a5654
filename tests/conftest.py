"""Shared fixtures: factories, a logged-in client per role, and a REAL Celery worker process.

The worker runs `celery -A portal worker` as a subprocess against the same test database
that pytest-django created (PostgreSQL in `make test`, the SQLite file in the embedded
smoke run) and the broker in CELERY_BROKER_URL (Redis in `make test`, the filesystem
transport in the embedded run). Tests that use it need `django_db(transaction=True)` so
their rows are committed and visible to the worker.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _database_url_for_test_db() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.concurrency = 1  # pool processes; a test that changes it restores it
        self.prefix: list[str] = []  # e.g. setpriv, to run the worker without some capabilities

    def env(self) -> dict:
        env = dict(os.environ)
        env["DATABASE_URL"] = _database_url_for_test_db()
        env["QMC_VAR_DIR"] = str(settings.VAR_DIR)
        env["QMC_BLOB_DIR"] = str(settings.QMC_BLOB_DIR)
        env["SECRET_KEY"] = settings.SECRET_KEY
        env["QMC_MASTER_KEY"] = settings.QMC_MASTER_KEY
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env.update(getattr(self, "extra_env", {}))
        return env

    def start(self, timeout: float = 90.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [
                *self.prefix,
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--loglevel=INFO",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig=signal.SIGKILL) -> None:
        """Kill the whole worker process group (main process and pool children)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()


def _purge_broker() -> None:
    from portal.celery import app

    try:
        app.control.purge()
    except Exception:  # the filesystem transport has nothing stale worth failing for
        pass


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker subprocess on the configured broker and the test database."""
    _purge_broker()
    worker = WorkerProcess(tmp_path_factory.mktemp("celery") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(autouse=True)
def _fresh_append_schedule(monkeypatch):
    """The ledger's per-process append debounce starts empty in every test: a task this
    process scheduled in an earlier test may have been purged from the broker since."""
    from ledger import services

    monkeypatch.setattr(services, "_append_due", [0.0])
    monkeypatch.setattr(services, "_since_append", [0])


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttle counters live in the shared cache (Redis in `make test`, files under the var dir
    otherwise), which outlives a test and the run: every test starts with none."""
    from django.core.cache import cache

    cache.clear()


_FLUSH_RETRY_SQLSTATES = {"40P01", "40001", "55P03"}  # deadlock, serialization failure, lock not available


def _flush_with_retry(original):
    """A transactional test's teardown TRUNCATEs every table while the session's real worker
    may be inside a transaction of its own (heartbeat, lease sweep, ledger appender): the
    TRUNCATE can lose a deadlock to it. Retrying is what any client of PostgreSQL does then;
    the failed attempt was rolled back as a whole."""

    def execute_sql_flush(self, sql_list):
        from django.db import OperationalError

        for attempt in range(20):
            try:
                return original(self, sql_list)
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) not in _FLUSH_RETRY_SQLSTATES or attempt == 19:
                    raise
                time.sleep(0.1 * (attempt + 1))

    return execute_sql_flush


@pytest.fixture(scope="session", autouse=True)
def _flush_survives_a_deadlock_with_the_worker():
    try:
        from django.db.backends.postgresql.operations import DatabaseOperations
    except ImportError:  # no psycopg: the embedded (SQLite) run
        yield
        return
    original = DatabaseOperations.execute_sql_flush
    DatabaseOperations.execute_sql_flush = _flush_with_retry(original)
    yield
    DatabaseOperations.execute_sql_flush = original
