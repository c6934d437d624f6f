"""Test-wide settings: asyncio as the only anyio backend."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
