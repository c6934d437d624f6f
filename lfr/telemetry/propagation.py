"""W3C Trace Context carried where lfr's messages travel: the event envelope and MQTT 5.

A frame's trace must survive the hop into the log (`Envelope.traceparent`) and onto the
officer's phone (MQTT user property `traceparent`, per the W3C Trace Context for MQTT draft),
so the acknowledgement joins the same trace. Only trace ids cross; never a payload.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACEPARENT",
    "context_from_traceparent",
    "context_from_user_properties",
    "current_traceparent",
    "span_from_traceparent",
    "traceparent_as_current",
    "traceparent_user_properties",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_propagator = TraceContextTextMapPropagator()


def current_traceparent(ctx: Context | None = None) -> str | None:
    """The `traceparent` header of the current (or given) span, or None outside any span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=ctx)
    return carrier.get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None, tracestate: str | None = None) -> Context:
    """A context whose parent is the remote span named by `traceparent` (empty if None/invalid)."""
    if not traceparent:
        return Context()
    carrier = {TRACEPARENT: traceparent}
    if tracestate:
        carrier[TRACESTATE] = tracestate
    return _propagator.extract(carrier, context=Context())


def traceparent_user_properties(ctx: Context | None = None) -> list[tuple[str, str]]:
    """MQTT 5 user properties carrying the current trace context ([] outside any span)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=ctx)
    return sorted(carrier.items())


def context_from_user_properties(
    props: Iterable[tuple[str, str]] | Mapping[str, str] | None,
) -> Context:
    """The remote parent context from received MQTT 5 user properties (empty if absent)."""
    if props is None:
        return Context()
    items = props.items() if isinstance(props, Mapping) else props
    carrier = {str(k).lower(): str(v) for k, v in items}
    return _propagator.extract(carrier, context=Context())


@contextmanager
def span_from_traceparent(
    tracer: trace.Tracer,
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Iterator[Span]:
    """Start a span as a child of a remote `traceparent` (a new root when None) and make it
    current, so later `current_traceparent()` calls continue the same trace."""
    parent = context_from_traceparent(traceparent)
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {})
    ) as span:
        yield span


@contextmanager
def traceparent_as_current(traceparent: str | None) -> Iterator[None]:
    """Make the span named by `traceparent` the current parent inside (nothing when None), so
    work done later and elsewhere (a message queued, sent from another task) joins its trace."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(context_from_traceparent(traceparent))
    try:
        yield
    finally:
        otel_context.detach(token)
