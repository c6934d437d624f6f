"""Trace context helpers for actors: the traceparent of an envelope as a span's parent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span, SpanKind

from lfr.telemetry import get_tracer, span_from_traceparent
from schemas.envelope import Envelope

__all__ = ["span_for_envelope", "tracing_active"]


def tracing_active() -> bool:
    """Whether spans go anywhere (an exporter is set up). With telemetry off the kernel skips
    per-message spans and trace headers: they would be built and dropped, at a third of the
    kernel's throughput. Unknown telemetry internals count as active (always safe)."""
    from lfr.telemetry import _setup

    switch = getattr(getattr(_setup, "_g", None), "switch", None)
    return bool(getattr(switch, "_delegates", True))


_tracer = get_tracer("lfr.kernel")


@contextmanager
def span_for_envelope(name: str, envelope: Envelope) -> Iterator[Span]:
    """A span continuing the trace stored in `envelope` (type and stream only as attributes)."""
    with span_from_traceparent(
        _tracer,
        name,
        envelope.traceparent,
        kind=SpanKind.CONSUMER,
        attributes={"lfr.event": envelope.type, "lfr.stream": envelope.stream},
    ) as span:
        yield span
