"""Fixtures for the video tests: the shared clips, a loopback RTSP server, a scripted recogniser."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lfr.config import settings
from lfr.video.rtsp_server import RtspClipServer

warnings.filterwarnings("ignore", category=DeprecationWarning, module="aioice")


@pytest.fixture(scope="session")
def video_dir() -> Path:
    return settings().video_dir


@pytest.fixture(scope="session")
def hamilton(video_dir: Path) -> Path:
    path = video_dir / "hamilton_short_clip.mp4"
    assert path.is_file(), f"shared clip missing: {path} (set LFR_SHARED)"
    return path


@pytest.fixture
async def rtsp_server(video_dir: Path) -> AsyncIterator[RtspClipServer]:
    async with RtspClipServer(video_dir) as server:
        yield server
