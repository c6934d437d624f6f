"""Demo-side adapters around the site's seams (no replacement of any component):

- `ScoreTally` wraps the `Recogniser` to count, in fixed bins, the closest watchlist
  similarity of faces that did *not* match: numbers only, for the report's threshold plot.
- `TracedSink` wraps the `AlertSink` so the MQTT publish is a span of the alert's trace and
  the officer's device continues from it.
"""

from __future__ import annotations

import threading

from opentelemetry.trace import SpanKind

from lfr.alerts import AlertNotice, AlertSink, Channel
from lfr.report import SimilarityHistogram
from lfr.telemetry import current_traceparent, get_tracer, span_from_traceparent
from lfr.vision.types import Frame, FrameAnalysis, Gallery, Recogniser

__all__ = ["ScoreTally", "TracedSink"]

_tracer = get_tracer("lfr.demo")


class ScoreTally:
    """A `Recogniser` that passes analyses through and bins non-match similarities."""

    def __init__(self, inner: Recogniser, threshold: float) -> None:
        self.inner = inner
        self.threshold = threshold
        self._lock = threading.Lock()
        self._scores: list[float] = []

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        analysis = self.inner.analyse(frame, gallery)
        below = [
            round(f.best.similarity, 2)
            for f in analysis.faces
            if f.best is not None and f.best.similarity < self.threshold
        ]
        if below:
            with self._lock:
                self._scores.extend(below)
        return analysis

    def histogram(self) -> SimilarityHistogram:
        with self._lock:
            return SimilarityHistogram.of(self._scores)


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
