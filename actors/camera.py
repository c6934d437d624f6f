# One module past 450 lines on purpose: the camera actor's arming, lease watchdog, stream
# events and match recording share one state (the loop and its arming) that reads best whole.
"""CameraActor: reads its video continuously, analyses only while its zone is armed.

A thin shell over the camera hot path, `lfr.video.loop.CameraLoop` (the one `lfr watch` and
`lfr bench cameras` run), fed by the camera's `CameraRecognition` (its recogniser, and a
fresh decider per deployment). The loop reads without pause, so the camera's connection
never backs up; while disarmed it forgets frames at once, counts them, and never calls the
recogniser. Arming, disarming and a threshold change are `loop.rearm(...)` between two
frames; what the old decider still held is recorded under the old arming first. The loop's
outputs become events: `CameraStreamStarted`, `FaceMatched` per match (its crop stored
encrypted in the vault, then wiped) and, batched, `FrameDiscarded` (counts only). The camera
opens one source (`source_factory`, called once) and keeps one backoff for its whole life: a
lost stream is retried on that source, ever more rarely up to `reconnect_max_s`, and an outage
is recorded as one `CameraStreamLost` and, when video returns, one `CameraStreamRecovered`
(the failed retries in between, how long it was down) before the new `CameraStreamStarted`:
a camera unreachable for a day adds one event, not one per retry.

`Disarm` is answered only once no frame is in flight and pending counts are recorded, so the
zone can append `DeploymentDisarmed` knowing nothing of this camera comes after it. A camera
that cannot load its watchlist stays disarmed. Pixels, crops and embeddings of non-matching
faces never leave the loop.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, cast

import anyio
import numpy as np

from actors.messages import Arm, CameraReady, CameraStatus, Disarm, GetStatus, MatchReported, Settle
from lfr.clock import Clock
from lfr.kernel import (
    ActorStoppedError,
    CommandRejected,
    EventSourcedActor,
    MailboxFullError,
    Registry,
    Sealing,
)
from lfr.store.base import EventStore
from lfr.telemetry import current_traceparent, metrics, traceparent_as_current
from lfr.video.backoff import Backoff
from lfr.video.loop import (
    CameraLoop,
    FrameDecided,
    LoopOutput,
    StreamLost,
    StreamRecovered,
    StreamStarted,
)
from lfr.video.recognition import CameraRecognition
from lfr.vision.types import (
    Decisions,
    DiscardTally,
    FrameSource,
    Gallery,
    Image,
    MatchDecision,
)
from schemas.events import (
    BiometricRef,
    CameraLeaseLapsed,
    CameraStreamLost,
    CameraStreamRecovered,
    CameraStreamStarted,
    FaceMatched,
    FrameDiscarded,
)
from schemas.registry import Event
from schemas.streams import camera_stream, zone_stream

__all__ = [
    "CameraActor",
    "CameraSettings",
    "CameraState",
    "CropVault",
    "GalleryLoader",
]

_REPORTS_QUEUED = 256  # matches waiting to be told to the zone before recording waits


@dataclass(frozen=True, slots=True)
class _Report:
    message: MatchReported
    traceparent: str | None  # the frame's span: the zone's handling joins its trace


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
    reconnect_s: float = 0.5  # the first wait after a loss, doubling up to reconnect_max_s
    reconnect_max_s: float = 30.0
    reconnect_jitter: float = 0.1  # up to 10 % off each wait: cameras down together spread out
    #: a camera whose zone runs on another node: armed only this long after the zone's last
    #: `Arm` (the zone renews it); None (one process): armed until told otherwise
    arming_lease_s: float | None = None


@dataclass(frozen=True, slots=True)
class _LeaseExpired:
    """The camera's lease watchdog to itself: the zone has not renewed the arming in time."""


