"""A real IPFS node for the storage tests: js-ipfs (``jsipfs daemon``), see tests/imaging/ipfs_node.sh.

``ipfs_daemon`` (session scope) installs the pinned js-ipfs if needed, initialises a fresh repo
in a temporary directory (``test`` profile: API and gateway on free 127.0.0.1 ports, no
bootstrap peers, no MDNS; the gRPC endpoint and swarm listeners off), starts the daemon
``--offline`` in its own process group, waits until ``POST /api/v0/version`` answers and
yields its URL (``http://127.0.0.1:<port>``) and repo path; ``ipfs_node`` is just the URL.
At the end the process group is terminated. If node/npm or the install is unavailable the
tests are skipped -- except under ``CI=true``, where that is an error, so CI never silently
loses them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "ipfs_node.sh"
START_TIMEOUT = 60.0


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real IPFS node unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"real IPFS node unavailable: {reason}")


def _install() -> str:
    try:
        out = subprocess.run(
            ["bash", str(SCRIPT), "install"], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"{SCRIPT.name} install: {exc}")
    if out.returncode != 0:
        _unavailable(f"{SCRIPT.name} install exited {out.returncode}: {out.stderr.strip()[-800:]}")
    return out.stdout.strip().splitlines()[-1]


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


@dataclass(frozen=True)
class IPFSDaemon:
    url: str  # RPC base URL, http://127.0.0.1:<port>
    repo: Path  # the node's IPFS_PATH
    log: Path


@pytest.fixture(scope="session")
def ipfs_node(ipfs_daemon) -> str:
    """The RPC base URL of the running node, e.g. ``http://127.0.0.1:41234``."""
    return ipfs_daemon.url


@pytest.fixture(scope="session")
def ipfs_daemon(tmp_path_factory):
    jsipfs = _install()
    base = tmp_path_factory.mktemp("ipfs-node")
    repo = base / "repo"
    log = base / "daemon.log"
    env = {**os.environ, "IPFS_PATH": str(repo), "NO_UPDATE_NOTIFIER": "1", "DEBUG": ""}
    init = subprocess.run(
        [jsipfs, "init", "--empty-repo", "--profile", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, f"jsipfs init failed: {init.stdout}{init.stderr}"
    config_path = repo / "config"
    config = json.loads(config_path.read_text())
    config["Addresses"].update(RPC="", Swarm=[])  # no gRPC on the fixed default port, no listeners
    config_path.write_text(json.dumps(config, indent=2))

    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [jsipfs, "daemon", "--offline", "--enable-preload=false"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield IPFSDaemon(url=_wait_ready(proc, repo / "api", log), repo=repo, log=log)
    finally:
        _stop(proc)


def _wait_ready(proc: subprocess.Popen, api_file: Path, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no api file yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jsipfs daemon exited {proc.returncode}:\n{_log_tail(log)}", pytrace=False)
        addr = api_file.read_text().strip() if api_file.exists() else ""  # written by the daemon
        m = re.fullmatch(r"/ip4/127\.0\.0\.1/tcp/(\d+)/http", addr)
        if m:
            url = f"http://127.0.0.1:{m.group(1)}"
            try:
                resp = httpx.post(url + "/api/v0/version", timeout=2)
                if resp.status_code == 200 and resp.json().get("Version"):
                    return url
                last = f"version: HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                last = f"version: {exc!r}"
        time.sleep(0.1)
    pytest.fail(
        f"jsipfs daemon not ready after {START_TIMEOUT:.0f} s ({last}):\n{_log_tail(log)}", pytrace=False
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
