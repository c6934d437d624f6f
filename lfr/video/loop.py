"""The camera's hot path, shared by `lfr watch` and the deployed camera actor.

    source.recv() ──► sampler ──► LatestSlot ──► recogniser (worker thread) ──► decider ──► emit
     (decode, thread)   (N fps)    (newest wins,    (CapacityLimiter)            (tracks)
                                    drops counted)

Two tasks per camera: a reader that keeps pulling frames (so a slow analysis never makes the
camera's socket back up) and an analyser that always takes the newest frame. Under overload
frames are dropped and counted, and latency stays bounded. Latency is measured from the
moment a frame was decoded to the moment its decision exists.

Stream health comes out as `StreamStarted` / `StreamLost` items (the camera actor's
`CameraStreamStarted` / `CameraStreamLost`), analysed frames as `FrameDecided` items.
Pixels and embeddings never leave this module except in a `MatchDecision`'s crop.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import anyio
import anyio.abc

from lfr.video.errors import EndOfStream, SourceOpenError, StreamInterrupted, VideoError
from lfr.video.latest import LatestSlot, RateSampler
from lfr.vision.types import (
    Decider,
    Decisions,
    Frame,
    FrameSource,
    Gallery,
    Recogniser,
    SourceInfo,
)

__all__ = [
    "CameraLoop",
    "FrameDecided",
    "LoopOutput",
    "LoopStats",
    "StreamLost",
    "StreamStarted",
]


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """Video arrived (first frame, or first frame after a loss)."""

    info: SourceInfo


@dataclass(frozen=True, slots=True)
class StreamLost:
    """Video stopped. `retry_in_s` is None when the source will not be retried (it ended)."""

    reason: str
    retry_in_s: float | None


@dataclass(slots=True)
class FrameDecided:
    """One analysed frame's decisions (matches and discard counts)."""

    frame_index: int
    frame_at: datetime
    decisions: Decisions
    latency_ms: float  # decode of this frame -> its decisions
    stage_ms: dict[str, float] = field(default_factory=dict)
    pts_s: float | None = None  # the frame's time on the stream's clock (None: at the end)


LoopOutput = StreamStarted | StreamLost | FrameDecided
Emit = Callable[[LoopOutput], Awaitable[None]]


