"""Telemetry for lfr: OpenTelemetry traces and metrics, and W3C trace context propagation.

One trace follows a frame from decode to match, the `FaceMatched` append, the alert, the
MQTT publish and the officer's acknowledgement: context rides in `Envelope.traceparent` and
in MQTT 5 user properties. Nothing biometric and no identity of a non-match is ever an
attribute or a label (`lfr.telemetry.privacy` checks that).

Use: `setup_telemetry(TelemetryConfig(...))` once at start, `get_tracer(__name__)` for spans,
`metrics().frames_analysed(camera, zone)` for instruments, `current_traceparent()` when
writing an event or publishing, `span_from_traceparent(...)` when receiving.
"""

from lfr.telemetry._setup import (
    Telemetry,
    TelemetryConfig,
    get_tracer,
    metrics,
    setup_telemetry,
)
from lfr.telemetry.instruments import LATENCY_BUCKETS_MS, Metrics
from lfr.telemetry.privacy import metric_label_breaches, span_breaches
from lfr.telemetry.propagation import (
    TRACEPARENT,
    context_from_traceparent,
    context_from_user_properties,
    current_traceparent,
    span_from_traceparent,
    traceparent_as_current,
    traceparent_user_properties,
)

__all__ = [
    "LATENCY_BUCKETS_MS",
    "TRACEPARENT",
    "Metrics",
    "Telemetry",
    "TelemetryConfig",
    "context_from_traceparent",
    "context_from_user_properties",
    "current_traceparent",
    "get_tracer",
    "metric_label_breaches",
    "metrics",
    "setup_telemetry",
    "span_breaches",
    "span_from_traceparent",
    "traceparent_as_current",
    "traceparent_user_properties",
]
