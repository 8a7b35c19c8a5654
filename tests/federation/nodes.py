"""Real nodes for the network tests: separate processes (a web server and a Celery worker with
beat each), separate databases and ports, peered with the real CLI (`federation.devnet`).

PostgreSQL databases `qmc_<pid>_node1`... (prefix from QMC_NODES_DB_PREFIX) on the server of the
test run's DATABASE_URL, created fresh from a migrated template; the broker is the test run's
Redis database with a key prefix per node; each node's cache is a file cache in its own var
dir. Without PostgreSQL and Redis (the embedded run) the nodes use SQLite files and the
filesystem broker instead. Every process is stopped, and every database and broker key
removed, when the network stops (and at interpreter exit, should a test run die first).
"""

from __future__ import annotations

import atexit
import base64
import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from federation import devnet
from federation.devnet import Node
from ledger import note

SKEW_LAUNCHER = [sys.executable, "tests/federation/skewed_clock.py"]

# short periods, so that what takes minutes in production takes seconds here
FAST_ENV = {
    "FEDERATION_MONITOR_SECONDS": "1",
    "FEDERATION_PUSH_SECONDS": "1",
    "FEDERATION_HTTP_TIMEOUT": "3",
    "LEDGER_SIGN_THREADS": "1",
    "QMC_THROTTLE_ANON": "100000/min",  # every node asks from 127.0.0.1
    "QMC_WITNESS_PER_MINUTE": "100000",
    "LOG_LEVEL": "INFO",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Network:
    nodes: list[Node]
    base_dir: Path
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # node name -> show-keys JSON
    postgres: bool = False
    redis_url: str = ""

    def __getitem__(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # --- over HTTP ---------------------------------------------------------------------------

    def get(self, node: Node | str, path: str, **kw: Any) -> requests.Response:
        node = self[node] if isinstance(node, str) else node
        return requests.get(node.url + path, timeout=10, **kw)

    def checkpoint(self, node: Node | str) -> note.Checkpoint:
        """The node's newest checkpoint (`/tlog/checkpoint`), verified with its log keys."""
        node = self[node] if isinstance(node, str) else node
        r = self.get(node, "/tlog/checkpoint")
        r.raise_for_status()
        text, _ = note.open_note(r.text, self.log_verifiers(node.name))
        return note.parse_checkpoint(text)

    def entries(self, node: Node | str) -> list[dict[str, Any]]:
        r = self.get(node, "/api/v1/ledger/entries", params={"start": 0, "end": 10**6})
        if r.status_code == 400:  # end beyond the tree: ask for the size first
            size = self.get(node, "/api/v1/ledger/entries", params={"start": 0, "end": 0}).json()["tree_size"]
            r = self.get(node, "/api/v1/ledger/entries", params={"start": max(0, size - 1000), "end": size})
        r.raise_for_status()
        return list(r.json()["entries"])

    def log_verifiers(self, name: str) -> list[note.Verifier]:
        return [note.parse_vkey(v) for v in self.keys[name]["log"]]

    def witness_verifiers(self, name: str) -> list[note.Verifier]:
        return [note.parse_vkey(v) for v in self.keys[name]["witness"]]

    # --- in a node's database ---------------------------------------------------------------

    def sql(self, node: Node | str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query in the node's own database (what a test cannot see over
        HTTP without logging in: evidence rows, peers' trust)."""
        node = self[node] if isinstance(node, str) else node
        if self.postgres:
            import psycopg

            with psycopg.connect(node.database_url, autocommit=True) as conn:
                return list(conn.execute(query, params).fetchall())
        import sqlite3

        with sqlite3.connect(node.database_url.removeprefix("sqlite:///"), timeout=30) as conn:
            return list(conn.execute(query.replace("%s", "?"), params).fetchall())

    # --- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        devnet.stop_all(self.nodes)
        if self.redis_url:
            for n in self.nodes:
                devnet.flush_broker_prefix(self.redis_url, n.broker_prefix)
        if self.postgres:
            devnet.drop_postgres_databases(self.nodes)


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def start_network(count: int, base_dir: Path, *, skew: dict[str, float] | None = None) -> Network:
    """`count` nodes started, ready and peered (each trusts every other as log and witness)."""
    shutil.rmtree(base_dir, ignore_errors=True)
    db_url = os.environ.get("DATABASE_URL", "")
    broker_url = os.environ.get("CELERY_BROKER_URL", "")
    postgres = db_url.startswith(("postgres://", "postgresql://"))
    redis_url = broker_url if broker_url.startswith("redis://") else ""
    xdist = os.environ.get("PYTEST_XDIST_WORKER", "")  # each xdist worker its own network
    # per test run (two runs on one server must not drop each other's nodes)
    prefix = os.environ.get("QMC_NODES_DB_PREFIX") or f"qmc_{xdist}{os.getpid()}_node"
    nodes = []
    for i in range(1, count + 1):
        name = f"node{i}"
        var_dir = base_dir / name
        env = {**FAST_ENV, "SECRET_KEY": secrets.token_hex(32), "QMC_MASTER_KEY": secrets.token_hex(32)}
        launcher: list[str] = []
        if skew and name in skew:
            env["QMC_TEST_CLOCK_SKEW"] = str(skew[name])
            launcher = SKEW_LAUNCHER
        nodes.append(
            Node(
                name=name,
                port=_free_port(),
                var_dir=var_dir,
                database_url=devnet.with_database(db_url, f"{prefix}{i}")
                if postgres
                else f"sqlite:///{var_dir / 'db.sqlite3'}",
                broker_url=redis_url,
                broker_prefix=f"qmcnet{os.getpid()}-{name}:" if redis_url else "",
                display_name=f"Hospital {i}",
                env_extra=env,
                launcher=launcher,
            )
        )
    net = Network(nodes=nodes, base_dir=base_dir, postgres=postgres, redis_url=redis_url)
    atexit.register(net.stop)
    if postgres:
        devnet.fresh_postgres_databases(nodes, migrate_env=nodes[0])
    else:
        devnet.fresh_sqlite_databases(nodes, base_dir / "template")
    try:
        for n in nodes:  # the processes boot while the CLI peers the nodes
            n.start()
        net.keys = devnet.peer_all(nodes)
        for n in nodes:
            n.wait_ready()
    except BaseException:
        net.stop()
        raise
    return net


def cosigners(signed: str, net: Network, *names: str) -> dict[str, int]:
    """{node name: timestamp} of the nodes among `names` whose Ed25519 cosignature on the
    signed checkpoint verifies with the key that node printed."""
    out = {}
    for name in names:
        keys = [v for v in net.witness_verifiers(name) if v.algorithm == note.ALG_COSIG_V1]
        for _v, ts in note.verified_signatures(signed, keys):
            out[name] = int(ts or 0)
    return out


def leaf_hashes_from_tiles(net: Network, node: Node | str, size: int) -> list[bytes]:
    """The first `size` (< 256) leaf hashes of a node's log, from its level-0 tile."""
    path = "/tlog/tile/0/000" + ("" if size == 256 else f".p/{size}")
    r = net.get(node, path)
    r.raise_for_status()
    return [r.content[i : i + 32] for i in range(0, len(r.content), 32)]


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
