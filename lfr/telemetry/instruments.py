"""The metric instruments of lfr, with labels fixed by their signatures.

Callers pass a camera, a zone, an actor or a stage name, never free-form attributes: a
label is an operational place or component, so no biometric value and no identity of a
person who did not match can become a time series.
"""

from __future__ import annotations

from opentelemetry.metrics import Meter

__all__ = ["LATENCY_BUCKETS_MS", "Metrics"]

#: Bucket bounds (ms) suited to decode-to-alert and per-stage latencies on a CPU box.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    5,
    10,
    20,
    35,
    50,
    75,
    100,
    150,
    200,
    300,
    400,
    500,
    750,
    1000,
    2000,
    5000,
)


class Metrics:
    """lfr's instruments on one meter. Get the live one with `lfr.telemetry.metrics()`."""

    def __init__(self, meter: Meter) -> None:
        self._frames_analysed = meter.create_counter(
            "lfr.camera.frames.analysed",
            unit="{frame}",
            description="frames run through the face pipeline",
        )
        self._frames_dropped = meter.create_counter(
            "lfr.camera.frames.dropped",
            unit="{frame}",
            description="frames skipped because analysis was behind (latest frame wins)",
        )
        self._faces_seen = meter.create_counter(
            "lfr.camera.faces.seen", unit="{face}", description="faces detected (count only)"
        )
        self._analysed_fps = meter.create_gauge(
            "lfr.camera.analysed_fps", unit="{frame}/s", description="frames analysed per second"
        )
        self._mailbox_depth = meter.create_gauge(
            "lfr.kernel.mailbox.depth",
            unit="{message}",
            description="messages waiting in a mailbox",
        )
        self._stage_ms = meter.create_histogram(
            "lfr.pipeline.stage.duration",
            unit="ms",
            description="time spent in one pipeline stage (decode, detect, embed, search, ...)",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_MS),
        )
        self._alert_latency_ms = meter.create_histogram(
            "lfr.alert.latency",
            unit="ms",
            description="match recorded to alert dispatched to patrols (in the zone)",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_MS),
        )
        self._alert_delivered_ms = meter.create_histogram(
            "lfr.alert.delivery",
            unit="ms",
            description="capture of the alert's frame to the alert on an officer's device",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS_MS),
        )
        self._alerts = meter.create_counter(
            "lfr.alerts.raised", unit="{alert}", description="alerts raised for officers"
        )

    def frames_analysed(self, camera: str, zone: str, n: int = 1) -> None:
        self._frames_analysed.add(n, {"camera": camera, "zone": zone})

    def frames_dropped(self, camera: str, zone: str, n: int = 1) -> None:
        self._frames_dropped.add(n, {"camera": camera, "zone": zone})

    def faces_seen(self, camera: str, zone: str, n: int) -> None:
        self._faces_seen.add(n, {"camera": camera, "zone": zone})

    def analysed_fps(self, camera: str, zone: str, fps: float) -> None:
        self._analysed_fps.set(fps, {"camera": camera, "zone": zone})

    def mailbox_depth(self, actor: str, depth: int) -> None:
        self._mailbox_depth.set(depth, {"actor": actor})

    def stage_ms(self, stage: str, ms: float, camera: str | None = None) -> None:
        attrs = {"stage": stage} if camera is None else {"stage": stage, "camera": camera}
        self._stage_ms.record(ms, attrs)

    def alert_latency_ms(self, zone: str, camera: str, ms: float) -> None:
        self._alert_latency_ms.record(ms, {"zone": zone, "camera": camera})

    def alert_delivered_ms(self, zone: str, camera: str, ms: float) -> None:
        self._alert_delivered_ms.record(ms, {"zone": zone, "camera": camera})

    def alert_raised(self, zone: str, camera: str) -> None:
        self._alerts.add(1, {"zone": zone, "camera": camera})
