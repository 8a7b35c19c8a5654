"""Harness for the independent C2SP implementation: aics-witness 0.1.0 and aics-tlog 0.2.1
(PyPI), run as subprocesses by the Python >= 3.12 of var/interop-venv (tests/interop/README.md).

* `interop_python()` installs the venv if needed (tests/interop/interop_venv.sh) and returns
  its interpreter; when it cannot, the test is skipped, or fails under ``CI=true``.
* `AicsWitness.start(...)` runs their tlog-witness (``python -m aics_witness``: ``init``,
  ``add-log`` per log key, ``serve`` on a free 127.0.0.1 port) and `stop()` ends it.
* `driver(op, **request)` runs tests/interop/aics_driver.py (their Python API, JSON in and
  out) and `aics_tlog_cli(*args)` their verifier's command line (one JSON object out).

Every subprocess runs isolated (``python -I``: no PYTHONPATH, no working directory on the
path), so nothing of ours is importable there, and without proxy variables (all traffic is
to 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
INSTALL = HERE / "interop_venv.sh"
DRIVER = HERE / "aics_driver.py"
START_TIMEOUT = 30.0
_LISTENING = re.compile(r"listening on (http://\S+) ")
_python: str | None = None


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"aics-witness/aics-tlog unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(f"aics-witness/aics-tlog unavailable: {reason}")


def interop_python() -> str:
    """The interpreter of var/interop-venv, installed (pinned) on first use."""
    global _python
    if _python is None:
        try:
            out = subprocess.run(
                ["bash", str(INSTALL), "install"], capture_output=True, text=True, timeout=600, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            unavailable(f"{INSTALL.name}: {exc}")
        if out.returncode != 0:
            unavailable(f"{INSTALL.name} exited {out.returncode}: {out.stderr.strip()[-800:]}")
        _python = out.stdout.strip().splitlines()[-1]
    return _python


def _env() -> dict[str, str]:
    drop = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    env = {k: v for k, v in os.environ.items() if k.lower() not in drop and not k.startswith("PYTHON")}
    return env | {"NO_PROXY": "*"}


def run(
    args: list[str], *, stdin: str | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -I <args>` under the interop venv."""
    return subprocess.run(
        [interop_python(), "-I", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
        cwd=cwd,
    )


def driver(op: str, **request: Any) -> dict[str, Any]:
    """Run one driver operation (see aics_driver.py); raise if it broke rather than answered."""
    out = run([str(DRIVER)], stdin=json.dumps({"op": op, **request}))
    try:
        result: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"aics_driver {op}: exit {out.returncode}, no JSON: {out.stderr[-2000:]}"
        ) from None
    if "exception" in result:
        raise AssertionError(f"aics_driver {op} raised {result['exception']}\n{result['traceback']}")
    return result


def aics_tlog_cli(*args: str) -> tuple[int, dict[str, Any]]:
    """`aics-tlog <args>`: (exit status, its JSON report)."""
    out = run(["-m", "aics_tlog", *args])
    try:
        return out.returncode, json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"aics-tlog {args[0]}: exit {out.returncode}, no JSON: {out.stderr[-2000:]}"
        ) from None


@dataclass
class AicsWitness:
    """A running aics-witness: ``url`` (its prefix included: POST ``url + "/add-checkpoint"``) and
    its cosigner ``vkey``."""

    url: str
    vkey: str
    name: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = field(repr=False, default=None)

    @classmethod
    def start(cls, workdir: Path, name: str, logs: dict[str, list[str]], prefix: str = "") -> AicsWitness:
        """Configure a fresh witness `name` in `workdir` trusting ``{origin: [log vkeys]}``, and serve
        add-checkpoint at ``<prefix>/add-checkpoint`` (``prefix="/witness"``: where our push posts).

        Their witness accepts log keys of type 0x01 (Ed25519) and 0x04 only.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "witness.json"
        init = cls._cli(
            "init",
            "--config",
            str(config),
            "--name",
            name,
            "--listen",
            "127.0.0.1:0",
            "--prefix",
            prefix or "/",
        )
        vkey = init.stdout.strip().splitlines()[-1]
        for origin, vkeys in logs.items():
            for v in vkeys:
                cls._cli("add-log", "--config", str(config), "--origin", origin, "--vkey", v)
        log = workdir / "serve.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen(
                [interop_python(), "-I", "-m", "aics_witness", "serve", "--config", str(config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=_env(),
                start_new_session=True,
            )
        witness = cls(url="", vkey=vkey, name=name, config=config, log=log, proc=proc)
        try:
            witness.url = witness._wait_until_serving()
        except BaseException:
            witness.stop()
            raise
        return witness

    @staticmethod
    def _cli(*args: str) -> subprocess.CompletedProcess[str]:
        out = run(["-m", "aics_witness", *args])
        if out.returncode != 0:
            raise AssertionError(f"aics-witness {args[0]} exited {out.returncode}: {out.stderr[-2000:]}")
        return out

    def _wait_until_serving(self) -> str:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"aics-witness serve exited {self.proc.returncode}: {self.log_tail()}")
            m = _LISTENING.search(self.log.read_text(errors="replace"))
            if m:
                try:
                    root = "/".join(m.group(1).split("/", 3)[:3])  # /healthz is outside the prefix
                    if httpx.get(root + "/healthz", timeout=2).status_code == 200:
                        return m.group(1)
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"aics-witness did not serve within {START_TIMEOUT:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def add_checkpoint(self, body: bytes) -> httpx.Response:
        return httpx.post(self.url + "/add-checkpoint", content=body, timeout=10)

    def status(self) -> dict[str, Any]:
        """``aics-witness status --json``: per log the cosigned size, root and evidence count."""
        doc: dict[str, Any] = json.loads(self._cli("status", "--config", str(self.config), "--json").stdout)
        return doc

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
