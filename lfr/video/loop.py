# One module past 450 lines on purpose: the camera hot path (read, gate, analyse, decide,
# back off) is one loop whose timing reads best in one place.
"""The camera's hot path, shared by `lfr watch`, `lfr bench cameras` and the camera actor.

    source.recv() ──► sampler ──► LatestSlot ──► recogniser (worker thread) ──► decider ──► emit
     (decode, thread)   (N fps)    (newest wins,    (CapacityLimiter)            (tracks)
                                    drops counted)

Two tasks per camera: a reader that keeps pulling frames (so a slow analysis never makes the
camera's socket back up) and an analyser that always takes the newest frame. Under overload
frames are dropped and counted, and latency stays bounded. Latency is measured from the
moment a frame was decoded to the moment its decision exists.

Open tracks end with the face, the stream or the setting: the decider ages them by the stream's
clock on every frame read while armed (not only the analysed ones), and is flushed (every open
track decided or counted, then wiped) when the stream is lost, on `rearm` to another gallery or
decider, and in `run`'s `finally` (the source ended, the owner stopped, crashed or restarts).

Disarmed (no gallery), frames are read and forgotten at once: the recogniser is never called
and nothing is sampled, only counted. Stream health comes out as `StreamStarted` /
`StreamLost` / `StreamRecovered` items (the camera actor's `CameraStreamStarted` /
`CameraStreamLost` / `CameraStreamRecovered`), analysed frames as `FrameDecided` items.

A live source is read for the loop's whole life and retried with one `Backoff` (capped, with
jitter, reset once video has flowed for `stable_s`): an outage is one `StreamLost` when it
starts and one `StreamRecovered` (the failed retries in between, how long it was down) when
video returns, however many reconnection attempts it took.

Pixels and embeddings never leave this module except in a `MatchDecision`'s crop, and every
frame's pixels are overwritten once it is done with.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import anyio
import anyio.abc

from lfr.telemetry import get_tracer
from lfr.video.backoff import Backoff
from lfr.video.errors import EndOfStream, SourceOpenError, StreamInterrupted, VideoError
from lfr.video.latest import LatestSlot, RateSampler
from lfr.video.tracker import stream_ns
from lfr.vision.types import (
    Decider,
    Decisions,
    Frame,
    FrameAnalysis,
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
    "SourceFactory",
    "StreamLost",
    "StreamRecovered",
    "StreamStarted",
]

_tracer = get_tracer("lfr.video")

SourceFactory = Callable[[], FrameSource]


@runtime_checkable
class _Ageing(Protocol):
    """A decider whose tracks can age without an analysed frame (`TrackingDecider`)."""

    def age(self, now_ns: int) -> Decisions: ...


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """Video arrived (first frame, or first frame after a loss)."""

    info: SourceInfo


@dataclass(frozen=True, slots=True)
class StreamLost:
    """Video stopped. `retry_in_s` is None when the source will not be retried (it ended);
    else the first wait of the outage (the retries after it are not emitted one by one)."""

    reason: str
    retry_in_s: float | None


@dataclass(frozen=True, slots=True)
class StreamRecovered:
    """Video came back after a `StreamLost`: `retries` failed attempts in between (0: the
    first reconnection worked), `down_s` seconds from the loss to the first frame. Emitted
    just before that first frame's `StreamStarted`."""

    reason: str  # the loss's
    retries: int
    down_s: float


@dataclass(slots=True)
class _Outage:
    reason: str
    since: float  # the loop's monotonic clock
    retries: int = 0


@dataclass(slots=True)
class FrameDecided:
    """One analysed frame's decisions (matches and discard counts).

    `frame_index` is -1 for what the decider still held when the loop ended (open tracks
    closed, no frame of their own). `tag` is the owner's tag for the setting the frame was
    decided under (`rearm(..., tag=)`; the camera actor's arming).
    """

    frame_index: int
    frame_at: datetime
    decisions: Decisions
    latency_ms: float  # decode of this frame -> its decisions
    stage_ms: dict[str, float] = field(default_factory=dict)
    pts_s: float | None = None  # the frame's time on the stream's clock (None: at the end)
    faces_seen: int = 0
    tag: object = None


LoopOutput = StreamStarted | StreamLost | StreamRecovered | FrameDecided
Emit = Callable[[LoopOutput], Awaitable[None]]


