"""Fixtures for the interop tests against aics-witness / aics-tlog (tests/interop/aics.py).

``aics_witness_factory(name, {origin: [log vkeys]}, prefix="")`` starts one of their witnesses in a fresh
temporary directory; every witness started is stopped when the test ends. Without the interop
venv the tests skip, or fail under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.interop import aics


@pytest.fixture(scope="session")
def aics_python() -> str:
    return aics.interop_python()


@pytest.fixture
def aics_witness_factory(aics_python, tmp_path) -> Iterator[Callable[..., aics.AicsWitness]]:
    started: list[aics.AicsWitness] = []

    def start(name: str, logs: dict[str, list[str]], prefix: str = "") -> aics.AicsWitness:
        w = aics.AicsWitness.start(tmp_path / f"witness-{len(started)}", name, logs, prefix)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
