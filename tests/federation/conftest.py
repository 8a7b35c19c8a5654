"""Fixtures of the hospital-network tests."""

from __future__ import annotations

import pytest

from tests.federation.nodes import Network, start_network

CLOCK_SKEW_SECONDS = 3600  # node3's clock runs an hour ahead (tests/federation/skewed_clock.py)


@pytest.fixture(scope="session")
def network(tmp_path_factory) -> Network:
    """Three real nodes (node1..node3), each a web server and a Celery worker on a database,
    broker prefix and var dir of its own, every one trusting the other two as log and witness."""
    net = start_network(3, tmp_path_factory.mktemp("network"), skew={"node3": CLOCK_SKEW_SECONDS})
    yield net
    net.stop()
