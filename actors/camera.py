"""CameraActor: reads its video continuously, analyses only while its zone is armed.

Two background tasks per incarnation. The reader pulls frames without pause (so the camera's
connection never backs up) and, while armed, puts each sampled frame in a latest-frame slot
(a newer frame replaces an unread one and the drop is counted); while disarmed it forgets
frames at once and the recogniser is never called. The analyser takes the newest frame,
runs the `Recogniser` in a worker thread behind a `CapacityLimiter`, lets the `Decider` turn
the analysis into match decisions and counts, and records `FaceMatched` (one per match, the
crop stored encrypted in the vault) or, batched, `FrameDiscarded` (counts only).

`Disarm` is answered only once no frame is in flight and pending counts are recorded, so the
zone can append `DeploymentDisarmed` knowing nothing of this camera comes after it.
Pixels, crops and embeddings of non-matching faces never leave this module.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import anyio

from actors.messages import Arm, CameraReady, CameraStatus, Disarm, GetStatus, MatchReported, Settle
from lfr.clock import Clock
from lfr.kernel import (
    ActorStoppedError,
    CommandRejected,
    EventSourcedActor,
    LatestSlot,
    MailboxFullError,
    Registry,
)
from lfr.store.base import EventStore
from lfr.telemetry import metrics
from lfr.video.errors import EndOfStream, SourceOpenError, StreamInterrupted
from lfr.video.latest import RateSampler
from lfr.vision.types import (
    Decider,
    Decisions,
    DiscardTally,
    Frame,
    FrameSource,
    Gallery,
    Image,
    MatchDecision,
    Recogniser,
)
from schemas.events import (
    BiometricRef,
    CameraStreamLost,
    CameraStreamStarted,
    FaceMatched,
    FrameDiscarded,
)
from schemas.registry import Event

__all__ = ["CameraActor", "CameraSettings", "CropVault", "GalleryLoader"]

log = logging.getLogger(__name__)

GalleryLoader = Callable[[str], Any]  # async (watchlist_version) -> Gallery


class CropVault(Protocol):
    """Where a match's crop goes, encrypted (`lfr.vault.BiometricVault` fits)."""

    async def put(
        self,
        data: bytes,
        kind: Literal["alert_crop", "watchlist_image"],
        retain_until: datetime | None = None,
    ) -> BiometricRef: ...


@dataclass(frozen=True, slots=True)
class CameraSettings:
    analyse_fps: float | None = 10.0  # sampled by presentation time; None analyses every frame
    discard_batch_frames: int = 50
    discard_batch_s: float = 10.0
    crop_retention_days: int = 31
    reconnect_s: float = 2.0


@dataclass(slots=True)
class _Pending:
    """Discard counts not yet recorded, with the time window they cover."""

    deployment_id: str
    tally: DiscardTally
    reasons: set[str]
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class CameraState:
    matches: int = 0
    discarded_frames: int = 0