@dataclass(slots=True)
class LoopStats:
    """Counters for `lfr watch`, benchmarks and metrics; no biometric value."""

    frames_received: int = 0  # from the source, after its own sampling
    frames_sampled: int = 0
    frames_analysed: int = 0
    drops: int = 0
    faces_seen: int = 0
    matches: int = 0
    stream_losses: int = 0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    match_latency_ms: list[float] = field(default_factory=list)
    lag_s: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def percentile(self, q: float, *, matches: bool = False) -> float | None:
        values = self.match_latency_ms if matches else list(self.latency_ms)
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class CameraLoop:
    """Runs one camera until its source ends or the caller cancels.

    `await tg.start(loop.run, emit)`; `emit` receives `StreamStarted`, `StreamLost` and one
    `FrameDecided` per analysed frame, in order. With `gallery=None` frames are read but not
    analysed (a disarmed zone); `rearm()` arms, disarms or changes the watchlist, threshold
    or decider between two frames. Pass one `limiter` shared by all cameras (as many tokens
    as cores) so analyses never oversubscribe the CPU.
    """

    def __init__(
        self,
        source: FrameSource,
        recogniser: Recogniser,
        decider: Decider,
        *,
        gallery: Gallery | None,
        threshold: float,
        fps: float = 10.0,
        limiter: anyio.CapacityLimiter | None = None,
        lossless: bool = False,
    ) -> None:
        self.source = source
        self.recogniser = recogniser
        self.decider = decider
        self.gallery = gallery
        self.threshold = threshold
        self.fps = fps
        self.lossless = lossless  # offline files: wait for the analyser instead of dropping
        self.stats = LoopStats()
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self._sampler = RateSampler(fps)
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._final: StreamLost | None = None
        self._busy = anyio.Lock()
        if getattr(source, "max_fps", "absent") is None:
            # PyAV sources convert only the frames they keep to RGB: the big saving at 1080p.
            source.max_fps = fps  # type: ignore[attr-defined]

    async def rearm(
        self, gallery: Gallery | None, threshold: float, decider: Decider | None = None
    ) -> Decisions:
        """Swap the gallery (None: disarm), threshold and decider between two frames.

        Waits for the frame in analysis, if any, so nothing decided under the old setting
        comes after this returns; returns what the old decider still held (its open tracks
        closed), for the owner to record before the change.
        """
        async with self._busy:
            rest = self.decider.flush()
            self.gallery = gallery
            self.threshold = threshold
            if decider is not None:
                self.decider = decider
            return rest

    async def run(
        self,
        emit: Emit,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Read, analyse and `emit` until the source ends; then flush open tracks.

        Source failures are emitted as `StreamLost`, never raised: a live source is retried,
        a file that cannot be read ends the loop.
        """
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._read, emit)
                task_status.started()
                await self._analyse(emit)
        finally:
            # Also on cancellation: open tracks are decided or wiped, never left in memory.
            with anyio.move_on_after(2.0, shield=True):
                rest = self.decider.flush()
                if rest.matches or rest.discarded.tracks_closed:
                    await self._emit_decided(emit, None, rest, time.monotonic_ns())
                if self._final is not None:
                    await emit(self._final)  # after the last decisions: the end reads in order

    async def _read(self, emit: Emit) -> None:
        live = False
        first: tuple[int, float] | None = None
        try:
            while True:
                try:
                    frame = await self.source.recv()
                except StreamInterrupted as exc:
                    live = False
                    first = None
                    self.stats.stream_losses += 1
                    await emit(StreamLost(exc.reason, exc.retry_in_s))
                    continue
                except EndOfStream as exc:
                    self._final = StreamLost(str(exc) or "end of stream", None)
                    return
                except (SourceOpenError, VideoError) as exc:
                    self.stats.stream_losses += 1
                    self._final = StreamLost(str(exc), None)
                    return
                if not live:
                    live = True
                    await emit(StreamStarted(self.source.info))
                self.stats.frames_received += 1
                if first is None:
                    first = (frame.decoded_ns, frame.pts_s)
                else:
                    # How far decoding trails the stream's own clock, relative to its start.
                    wall = (frame.decoded_ns - first[0]) / 1e9
                    self.stats.lag_s.append(wall - (frame.pts_s - first[1]))
                if not self._sampler.due(frame.pts_s):
                    frame.image.fill(0)
                    continue
                self.stats.frames_sampled += 1
                if self.lossless:
                    await self._slot.wait_empty()
                replaced = self._slot.put(frame)
                if replaced is not None:
                    replaced.image.fill(0)
                    self.stats.drops += 1
        finally:
            self._slot.close()

    async def _analyse(self, emit: Emit) -> None:
        while True:
            try:
                frame = await self._slot.get()
            except EndOfStream:
                return
            async with self._busy:
                gallery = self.gallery
                if gallery is None:
                    frame.image.fill(0)
                    continue
                try:
                    analysis = await anyio.to_thread.run_sync(
                        self.recogniser.analyse, frame, gallery, limiter=self._limiter
                    )
                    decisions = self.decider.decide(frame, analysis, self.threshold)
                finally:
                    frame.image.fill(0)  # the frame's pixels end here
                self.stats.frames_analysed += 1
                self.stats.faces_seen += analysis.faces_seen
                done = time.monotonic_ns()
                self.stats.latency_ms.append((done - frame.decoded_ns) / 1e6)
                await self._emit_decided(emit, frame, decisions, done, analysis.stage_ms)

    async def _emit_decided(
        self,
        emit: Emit,
        frame: Frame | None,
        decisions: Decisions,
        done_ns: int,
        stage_ms: dict[str, float] | None = None,
    ) -> None:
        for match in decisions.matches:
            self.stats.matches += 1
            self.stats.match_latency_ms.append((done_ns - match.decoded_ns) / 1e6)
        latency = (done_ns - frame.decoded_ns) / 1e6 if frame is not None else 0.0
        await emit(
            FrameDecided(
                frame_index=frame.index if frame is not None else -1,
                frame_at=frame.captured_at if frame is not None else datetime.now().astimezone(),
                decisions=decisions,
                latency_ms=latency,
                stage_ms=dict(stage_ms or {}),
                pts_s=frame.pts_s if frame is not None else None,
            )
        )
