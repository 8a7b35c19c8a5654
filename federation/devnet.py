"""Several QMedChain nodes on one machine, for `make network` (bin/network) and the three-node
tests (tests/federation/nodes.py).

A node is a set of processes of its own: a web server and a Celery worker with beat, on its own
database, broker, var dir (keys, cache, blobs) and log origin. Nodes are peered the way an
operator does it: `manage.py federation show-keys --json` on each, `federation add-peer` on
each for the others. Nothing here imports Django; it drives manage.py and celery as children.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess  # nosec B404
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# inherited variables that would point a node at another node's (or the caller's) services
_NOT_INHERITED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_PREFIX",
    "CACHE_URL",
    "REDIS_URL",
    "QMC_BLOB_DIR",
)

T = TypeVar("T")
R = TypeVar("R")


class NodeError(RuntimeError):
    """A node's process failed to start or a command of it failed (with its output)."""


@dataclass
class Node:
    name: str  # "node1": its origin is node1.<domain>/ledger
    port: int
    var_dir: Path
    database_url: str
    broker_url: str = ""  # "" = the filesystem broker under var_dir
    broker_prefix: str = ""  # key prefix on a shared Redis database
    domain: str = "qmedchain.test"
    display_name: str = ""
    env_extra: dict[str, str] = field(default_factory=dict)
    launcher: list[str] = field(default_factory=list)  # argv before manage.py (the web server only)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def origin(self) -> str:
        return f"{self.name}.{self.domain}/ledger"

    @property
    def witness_name(self) -> str:
        return f"{self.name}.{self.domain}/witness"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, what: str) -> Path:
        return self.var_dir / f"{what}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        env.update(
            DJANGO_SETTINGS_MODULE="portal.settings",
            PYTHONUNBUFFERED="1",
            QMC_VAR_DIR=str(self.var_dir),
            DATABASE_URL=self.database_url,
            LEDGER_ORIGIN=self.origin,
            QMC_WITNESS_NAME=self.witness_name,
            QMC_BASE_URL=self.url,
            QMC_NODE_NAME=self.display_name or self.name,
        )
        if self.broker_url:
            env["CELERY_BROKER_URL"] = self.broker_url
        if self.broker_prefix:
            env["CELERY_BROKER_PREFIX"] = self.broker_prefix
        env.update(self.env_extra)
        return env

    def manage(
        self, *args: str, timeout: float = 180.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `manage.py ARGS` as this node; NodeError with its output when it fails."""
        # this interpreter and manage.py, no shell
        proc = subprocess.run(  # nosec B603
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise NodeError(
                f"{self.name}: manage.py {' '.join(args[:2])} failed:\n{proc.stdout}{proc.stderr}"
            )
        return proc

    # --- processes -------------------------------------------------------------------------

    def _spawn(self, what: str, argv: list[str]) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(what), "ab") as log:
            # argv built by this module (manage.py, celery), no shell
            self.procs[what] = subprocess.Popen(  # nosec B603
                argv, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_web(self) -> None:
        self._spawn(
            "web",
            [
                *(self.launcher or [sys.executable]),
                "manage.py",
                "runserver",
                f"127.0.0.1:{self.port}",
                "--noreload",
                "--skip-checks",
            ],
        )

    def start_worker(self) -> None:
        self.log_path("worker").write_bytes(b"")  # readiness is read from this run's log
        self._spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--beat",
                "-s",
                str(self.var_dir / "celerybeat-schedule"),
                "--loglevel=INFO",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{self.name}-{os.getpid()}@%h",
            ],
        )

    def start(self) -> None:
        self.start_web()
        self.start_worker()

    def running(self, what: str) -> bool:
        p = self.procs.get(what)
        return p is not None and p.poll() is None

    def _exited(self, what: str) -> None:
        p = self.procs.get(what)
        if p is not None and p.poll() is not None:
            tail = self.log_path(what).read_text(errors="replace")[-3000:]
            raise NodeError(f"{self.name}: the {what} process exited ({p.returncode}):\n{tail}")

    def web_ready(self) -> bool:
        self._exited("web")
        try:
            # a node of ours, http://127.0.0.1
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:  # nosec B310
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def worker_ready(self) -> bool:
        self._exited("worker")
        return " ready." in self.log_path("worker").read_text(errors="replace")

    def wait_ready(self, *, timeout: float = 90.0, web: bool = True, worker: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (not web or self.web_ready()) and (not worker or self.worker_ready()):
                return
            time.sleep(0.2)
        raise NodeError(f"{self.name}: not ready after {timeout:g} s (logs in {self.var_dir})")

    def stop(self, what: str | None = None, *, timeout: float = 20.0) -> None:
        """Stop one process ("web" / "worker") or all of them: SIGTERM to its process group,
        SIGKILL when it does not exit in time."""
        names = [what] if what else list(self.procs)
        for n in names:
            p = self.procs.get(n)
            if p is not None and p.poll() is None:
                _signal_group(p, signal.SIGTERM)
        for n in names:
            p = self.procs.pop(n, None)
            if p is None:
                continue
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait(timeout=10)


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """fn over items at once (each mostly waits for a child process); the first error raises."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(fn, items))


def start_all(nodes: Sequence[Node], *, timeout: float = 90.0) -> None:
    for n in nodes:
        n.start()
    try:
        for n in nodes:
            n.wait_ready(timeout=timeout)
    except BaseException:
        stop_all(nodes)
        raise


def stop_all(nodes: Sequence[Node]) -> None:
    for n in nodes:
        for p in n.procs.values():
            if p.poll() is None:
                _signal_group(p, signal.SIGTERM)
    for n in nodes:
        n.stop()


# --- databases ---------------------------------------------------------------------------------


def migrations_digest() -> str:
    """Changes whenever a migration or a pinned dependency (their migrations) does."""
    h = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    h.update((ROOT / "requirements.txt").read_bytes())
    return h.hexdigest()[:12]


def with_database(url: str, name: str) -> str:
    """The same server URL with another database (path) name."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def _pg_connect(server_url: str):  # type: ignore[no-untyped-def]
    return psycopg.connect(with_database(server_url, "postgres"), autocommit=True)


def _pg_exists(cur, name: str) -> bool:  # type: ignore[no-untyped-def]
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cur.fetchone() is not None


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain database name: {name!r}")
    return f'"{name}"'


def fresh_postgres_databases(nodes: Sequence[Node], *, migrate_env: Node) -> None:
    """Each node's PostgreSQL database created new from a migrated template: the template
    (`qmc_nodetpl_<digest>`) is built once per set of migrations and kept for the next run."""
    server = nodes[0].database_url
    template = f"qmc_nodetpl_{migrations_digest()}"
    with _pg_connect(server) as conn, conn.cursor() as cur:
        if not _pg_exists(cur, template):
            building = f"{template}_{os.getpid()}"
            cur.execute(f"DROP DATABASE IF EXISTS {_ident(building)} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {_ident(building)}")
            tpl_node = Node(
                name=migrate_env.name,
                port=migrate_env.port,
                var_dir=migrate_env.var_dir,
                database_url=with_database(server, building),
            )
            tpl_node.manage("migrate", "--noinput")
            # older templates of other migration sets are of no further use
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'qmc\\_nodetpl\\_%'")
            for (old,) in cur.fetchall():
                if old != building and len(old) == len(template):
                    try:  # not WITH (FORCE): another run may be copying it right now
                        cur.execute(f"DROP DATABASE IF EXISTS {_ident(old)}")
                    except psycopg.errors.ObjectInUse:
                        pass
            try:
                cur.execute(f"ALTER DATABASE {_ident(building)} RENAME TO {_ident(template)}")
            except psycopg.errors.DuplicateDatabase:  # another run built it meanwhile
                cur.execute(f"DROP DATABASE {_ident(building)} WITH (FORCE)")
        for n in nodes:
            name = urlsplit(n.database_url).path.lstrip("/")
            cur.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {_ident(name)} TEMPLATE {_ident(template)}")


def drop_postgres_databases(nodes: Sequence[Node]) -> None:
    with _pg_connect(nodes[0].database_url) as conn, conn.cursor() as cur:
        for n in nodes:
            name = urlsplit(n.database_url).path.lstrip("/")
            cur.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")


def fresh_sqlite_databases(nodes: Sequence[Node], template_dir: Path) -> None:
    """Each node's SQLite file copied from one migrated file (built once per migration set)."""
    template_dir.mkdir(parents=True, exist_ok=True)
    template = template_dir / f"template-{migrations_digest()}.sqlite3"
    if not template.exists():
        building = template.with_suffix(f".{os.getpid()}.tmp")
        building.unlink(missing_ok=True)
        n0 = nodes[0]
        Node(name=n0.name, port=n0.port, var_dir=n0.var_dir, database_url=f"sqlite:///{building}").manage(
            "migrate", "--noinput"
        )
        building.replace(template)
    for n in nodes:
        path = Path(urlsplit(n.database_url).path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, path)


def flush_broker_prefix(redis_url: str, prefix: str) -> None:
    """Delete a node's broker keys from a shared Redis database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# --- peering -----------------------------------------------------------------------------------


def show_keys(node: Node) -> dict[str, object]:
    out = node.manage("federation", "show-keys", "--json").stdout
    keys = json.loads(out)
    if not isinstance(keys, dict) or keys.get("origin") != node.origin:
        raise NodeError(f"{node.name}: show-keys printed {out[:200]!r}")
    return keys


def add_peer(node: Node, other: Node, keys: dict[str, object], *, role: str = "both") -> None:
    vkeys = [*_strings(keys.get("log")), *_strings(keys.get("witness"))]
    args = ["federation", "add-peer", "--origin", other.origin, "--url", other.url, "--role", role]
    args += ["--name", other.display_name or other.name]
    for v in vkeys:
        args += ["--vkey", v]
    node.manage(*args)


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def peer_all(nodes: Sequence[Node]) -> dict[str, dict[str, object]]:
    """Every node trusts every other one as a log and a witness (role both), with the keys each
    printed itself. Returns {node name: its show-keys JSON}."""
    keys = dict(zip([n.name for n in nodes], parallel(show_keys, nodes), strict=True))

    def peer_one(node: Node) -> None:
        for other in nodes:
            if other is not node:
                add_peer(node, other, keys[other.name])

    parallel(peer_one, nodes)
    return keys
