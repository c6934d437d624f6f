"""Blocking PyAV demux+decode shared by the file and RTSP sources. Runs in worker threads.

Decoding every frame is unavoidable with H.264 (frames reference each other), but converting
a 1080p frame to RGB costs a good part of decoding it, so only frames the sampler keeps are
converted, and with the cheapest converter for the format. Errors from FFmpeg are
translated here, once, into the video layer's errors.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import cv2

from lfr.video.errors import EndOfStream, SourceOpenError
from lfr.video.latest import RateSampler
from lfr.video.redact import redact_url, redact_urls
from lfr.vision.types import Frame, Image, SourceInfo

__all__ = ["PyAVReader", "ReaderOptions", "redact_url", "to_rgb"]


def to_rgb(vframe: Any) -> Image:
    """A decoded frame as an RGB array. Planar 4:2:0 (limited range, what H.264 cameras send)
    goes through OpenCV's SIMD converter, about twice as cheap as FFmpeg's swscale at 1080p
    for the same picture (within rounding); anything else through swscale."""
    if vframe.format.name == "yuv420p" and vframe.width % 2 == 0 and vframe.height % 2 == 0:
        return cast(Image, cv2.cvtColor(vframe.to_ndarray(), cv2.COLOR_YUV2RGB_I420))
    return cast(Image, vframe.to_ndarray(format="rgb24"))


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    max_fps: float | None = None  # convert at most this many frames a second (None: all)
    threads: int = 0  # FFmpeg decoder threads (0: let FFmpeg choose)
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    rtsp: bool = False


class PyAVReader:
    """One opened container: `read()` returns the next kept frame or raises `EndOfStream`."""

    def __init__(self, url: str, options: ReaderOptions) -> None:
        import av

        self.url = url
        self.safe_url = redact_url(url)
        self.options = options
        self.sampler = RateSampler(options.max_fps)
        self.frames_decoded = 0
        self._index = 0
        opts: dict[str, str] = {}
        if options.rtsp:
            timeout_us = str(int(options.read_timeout_s * 1_000_000))
            opts = {"rtsp_transport": "tcp", "timeout": timeout_us, "analyzeduration": "1000000"}
        try:
            self._container: Any = av.open(
                url,
                options=opts,
                timeout=(options.open_timeout_s, options.read_timeout_s),
            )
        except FileNotFoundError as exc:
            raise SourceOpenError(self.safe_url, "no such file", "Check the path.") from exc
        except av.error.ExitError as exc:
            raise SourceOpenError(
                self.safe_url,
                f"no answer within {options.open_timeout_s:.0f} s",
                "Check the address and that the camera is on.",
            ) from exc
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceOpenError(self.safe_url, _reason(exc), _hint(options)) from exc
        if not self._container.streams.video:
            self._container.close()
            raise SourceOpenError(
                self.safe_url, "it has no video stream", "Give a file or URL with video in it."
            )
        stream = self._container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None:
            tag = getattr(stream, "codec_tag", "") or "unknown"
            self._container.close()
            raise SourceOpenError(
                self.safe_url,
                f"its video codec (tag {tag!r}) cannot be decoded here",
                "Use H.264 or H.265 (cameras: set the encoder to H.264).",
            )
        if options.threads:
            ctx.thread_count = options.threads
        ctx.thread_type = "AUTO" if not options.rtsp else "SLICE"
        self._stream = stream
        self._time_base = float(stream.time_base) if stream.time_base else 1 / 90000
        rate = stream.average_rate or stream.guessed_rate
        self.info = SourceInfo(
            url=self.safe_url,
            codec=ctx.name,
            width=ctx.width or None,
            height=ctx.height or None,
            fps=float(rate) if rate else None,
        )
        self._frames: Iterator[Any] = self._container.decode(stream)
        self._wall0 = datetime.now(UTC)
        self._mono0 = time.monotonic_ns()

    def read(self) -> Frame:
        """Decode up to the next frame the sampler keeps and convert it to RGB.

        :raises EndOfStream: the container ended.
        :raises SourceOpenError: the data cannot be decoded (corrupt, unsupported codec).
        """
        import av

        while True:
            try:
                vframe = next(self._frames)
            except StopIteration:
                raise EndOfStream(f"{self.safe_url} ended") from None
            except av.error.ExitError as exc:
                raise TimeoutError(
                    f"no data for {self.options.read_timeout_s:.0f} s from {self.safe_url}"
                ) from exc
            except av.error.EOFError:
                raise EndOfStream(f"{self.safe_url} ended") from None
            except (av.error.FFmpegError, OSError) as exc:
                raise SourceOpenError(self.safe_url, _reason(exc), _hint(self.options)) from exc
            self.frames_decoded += 1
            pts_s = (
                vframe.pts * self._time_base
                if vframe.pts is not None
                else self.frames_decoded / (self.info.fps or 25.0)
            )
            if not self.sampler.due(pts_s):
                continue
            image = to_rgb(vframe)
            now = time.monotonic_ns()
            self._index += 1
            captured = self._wall0 + timedelta(microseconds=(now - self._mono0) / 1000)
            return Frame(
                image=image, index=self._index, pts_s=pts_s, captured_at=captured, decoded_ns=now
            )

    def close(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - closing a broken container must not mask its error
            pass


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return redact_urls(str(text).strip()) or type(exc).__name__


def _hint(options: ReaderOptions) -> str:
    if options.rtsp:
        return "Check the URL path and the camera's RTSP settings (H.264/H.265 over TCP)."
    return "The file may be corrupt, truncated or not a video; re-export it as H.264 MP4/MKV."
