"""Test-wide settings: asyncio as the only anyio backend."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def model_pack():
    """The verified default model pack's folder, pulled (npm pack) on first use."""
    from lfr.config import settings
    from lfr.vision.pack import pull_pack

    return pull_pack(settings().model_dir).root
