"""Frame sources named by a camera's `source` setting (RTSP, a looped file, or a script)."""

from __future__ import annotations

from pathlib import Path

from lfr.clock import Clock
from lfr.errors import ConfigError
from lfr.site import CameraConfig
from lfr.testing import ScriptedFrameSource
from lfr.vision.types import FrameSource

__all__ = ["open_source", "parse_script"]


def parse_script(text: str) -> list[tuple[str, ...]]:
    """`alice,,bob|carol` -> [("alice",), (), ("bob", "carol")]."""
    if not text:
        return []
    return [tuple(p for p in frame.split("|") if p) for frame in text.split(",")]


def open_source(camera: CameraConfig, clock: Clock) -> FrameSource:
    """:raises ConfigError: the source is neither rtsp://, scripted: nor an existing file."""
    src = camera.source
    if src.startswith(("rtsp://", "rtsps://")):
        from lfr.video.rtsp import RtspSource

        return RtspSource(src, max_fps=camera.analyse_fps)
    if src.startswith("scripted:"):
        fps = camera.analyse_fps or 5.0
        return ScriptedFrameSource(
            f"scripted://{camera.id}",
            script=parse_script(src.removeprefix("scripted:")) or [()],
            clock=clock,
            interval_s=1.0 / fps,
            fps=fps,
            loop=True,
        )
    path = Path(src.removeprefix("file://"))
    if not path.is_file():
        raise ConfigError(
            f"camera {camera.id}: source {src!r} is not rtsp://..., scripted:... or a video file"
        )
    from lfr.video.file import FileSource

    return FileSource(path, loop=True, realtime=True, max_fps=camera.analyse_fps)