class CameraActor(EventSourcedActor[CameraState]):
    def __init__(
        self,
        camera: str,
        *,
        zone: str,
        source_factory: Callable[[], FrameSource],
        recogniser: Recogniser,
        load_gallery: GalleryLoader,
        decider_factory: Callable[[], Decider],
        store: EventStore,
        clock: Clock,
        registry: Registry,
        limiter: anyio.CapacityLimiter,
        vault: CropVault | None = None,
        settings: CameraSettings | None = None,
    ) -> None:
        self.camera = camera
        self.zone = zone
        self.source_factory = source_factory
        self.recogniser = recogniser
        self.load_gallery = load_gallery
        self.decider_factory = decider_factory
        self.registry = registry
        self.limiter = limiter
        self.vault = vault
        self.settings = settings or CameraSettings()
        self._arming: Arm | None = None
        self._gallery: Gallery | None = None
        self._decider: Decider | None = None
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._busy = anyio.Lock()
        self._in_hand = False
        self._reading = False
        self._progress = anyio.Event()
        self._pending: _Pending | None = None
        self._sampler = RateSampler(self.settings.analyse_fps)
        self.frames_received = 0
        self.frames_ignored = 0
        self.frames_analysed = 0
        self.recogniser_calls = 0
        self.stream_up = False
        super().__init__(f"camera:{camera}", store=store, clock=clock)

    def initial_state(self) -> CameraState:
        return CameraState()

    def apply(self, state: CameraState, event: Event, occurred_at: datetime) -> CameraState:
        if isinstance(event, FaceMatched):
            return CameraState(state.matches + 1, state.discarded_frames)
        if isinstance(event, FrameDiscarded):
            return CameraState(state.matches, state.discarded_frames + event.frames)
        return state

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_start(self) -> None:
        await super().on_start()
        self.start_soon(self._read)
        self.start_soon(self._analyse)
        zone = self.registry.get(f"zone:{self.zone}")
        if zone is not None:
            try:
                zone.tell_nowait(CameraReady(self.camera))
            except MailboxFullError:
                log.warning("%s: zone busy; it will arm this camera on its next change", self.name)
            except ActorStoppedError:
                pass  # the zone is (re)starting; its own start arms its cameras

    async def on_stop(self) -> None:
        with anyio.move_on_after(1.0):
            try:
                await self._flush_discards()
            except Exception:
                log.exception("%s: could not record the last discard counts", self.name)
        self._wipe_slot()

    # --- messages ----------------------------------------------------------------------------

    async def handle(self, message: object) -> Any:
        match message:
            case Arm():
                await self._arm(message)
                return self.status()
            case Disarm():
                async with self._busy:
                    arming, self._arming = self._arming, None
                    self._gallery = None
                    self._wipe_slot()
                    if self._decider is not None and arming is not None:
                        await self._record(self._decider.flush(), arming, self.clock.now())
                    self._decider = None
                    await self._flush_discards()
                return self.status()
            case Settle():
                while self._slot or self._in_hand or self._reading or self._busy.locked():
                    await self._progress.wait()
                return self.status()
            case GetStatus():
                return self.status()
        raise TypeError(f"{self.name} cannot handle {type(message).__name__}")

    def status(self) -> CameraStatus:
        return CameraStatus(
            camera=self.camera,
            zone=self.zone,
            armed_deployment=None if self._arming is None else self._arming.deployment_id,
            frames_received=self.frames_received,
            frames_ignored_disarmed=self.frames_ignored,
            frames_analysed=self.frames_analysed,
            frames_dropped=self._slot.dropped,
            matches=self.state.matches,
            recogniser_calls=self.recogniser_calls,
            stream_up=self.stream_up,
        )

    async def _arm(self, arm: Arm) -> None:
        current = self._arming
        if current == arm:
            return
        async with self._busy:
            if current is None or current.watchlist_version != arm.watchlist_version:
                try:
                    gallery = await self.load_gallery(arm.watchlist_version)
                except Exception as exc:
                    # Fail safe: a camera that cannot load its watchlist stays disarmed.
                    self._arming = self._gallery = None
                    raise CommandRejected(
                        self.name,
                        "gallery_unavailable",
                        f"cannot load watchlist {arm.watchlist_version!r} "
                        f"({type(exc).__name__}); the camera stays disarmed",
                    ) from exc
                self._gallery = gallery
            if current is None or current.deployment_id != arm.deployment_id:
                if self._decider is not None and current is not None:
                    await self._record(self._decider.flush(), current, self.clock.now())
                await self._flush_discards()
                self._decider = self.decider_factory()
            self._arming = arm

    # --- reading ----------------------------------------------------------------------------

    def _wipe_slot(self) -> None:
        frame = self._slot.take_nowait()
        if frame is not None:
            frame.image.fill(0)
        self._signal()

    def _signal(self) -> None:
        self._progress.set()
        self._progress = anyio.Event()

    async def _read(self) -> None:
        while True:
            source = self.source_factory()
            try:
                await self._pump(source)
                return
            except StreamInterrupted as exc:
                retry = exc.retry_in_s if exc.retry_in_s is not None else self.settings.reconnect_s
                await self._stream_lost(exc.reason, retry)
                await self.clock.sleep(retry)
            except SourceOpenError as exc:
                await self._stream_lost(exc.reason, None)
                return
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(2.0):
                    await source.aclose()

    async def _pump(self, source: FrameSource) -> None:
        started = False
        while True:
            try:
                frame = await source.recv()
            except (EndOfStream, anyio.EndOfStream):
                await self._stream_lost("end of stream", None)
                return
            self._reading = True
            try:
                started = await self._take_in(source, frame, started)
            finally:
                self._reading = False
                self._signal()

    async def _take_in(self, source: FrameSource, frame: Frame, started: bool) -> bool:
        """Record the stream's start once, then slot the frame (armed) or forget it."""
        if not started:
            started = True
            self.stream_up = True
            info = source.info
            await self.emit(
                [
                    CameraStreamStarted(
                        camera=self.camera,
                        zone=self.zone,
                        source=info.url,
                        codec=info.codec,
                        width=info.width,
                        height=info.height,
                        fps=info.fps,
                    )
                ]
            )
        self.frames_received += 1
        if self._arming is None or not self._sampler.due(frame.pts_s):
            if self._arming is None:
                self.frames_ignored += 1
            frame.image.fill(0)  # disarmed or not sampled: forgotten at once
            return True
        replaced = self._slot.put(frame)
        if replaced is not None:
            replaced.image.fill(0)
            metrics().frames_dropped(self.camera, self.zone)
        return True

    async def _stream_lost(self, reason: str, retry_in_s: float | None) -> None:
        self.stream_up = False
        await self.emit(
            [
                CameraStreamLost(
                    camera=self.camera, zone=self.zone, reason=reason, retry_in_s=retry_in_s
                )
            ]
        )

    # --- analysing ---------------------------------------------------------------------------

    async def _analyse(self) -> None:
        while True:
            frame = await self._slot.take()
            self._in_hand = True
            try:
                await self._analyse_one(frame)
            finally:
                frame.image.fill(0)  # the frame's pixels end here
                self._in_hand = False
                self._signal()

    async def _analyse_one(self, frame: Frame) -> None:
        async with self._busy:
            arming, gallery, decider = self._arming, self._gallery, self._decider
            if arming is None or gallery is None or decider is None:
                return  # disarmed while the frame waited: never analysed
            analysis = await anyio.to_thread.run_sync(
                self.recogniser.analyse, frame, gallery, limiter=self.limiter
            )
            self.recogniser_calls += 1
            self.frames_analysed += 1
            metrics().frames_analysed(self.camera, self.zone)
            metrics().faces_seen(self.camera, self.zone, analysis.faces_seen)
            decisions = decider.decide(frame, analysis, arming.threshold)
            analysis.forget()
            await self._record(decisions, arming, self.clock.now())

    async def _record(self, decisions: Decisions, arming: Arm, now: datetime) -> None:
        """Record matches at once and discard counts in batches."""
        tally = decisions.discarded
        if tally.frames or tally.tracks_closed:
            self._add_discards(tally, arming, now)
        for decision in decisions.matches:
            await self._record_match(decision, arming, now)
        pending = self._pending
        if pending is not None and (
            pending.tally.frames >= self.settings.discard_batch_frames
            or (now - pending.start).total_seconds() >= self.settings.discard_batch_s
        ):
            await self._flush_discards()

    def _add_discards(self, tally: DiscardTally, arming: Arm, now: datetime) -> None:
        if tally.faces_seen == 0:
            reason = "no_face"
        elif tally.faces_below_quality >= tally.faces_seen:
            reason = "below_quality"
        else:
            reason = "no_match"
        p = self._pending
        if p is None or p.deployment_id != arming.deployment_id:
            p = self._pending = _Pending(arming.deployment_id, DiscardTally(), {reason}, now, now)
        p.tally.frames += tally.frames
        p.tally.faces_seen += tally.faces_seen
        p.tally.faces_below_quality += tally.faces_below_quality
        p.tally.tracks_closed += tally.tracks_closed
        p.reasons.add(reason)
        p.end = now

    async def _flush_discards(self) -> None:
        p, self._pending = self._pending, None
        if p is None or p.tally.frames < 1:
            return  # (a batch of closed tracks alone has no frame to report)
        reason = next(iter(p.reasons)) if len(p.reasons) == 1 else "mixed"
        await self.emit(
            [
                FrameDiscarded(
                    camera=self.camera,
                    zone=self.zone,
                    deployment_id=p.deployment_id,
                    frames=p.tally.frames,
                    faces_seen=p.tally.faces_seen,
                    faces_below_quality=p.tally.faces_below_quality,
                    tracks_closed=p.tally.tracks_closed,
                    reason=reason,
                    window_start=p.start,
                    window_end=p.end,
                )
            ]
        )

    async def _record_match(self, decision: MatchDecision, arming: Arm, now: datetime) -> None:
        crop_ref = None
        try:
            if self.vault is not None and decision.crop is not None:
                retain = now + timedelta(days=self.settings.crop_retention_days)
                data = await anyio.to_thread.run_sync(_encode_crop, decision.crop)
                crop_ref = await self.vault.put(data, "alert_crop", retain)
        finally:
            if decision.crop is not None:
                decision.crop.fill(0)
                decision.crop = None
        match = FaceMatched(
            match_id=f"match-{uuid.uuid4().hex[:16]}",
            camera=self.camera,
            zone=self.zone,
            deployment_id=arming.deployment_id,
            watchlist_version=arming.watchlist_version,
            entry_id=decision.candidate.entry_id,
            similarity=min(1.0, max(-1.0, float(decision.candidate.similarity))),  # f32 cosine
            threshold=arming.threshold,
            track_id=decision.track_id,
            frame_at=decision.frame_at,
            crop_ref=crop_ref,
            face_size_px=decision.face_size_px,
            quality=decision.quality,
        )
        envs = await self.emit([match])
        appended = time.perf_counter_ns()
        report = MatchReported(match, envs[0].event_id, decision.candidate.label, appended)
        await self.registry.lookup(f"zone:{self.zone}").tell(report)


def _encode_crop(crop: Image) -> bytes:
    """PNG bytes of an RGB crop (for the vault only)."""
    import cv2

    ok, buf = cv2.imencode(".png", crop[:, :, ::-1])
    if not ok:
        raise ValueError("could not encode the crop")
    return bytes(buf)
