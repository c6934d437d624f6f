"""Errors of the video layer: why a source could not give frames, and whether to retry.

    LfrError
    └── VideoError
        ├── SourceOpenError     the source cannot be opened or decoded at all (missing or corrupt
        │                       file, no video stream, a codec FFmpeg cannot decode); not retried
        ├── StreamInterrupted   a live source dropped or timed out; call `recv()` again to
        │                       reconnect after `retry_in_s`
        └── EndOfStream         the source ended cleanly (end of file, publisher left for good)

Messages name the source (credentials removed here, whoever raises them: `lfr.video.redact`)
and say what to do next. They never carry pixels.
"""

from __future__ import annotations

from lfr.errors import LfrError
from lfr.video.redact import redact_url, redact_urls

__all__ = ["EndOfStream", "SourceOpenError", "StreamInterrupted", "VideoError"]


class VideoError(LfrError):
    """Base of the video layer's errors."""


class SourceOpenError(VideoError):
    """The source cannot give video at all; retrying will not help until someone fixes it."""

    def __init__(self, url: str, reason: str, hint: str = "") -> None:
        self.url = url = redact_url(url)
        self.reason = reason = redact_urls(reason)
        message = f"cannot read video from {url}: {reason}"
        super().__init__(f"{message}. {hint}" if hint else message)


class StreamInterrupted(VideoError):
    """A live stream was lost; the next `recv()` waits `retry_in_s` and reconnects."""

    def __init__(self, url: str, reason: str, retry_in_s: float | None) -> None:
        self.url = url = redact_url(url)
        self.reason = reason = redact_urls(reason)
        self.retry_in_s = retry_in_s
        retry = f"; retrying in {retry_in_s:.1f} s" if retry_in_s is not None else ""
        super().__init__(f"stream {url} lost: {reason}{retry}")


class EndOfStream(VideoError):
    """The source has no more frames (as aiortc's `MediaStreamError` for a track)."""
