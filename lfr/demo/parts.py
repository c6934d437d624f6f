"""Demo-side adapters around the site's seams (no replacement of any component):

- `TimedRecogniser` wraps the `Recogniser` to time analyses and the wait before them.
- `TracedSink` wraps the `AlertSink` so the MQTT publish is a span of the alert's trace and
  the officer's device continues from it.
- `FrameSpans` wraps the `Decider` so each analysed frame has a `camera.frame` span that is
  current while the frame is analysed (its `vision.analyse` span becomes a child) and, when
  it matched, while the match is recorded and reported: the `FaceMatched` envelope and the
  message to the zone carry its traceparent, so frame, match, alert, publish and
  acknowledgement form one trace. (The clean place for this span is the camera actor's
  per-frame analysis; the decider is the seam the demo owns.)
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from lfr.alerts import AlertNotice, AlertSink, Channel
from lfr.telemetry import current_traceparent, get_tracer, span_from_traceparent
from lfr.vision.types import Decider, Decisions, Frame, FrameAnalysis, Gallery, Recogniser

__all__ = ["FrameSpans", "TimedRecogniser", "TracedSink"]

_tracer = get_tracer("lfr.demo")


class TimedRecogniser:
    """A `Recogniser` that passes analyses through and times each one (and how long its
    frame waited for it)."""

    def __init__(self, inner: Recogniser) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self.wait_ms: list[float] = []  # frame decoded -> analysis began (sampling, queueing)
        self.analyse_ms: list[float] = []

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        begin = time.monotonic_ns()
        analysis = self.inner.analyse(frame, gallery)
        end = time.monotonic_ns()
        with self._lock:
            self.wait_ms.append((begin - frame.decoded_ns) / 1e6)
            self.analyse_ms.append((end - begin) / 1e6)
        return analysis


class TracedSink:
    """An `AlertSink` whose deliveries are `mqtt.publish` spans in the alert's trace."""

    def __init__(self, inner: AlertSink) -> None:
        self.inner = inner
        self.channel: Channel = inner.channel

    async def deliver(self, notice: AlertNotice) -> None:
        with span_from_traceparent(
            _tracer,
            "mqtt.publish alert",
            notice.traceparent,
            kind=SpanKind.PRODUCER,
            attributes={
                "lfr.alert_id": notice.alert.alert_id,
                "lfr.zone": notice.alert.zone,
                "messaging.system": "mqtt",
                "lfr.recipients": len(notice.to),
            },
        ):
            tp = current_traceparent()
            await self.inner.deliver(
                AlertNotice(notice.alert, notice.to, notice.escalation_level, tp)
            )


class FrameSpans:
    """A `Decider` that keeps a `camera.frame` span current in the camera's analysis task,
    notes when the frame that decided each match was captured (for latency), when each
    analysed frame was captured (against armed periods) and the closest watchlist similarity
    of faces below the threshold (numbers only, binned for the report's threshold plot).

    The span for frame N+1 starts when frame N has been decided (so it is current while
    N+1 waits and is analysed); a frame that matched keeps its span current until the next
    decision, i.e. while `FaceMatched` is appended and the zone is told. Attributes are the
    camera and zone only.
    """

    def __init__(
        self,
        inner: Decider,
        camera: str,
        zone: str,
        decided_at: dict[tuple[str, str], datetime] | None = None,
        analysed: dict[str, list[datetime]] | None = None,
        below: dict[str, list[float]] | None = None,
    ) -> None:
        self.inner = inner
        self.camera = camera
        self.zone = zone
        #: (camera, track id) -> capture time of the frame whose analysis decided the match
        self.decided_at = decided_at if decided_at is not None else {}
        #: camera -> capture time of every frame analysed (checked against armed periods)
        self.analysed = analysed if analysed is not None else {}
        #: camera -> best watchlist similarity of each face below the threshold (2 decimals)
        self.below = below if below is not None else {}
        self._span: Span | None = None
        self._token: object | None = None
        self._matched = False

    def _start(self) -> None:
        self._span = _tracer.start_span(
            "camera.frame", attributes={"lfr.camera": self.camera, "lfr.zone": self.zone}
        )
        self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def _end(self) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        if self._span is not None:
            self._span.end()
            self._span = None

    def decide(self, frame: Frame, analysis: FrameAnalysis, threshold: float) -> Decisions:
        if self._matched:  # the previous frame's match has been recorded by now
            self._end()
            self._start()
        self.analysed.setdefault(self.camera, []).append(frame.captured_at)
        self.below.setdefault(self.camera, []).extend(
            round(f.best.similarity, 2)
            for f in analysis.faces
            if f.best is not None and f.best.similarity < threshold
        )
        decisions = self.inner.decide(frame, analysis, threshold)
        for m in decisions.matches:
            self.decided_at[(self.camera, m.track_id or "")] = frame.captured_at
        self._matched = bool(decisions.matches)
        if self._span is not None and self._matched:
            self._span.set_attribute("lfr.matches", len(decisions.matches))
        if not self._matched:
            self._end()
            self._start()
        return decisions

    def flush(self) -> Decisions:
        if self._span is not None:  # another task may call this: end, but leave the context
            self._span.end()
            self._span = None
        return self.inner.flush()