@dataclass(slots=True)
class _Pending:
    """Discard counts not yet recorded, with the time window they cover."""

    deployment_id: str
    threshold: float  # a batch never straddles a threshold change
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
        recognition: CameraRecognition,
        load_gallery: GalleryLoader,
        store: EventStore,
        clock: Clock,
        registry: Registry,
        limiter: anyio.CapacityLimiter,
        vault: CropVault | None = None,
        settings: CameraSettings | None = None,
        sealer: Sealing | None = None,
    ) -> None:
        self.camera = camera
        self.zone = zone
        self.recognition = recognition
        self.load_gallery = load_gallery
        self.registry = registry
        self.vault = vault
        self.settings = settings or CameraSettings()
        self._arming: Arm | None = None
        self._pending: _Pending | None = None
        self._drops_reported = 0
        self._lease_until = 0.0  # clock.monotonic() when the arming lapses (with a lease)
        # matches told to the zone in order, off the frame loop (`_report_to_zone`)
        # (each with the trace it continues: the frame's)
        self._reports_in, self._reports_out = anyio.create_memory_object_stream[_Report](
            _REPORTS_QUEUED
        )
        self._reporting: _Report | None = None  # the report being told now
        self.lease_disarms = 0
        self.stream_up = False
        # disarmed until the zone says otherwise; each deployment gets a decider of its own
        self.loop = CameraLoop(
            source_factory,
            recognition.recogniser,
            recognition.new_decider(),
            gallery=None,
            threshold=1.0,
            fps=self.settings.analyse_fps,
            limiter=limiter,
            backoff=Backoff(
                self.settings.reconnect_s,
                max_s=self.settings.reconnect_max_s,
                jitter=self.settings.reconnect_jitter,
            ),
            sleep=clock.sleep,
            monotonic=clock.monotonic,
        )
        super().__init__(camera_stream(camera), store=store, clock=clock, sealer=sealer)

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
        self.start_soon(self._run_loop)
        self.start_soon(self._report_to_zone)
        if self.settings.arming_lease_s is not None:
            self.start_soon(self._watch_lease)
        zone = self.registry.get(zone_stream(self.zone))
        if zone is not None:
            try:
                zone.tell_nowait(CameraReady(self.camera))
            except MailboxFullError:
                log.warning("%s: zone busy; it will arm this camera on its next change", self.name)
            except ActorStoppedError:
                pass  # the zone is (re)starting; its own start arms its cameras

    async def _run_loop(self) -> None:
        # Returns when the source ends for good (a file, an unreadable source): the actor
        # stays up, disarmed or armed, with nothing to analyse.
        await self.loop.run(self._on_output)

    async def _report_to_zone(self) -> None:
        """Tell the zone each match, in the order they were recorded, off the frame loop: a
        zone on an unreachable node keeps a tell retrying for seconds, and meanwhile the
        camera must go on reading video and honour its lease."""
        zone = self.registry.lookup(zone_stream(self.zone))
        async for report in self._reports_out:
            self._reporting = report
            with traceparent_as_current(report.traceparent):
                await zone.tell(report.message)
            self._reporting = None

    async def _report(self, message: MatchReported) -> None:
        report = _Report(message, current_traceparent())
        try:
            self._reports_in.send_nowait(report)
        except anyio.WouldBlock:  # a long queue (the zone far behind): wait for it
            await self._reports_in.send(report)

    async def _report_the_rest(self) -> None:
        """On stop: tell the zone what the reporter had not (the one it was telling again:
        a zone that got it already holds it back within its cooldown)."""
        zone = self.registry.lookup(zone_stream(self.zone))
        rest = [self._reporting] if self._reporting is not None else []
        self._reporting = None
        while True:
            try:
                rest.append(self._reports_out.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        for report in rest:
            with traceparent_as_current(report.traceparent):
                await zone.tell(report.message)

    async def _watch_lease(self) -> None:
        """Disarm once the lease lapses: a camera whose zone's node is unreachable stops
        analysing at most `arming_lease_s` + a quarter-second check (+ a frame in flight)
        after the zone's last renewal."""
        lease = self.settings.arming_lease_s
        assert lease is not None
        every = min(0.25, lease / 4)
        while True:
            await self.clock.sleep(every)
            if self._arming is not None and self.clock.monotonic() >= self._lease_until:
                await self.ref.tell(_LeaseExpired())

    async def on_stop(self) -> None:
        # The loop's `finally` has closed its decider's tracks and recorded them by now (stop,
        # crash or restart); whatever is left (it ran out of time) is recorded if it can be
        # and wiped regardless, so nothing of a track outlives this incarnation.
        rest = self.loop.decider.flush()
        try:
            if rest.matches and self._arming is not None:
                with anyio.move_on_after(1.0):
                    await self._record(rest, self._arming, self.clock.now())
        except Exception:
            log.exception("%s: could not record the decider's last tracks", self.name)
        finally:
            _wipe(rest)
        with anyio.move_on_after(2.0):
            try:
                await self._report_the_rest()
            except Exception:
                log.exception("%s: could not tell the zone its last matches", self.name)
        with anyio.move_on_after(1.0):
            try:
                await self._flush_discards()
            except Exception:
                log.exception("%s: could not record the last discard counts", self.name)

    # --- messages ----------------------------------------------------------------------------

    async def handle(self, message: object) -> Any:
        match message:
            case Arm():
                await self._arm(message)
                return self.status()
            case _LeaseExpired():
                if self._arming is not None and self.clock.monotonic() >= self._lease_until:
                    log.warning(
                        "%s: arming lease of %s lapsed (zone unreachable): disarmed",
                        self.name,
                        self._arming.deployment_id,
                    )
                    self.lease_disarms += 1
                    arming, lease = self._arming, self.settings.arming_lease_s or 0.0
                    silent = self.clock.monotonic() - self._lease_until + lease
                    await self._disarm()
                    await self.emit(
                        [
                            CameraLeaseLapsed(
                                camera=self.camera,
                                zone=self.zone,
                                deployment_id=arming.deployment_id,
                                lease_s=lease,
                                silent_s=round(max(0.0, silent), 3),
                            )
                        ]
                    )
                return None
            case Disarm():
                await self._disarm()
                return self.status()
            case Settle():
                await self.loop.wait_idle()
                return self.status()
            case GetStatus():
                return self.status()
        raise TypeError(f"{self.name} cannot handle {type(message).__name__}")

    def status(self) -> CameraStatus:
        stats = self.loop.stats
        return CameraStatus(
            camera=self.camera,
            zone=self.zone,
            armed_deployment=None if self._arming is None else self._arming.deployment_id,
            frames_received=stats.frames_received,
            frames_ignored_disarmed=stats.frames_ignored,
            frames_analysed=stats.frames_analysed,
            frames_dropped=stats.drops,
            matches=self.state.matches,
            recogniser_calls=stats.recogniser_calls,
            stream_up=self.stream_up,
        )

    async def _arm(self, arm: Arm) -> None:
        if self.settings.arming_lease_s is not None:
            self._lease_until = self.clock.monotonic() + self.settings.arming_lease_s
        current = self._arming
        if current == arm:
            return
        gallery: Gallery | None = self.loop.gallery
        if current is None or current.watchlist_version != arm.watchlist_version:
            try:
                gallery = await self.load_gallery(arm.watchlist_version)
            except Exception as exc:
                # Fail safe: a camera that cannot load its watchlist stays disarmed.
                await self._disarm()
                raise CommandRejected(
                    self.name,
                    "gallery_unavailable",
                    f"cannot load watchlist {arm.watchlist_version!r} "
                    f"({type(exc).__name__}); the camera stays disarmed",
                ) from exc
        new_deployment = current is None or current.deployment_id != arm.deployment_id
        decider = self.recognition.new_decider() if new_deployment else None
        rest = await self.loop.rearm(gallery, arm.threshold, decider, tag=arm)
        self._arming = arm
        if current is not None:
            await self._record(rest, current, self.clock.now())
        else:
            _wipe(rest)  # (disarmed before: its decider was flushed and recorded then)
        if new_deployment or (current is not None and current.threshold != arm.threshold):
            await self._flush_discards()  # counts end at the change: one threshold per batch

    async def _disarm(self) -> None:
        """Stop analysing; returns once nothing is in flight and every count is recorded."""
        arming, self._arming = self._arming, None
        rest = await self.loop.rearm(None)
        if arming is not None:
            await self._record(rest, arming, self.clock.now())
        await self._flush_discards()

    # --- the loop's outputs ------------------------------------------------------------------

    async def _on_output(self, item: LoopOutput) -> None:
        if isinstance(item, FrameDecided):
            await self._decided(item)
        elif isinstance(item, StreamStarted):
            self.stream_up = True
            info = item.info
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
        elif isinstance(item, StreamLost):  # once per outage, not per retry
            self.stream_up = False
            await self.emit(
                [
                    CameraStreamLost(
                        camera=self.camera,
                        zone=self.zone,
                        reason=item.reason,
                        retry_in_s=item.retry_in_s,
                    )
                ]
            )
        elif isinstance(item, StreamRecovered):  # (its StreamStarted follows)
            await self.emit(
                [
                    CameraStreamRecovered(
                        camera=self.camera,
                        zone=self.zone,
                        retries=item.retries,
                        down_s=round(item.down_s, 3),
                    )
                ]
            )

    async def _decided(self, item: FrameDecided) -> None:
        """Record one frame's decisions under the arming they were made with (the loop's
        tag: decisions emitted while `rearm` waits still belong to the old arming)."""
        m = metrics()
        drops = self.loop.stats.drops
        if drops > self._drops_reported:
            m.frames_dropped(self.camera, self.zone, drops - self._drops_reported)
            self._drops_reported = drops
        if item.frame_index >= 0:
            m.frames_analysed(self.camera, self.zone)
            m.faces_seen(self.camera, self.zone, item.faces_seen)
        arming = item.tag
        if not isinstance(arming, Arm):
            _wipe(item.decisions)  # decided while disarmed: cannot happen, never kept
            return
        await self._record(item.decisions, arming, self.clock.now())

    async def _record(self, decisions: Decisions, arming: Arm, now: datetime) -> None:
        """Record matches at once and discard counts in batches; every match's crop is
        zeroed when this returns, whether or not it was recorded."""
        try:
            await self._record_all(decisions, arming, now)
        finally:
            _wipe(decisions)

    async def _record_all(self, decisions: Decisions, arming: Arm, now: datetime) -> None:
        tally = decisions.discarded
        if tally:
            p = self._pending
            if p is not None and (
                p.deployment_id != arming.deployment_id or p.threshold != arming.threshold
            ):
                await self._flush_discards()  # another setting's counts: recorded apart
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
        if tally.faces_seen == 0 and not tally.frames:
            reason = "no_match"  # only tracks that ended without a match
        elif tally.faces_seen == 0:
            reason = "no_face"
        elif tally.faces_below_quality >= tally.faces_seen:
            reason = "below_quality"
        else:
            reason = "no_match"
        p = self._pending
        if p is None:
            p = self._pending = _Pending(
                arming.deployment_id, arming.threshold, DiscardTally(), {reason}, now, now
            )
        p.tally.frames += tally.frames
        p.tally.faces_seen += tally.faces_seen
        p.tally.faces_below_quality += tally.faces_below_quality
        p.tally.tracks_started += tally.tracks_started
        p.tally.tracks_closed += tally.tracks_closed
        p.reasons.add(reason)
        p.end = now

    async def _flush_discards(self) -> None:
        p, self._pending = self._pending, None
        if p is None or not p.tally:
            return
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
                    tracks_started=p.tally.tracks_started,
                    tracks_closed=p.tally.tracks_closed,
                    threshold=p.threshold,
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
                try:
                    # a bytearray so it can be zeroed after; the vault only reads the buffer
                    crop_ref = await self.vault.put(cast(bytes, data), "alert_crop", retain)
                finally:
                    data[:] = bytes(len(data))  # the PNG is the match's face too
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
        await self._report(
            MatchReported(match, envs[0].event_id, decision.candidate.label, appended)
        )


def _wipe(decisions: Decisions) -> None:
    for decision in decisions.matches:
        if decision.crop is not None:
            decision.crop.fill(0)
            decision.crop = None


def _encode_crop(crop: Image) -> bytearray:
    """PNG bytes of an RGB crop (for the vault only), in a buffer the caller zeroes."""
    import cv2

    bgr = np.ascontiguousarray(crop[:, :, ::-1])  # our copy, so it can be zeroed
    try:
        ok, buf = cv2.imencode(".png", bgr)
    finally:
        bgr.fill(0)
    try:
        if not ok:
            raise ValueError("could not encode the crop")
        out = bytearray(buf.size)
        np.frombuffer(out, np.uint8)[:] = buf.reshape(-1)
        return out
    finally:
        buf.fill(0)
