"""The fault tests' shared fixtures."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.faults._nats_servers import NatsServer


@pytest.fixture
def servers() -> Iterator[list[NatsServer]]:
    """The test's nats-server processes, every one killed at the end whatever happened."""
    started: list[NatsServer] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL)