@dataclass(slots=True)
class LoopStats:
    """Counters for `lfr watch`, benchmarks, camera status and metrics; no biometric value."""

    frames_received: int = 0  # from the source, after its own sampling
    frames_ignored: int = 0  # read while disarmed (or disarmed before analysis): never analysed
    frames_sampled: int = 0
    frames_analysed: int = 0
    recogniser_calls: int = 0
    drops: int = 0
    faces_seen: int = 0
    matches: int = 0
    stream_losses: int = 0  # outages (each one `StreamLost`, however many retries)
    reconnect_attempts: int = 0  # failed retries within outages
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    match_latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    lag_s: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def percentile(self, q: float, *, matches: bool = False) -> float | None:
        values = self.match_latency_ms if matches else self.latency_ms
        if not values:
            return None
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class CameraLoop:
    """Runs one camera until its source ends or the caller cancels.

    `await tg.start(loop.run, emit)`; `emit` receives `StreamStarted`, `StreamLost` and one
    `FrameDecided` per analysed frame, in order (decisions are emitted from the analysing
    task, before the next frame is analysed). With `gallery=None` frames are read but not
    analysed (a disarmed zone); `rearm()` arms, disarms or changes the watchlist, threshold
    or decider between two frames. Pass one `limiter` shared by all cameras (as many tokens
    as cores) so analyses never oversubscribe the CPU.

    `source` is a source, or a factory of one (the camera actor's): with a factory the loop
    opens the source once, when `run` starts, and closes it when done; a source given as
    such stays the caller's to close. Either way the one source is kept for the loop's life:
    after a `StreamInterrupted` the loop waits, with `sleep`, the longer of its `backoff`'s
    next delay and the source's own `retry_in_s`, then calls `recv()` again (the source
    reconnects). `monotonic` times outages; the backoff is reset once video has flowed for
    `stable_s`. `fps=None` analyses every frame the source gives.
    """

    def __init__(
        self,
        source: FrameSource | SourceFactory,
        recogniser: Recogniser,
        decider: Decider,
        *,
        gallery: Gallery | None,
        threshold: float,
        fps: float | None = 10.0,
        limiter: anyio.CapacityLimiter | None = None,
        lossless: bool = False,
        backoff: Backoff | None = None,
        stable_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open: SourceFactory | None = None
        self.source: FrameSource | None = None
        if callable(source):
            self._open = source
        else:
            self.source = self._prepared(source, fps)
        self.recogniser = recogniser
        self.decider = decider
        self.gallery = gallery
        self.threshold = threshold
        self.tag: object = None
        self.fps = fps
        self.lossless = lossless  # offline files: wait for the analyser instead of dropping
        self.backoff = backoff or Backoff()
        self.stable_s = stable_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._outage: _Outage | None = None
        self._up_since: float | None = None  # video flowing since; None once the backoff reset
        self.stats = LoopStats()
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self._sampler = RateSampler(fps)
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._final: StreamLost | None = None
        self._busy = anyio.Lock()
        self._taken = 0  # frames the analyser took from the slot
        self._reading = False  # a frame between recv() and the slot
        self._in_hand = False  # a frame taken from the slot, not yet done with
        self._progress = anyio.Event()

    @staticmethod
    def _prepared(source: FrameSource, fps: float | None) -> FrameSource:
        if fps and getattr(source, "max_fps", "absent") is None:
            # PyAV sources convert only the frames they keep to RGB: the big saving at 1080p.
            source.max_fps = fps  # type: ignore[attr-defined]
        return source

    async def rearm(
        self,
        gallery: Gallery | None,
        threshold: float | None = None,
        decider: Decider | None = None,
        *,
        tag: object = None,
    ) -> Decisions:
        """Swap the gallery (None: disarm), threshold, decider and tag between two frames.

        Waits for the frame in analysis, if any, and its emitted decisions, so nothing
        decided under the old setting comes after this returns. A new decider or gallery
        ends the old decider's tracks: what it still held is returned (open tracks closed)
        for the owner to record under the old setting. A threshold change alone keeps the
        tracks (they are judged against the threshold of each frame) and returns nothing.
        """
        async with self._busy:
            rest = Decisions()
            if decider is not None or gallery is not self.gallery:
                rest = self.decider.flush()
            self.gallery = gallery
            if threshold is not None:
                self.threshold = threshold
            if decider is not None:
                self.decider = decider
            self.tag = tag
            return rest

    @property
    def idle(self) -> bool:
        """No frame being taken in, waiting in the slot or in analysis."""
        waiting = self._slot.puts - self._slot.drops - self._taken
        return not (self._reading or self._in_hand or waiting or self._busy.locked())

    async def wait_idle(self) -> None:
        """Wait until `idle` (tests, demos: everything read so far has been dealt with)."""
        while not self.idle:
            await self._progress.wait()

    def _signal(self) -> None:
        self._progress.set()
        self._progress = anyio.Event()

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
                async with self._busy:
                    rest = self.decider.flush()
                    if _holds(rest):
                        await self._emit_decided(emit, None, rest, time.monotonic_ns())
                if self._final is not None:
                    await emit(self._final)  # after the last decisions: the end reads in order
                if self._open is not None and self.source is not None:
                    await self.source.aclose()  # the loop opened it
            self._signal()

    async def _read(self, emit: Emit) -> None:
        try:
            if self.source is None:
                assert self._open is not None
                self.source = self._prepared(self._open(), self.fps)  # once, for the loop's life
            await self._pump(self.source, emit)
        finally:
            self._slot.close()
            self._signal()

    async def _pump(self, source: FrameSource, emit: Emit) -> None:
        """Read `source` until it ends; a lost stream is retried on the same source."""
        live = False
        first: tuple[int, float] | None = None
        while True:
            try:
                frame = await source.recv()
            except StreamInterrupted as exc:
                live = False
                first = None
                await self._interrupted(exc, emit)
                continue
            except (EndOfStream, anyio.EndOfStream) as exc:
                self._final = StreamLost(str(exc) or "end of stream", None)
                return
            except (SourceOpenError, VideoError) as exc:
                self.stats.stream_losses += 1
                self._final = StreamLost(str(exc), None)
                return
            self._reading = True
            try:
                if not live:
                    live = True
                    await self._started(source, emit)
                elif self._up_since is not None:
                    if self._monotonic() - self._up_since >= self.stable_s:
                        self.backoff.reset()  # steady again: the next outage starts afresh
                        self._up_since = None
                first = self._take_in(frame, first)
                await self._age(frame, emit)
            finally:
                self._reading = False
                self._signal()
            if self.lossless:
                await self._slot.wait_empty()

    async def _interrupted(self, exc: StreamInterrupted, emit: Emit) -> None:
        """Record the loss once per outage (later failures are counted), then wait."""
        delay = max(self.backoff.step(), exc.retry_in_s or 0.0)  # never 0: no busy retry
        outage = self._outage
        if outage is None:
            self._outage = _Outage(exc.reason, self._monotonic())
            self.stats.stream_losses += 1
            await self._flush_lost(emit)
            await emit(StreamLost(exc.reason, delay))
        else:
            outage.retries += 1
            self.stats.reconnect_attempts += 1
        await self._sleep(delay)

    async def _started(self, source: FrameSource, emit: Emit) -> None:
        """Video (again): close the outage, if any, then announce the stream."""
        now = self._monotonic()
        outage, self._outage = self._outage, None
        if outage is not None:
            await emit(StreamRecovered(outage.reason, outage.retries, max(0.0, now - outage.since)))
        self._up_since = now
        await emit(StreamStarted(source.info))

    async def _flush_lost(self, emit: Emit) -> None:
        """The stream is gone: forget the frame waiting for analysis, and close and wipe every
        open track now (not when, if ever, video comes back)."""
        waiting = self._slot.discard()
        if waiting is not None:
            waiting.image.fill(0)
            self.stats.drops += 1
        async with self._busy:
            rest = self.decider.flush()
            if _holds(rest):
                await self._emit_decided(emit, None, rest, time.monotonic_ns())

    async def _age(self, frame: Frame, emit: Emit) -> None:
        """Age the decider's tracks by a frame read while armed (sampled or not), when no
        analysis is in hand or waiting (that frame's own decision ages them)."""
        decider = self.decider
        if self.gallery is None or not isinstance(decider, _Ageing) or self._slot.pending:
            return
        try:
            self._busy.acquire_nowait()
        except anyio.WouldBlock:
            return
        try:
            rest = decider.age(stream_ns(frame))
            if _holds(rest):
                await self._emit_decided(emit, None, rest, time.monotonic_ns())
        finally:
            self._busy.release()

    def _take_in(self, frame: Frame, first: tuple[int, float] | None) -> tuple[int, float]:
        """Count the frame, then slot it (armed and due) or forget it at once."""
        self.stats.frames_received += 1
        if first is None:
            first = (frame.decoded_ns, frame.pts_s)
        else:
            # How far decoding trails the stream's own clock, relative to its start.
            wall = (frame.decoded_ns - first[0]) / 1e9
            self.stats.lag_s.append(wall - (frame.pts_s - first[1]))
        if self.gallery is None:
            self.stats.frames_ignored += 1
            frame.image.fill(0)  # disarmed: forgotten at once, never sampled
            return first
        if not self._sampler.due(frame.pts_s):
            frame.image.fill(0)
            return first
        self.stats.frames_sampled += 1
        replaced = self._slot.put(frame)
        if replaced is not None:
            replaced.image.fill(0)
            self.stats.drops += 1
        return first

    async def _analyse(self, emit: Emit) -> None:
        while True:
            try:
                frame = await self._slot.get()
            except EndOfStream:
                return
            self._taken += 1
            self._in_hand = True
            try:
                async with self._busy:
                    await self._analyse_one(frame, emit)
            finally:
                frame.image.fill(0)  # the frame's pixels end here
                self._in_hand = False
                self._signal()

    async def _analyse_one(self, frame: Frame, emit: Emit) -> None:
        gallery = self.gallery
        if gallery is None:
            self.stats.frames_ignored += 1  # disarmed while it waited: never analysed
            return
        try:
            self.stats.recogniser_calls += 1
            analysis = await anyio.to_thread.run_sync(
                self._analyse_in_span, frame, gallery, limiter=self._limiter
            )
            faces = analysis.faces_seen
            decisions = self.decider.decide(frame, analysis, self.threshold)
        finally:
            frame.image.fill(0)
        self.stats.frames_analysed += 1
        self.stats.faces_seen += faces
        done = time.monotonic_ns()
        self.stats.latency_ms.append((done - frame.decoded_ns) / 1e6)
        await self._emit_decided(emit, frame, decisions, done, analysis.stage_ms, faces)

    def _analyse_in_span(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        """The recogniser's analysis in a `vision.analyse` span (counts and stage times only:
        the span is a child of whatever the caller's context holds, e.g. a frame's trace)."""
        with _tracer.start_as_current_span("vision.analyse") as span:
            analysis = self.recogniser.analyse(frame, gallery)
            if span.is_recording():
                span.set_attribute("lfr.frame.index", frame.index)
                span.set_attribute("lfr.faces.seen", analysis.faces_seen)
                span.set_attribute("lfr.faces.below_quality", analysis.faces_below_quality)
                span.set_attribute("lfr.watchlist.version", gallery.version)
                for stage, ms in analysis.stage_ms.items():
                    span.set_attribute(f"lfr.vision.{stage}_ms", round(ms, 3))
            return analysis

    async def _emit_decided(
        self,
        emit: Emit,
        frame: Frame | None,
        decisions: Decisions,
        done_ns: int,
        stage_ms: dict[str, float] | None = None,
        faces_seen: int = 0,
    ) -> None:
        for match in decisions.matches:
            self.stats.matches += 1
            self.stats.match_latency_ms.append((done_ns - match.decoded_ns) / 1e6)
        latency = (done_ns - frame.decoded_ns) / 1e6 if frame is not None else 0.0
        try:
            await emit(
                FrameDecided(
                    frame_index=frame.index if frame is not None else -1,
                    frame_at=(
                        frame.captured_at if frame is not None else datetime.now().astimezone()
                    ),
                    decisions=decisions,
                    latency_ms=latency,
                    stage_ms=dict(stage_ms or {}),
                    pts_s=frame.pts_s if frame is not None else None,
                    faces_seen=faces_seen,
                    tag=self.tag,
                )
            )
        finally:
            for match in decisions.matches:  # whatever `emit` did (or failed to do) with it
                if match.crop is not None:
                    match.crop.fill(0)
                    match.crop = None


def _holds(decisions: Decisions) -> bool:
    """Whether decisions made without a frame of their own (tracks closed) hold anything."""
    return bool(decisions.matches or decisions.discarded)
