"""OpenTelemetry providers for lfr: console by default, in memory for tests, OTLP on request.

The tracer provider is installed globally once (OpenTelemetry allows that only once per
process); `setup_telemetry` then swaps which exporters it feeds, so tests and repeated demo
runs in one process each see their own spans. Metrics get a fresh meter provider per setup.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TextIO

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lfr.errors import ConfigError
from lfr.telemetry.instruments import Metrics

__all__ = ["Telemetry", "TelemetryConfig", "get_tracer", "metrics", "setup_telemetry"]

log = logging.getLogger(__name__)

ExporterKind = Literal["console", "memory", "otlp", "none"]


@dataclass
class TelemetryConfig:
    """Where spans and metrics go. `otlp_url` is the collector's OTLP/HTTP base URL."""

    exporter: ExporterKind = "console"
    otlp_url: str | None = None
    console_out: TextIO | None = None  # default: stderr, so stdout stays for --json
    service_name: str = "lfr"
    metric_interval_s: float = 10.0
    #: also keep spans and metrics in memory (the demo's dashboard and privacy check)
    keep_in_memory: bool = False


class _SwitchProcessor(SpanProcessor):
    """A span processor whose delegates can be replaced at run time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delegates: tuple[SpanProcessor, ...] = ()

    def replace(self, delegates: Sequence[SpanProcessor]) -> tuple[SpanProcessor, ...]:
        with self._lock:
            old, self._delegates = self._delegates, tuple(delegates)
        return old

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for p in self._delegates:
            p.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for p in self._delegates:
            p.on_end(span)

    def shutdown(self) -> None:
        for p in self.replace(()):
            p.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self._delegates)


@dataclass
class _Global:
    provider: TracerProvider | None = None
    switch: _SwitchProcessor = field(default_factory=_SwitchProcessor)
    metrics: Metrics = field(default_factory=lambda: Metrics(otel_metrics.NoOpMeter("lfr")))
    meter_provider: MeterProvider | None = None


_g = _Global()
_lock = threading.Lock()


def _tracer_provider(service_name: str) -> TracerProvider:
    with _lock:
        if _g.provider is None:
            _g.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            _g.provider.add_span_processor(_g.switch)
            trace.set_tracer_provider(_g.provider)
        return _g.provider


def get_tracer(name: str) -> trace.Tracer:
    """A tracer on lfr's provider (spans go nowhere until `setup_telemetry`)."""
    return _tracer_provider("lfr").get_tracer(name)


def metrics() -> Metrics:
    """The instruments of the current setup (no-ops before `setup_telemetry`)."""
    return _g.metrics


@dataclass
class Telemetry:
    """Handle on one setup: read in-memory data in tests, flush and shut down at exit."""

    config: TelemetryConfig
    span_exporter: InMemorySpanExporter | None
    metric_reader: InMemoryMetricReader | None
    _processors: tuple[SpanProcessor, ...]
    _meter_provider: MeterProvider

    def finished_spans(self) -> tuple[ReadableSpan, ...]:
        """Spans ended so far (memory exporter only)."""
        if self.span_exporter is None:
            raise ConfigError(
                "finished_spans() needs TelemetryConfig(exporter='memory') or keep_in_memory=True"
            )
        return tuple(self.span_exporter.get_finished_spans())

    def force_flush(self) -> None:
        for p in self._processors:
            p.force_flush(5000)
        self._meter_provider.force_flush(5000)

    def shutdown(self) -> None:
        """Flush and stop this setup's exporters (the global provider stays installed)."""
        self.force_flush()
        if _g.switch.replace(()) != self._processors:
            log.debug("telemetry shut down after another setup replaced it")
        for p in self._processors:
            p.shutdown()
        self._meter_provider.shutdown()
        if _g.meter_provider is self._meter_provider:
            _g.metrics = Metrics(otel_metrics.NoOpMeter("lfr"))
            _g.meter_provider = None


def setup_telemetry(config: TelemetryConfig | None = None) -> Telemetry:
    """Route lfr's spans and metrics to the configured exporter; returns the handle.

    :raises ConfigError: `otlp` without a URL.
    """
    config = config or TelemetryConfig()
    _tracer_provider(config.service_name)
    processors: list[SpanProcessor] = []
    readers: list[MetricReader] = []
    span_exporter: InMemorySpanExporter | None = None
    metric_reader: InMemoryMetricReader | None = None
    interval_ms = int(config.metric_interval_s * 1000)
    if config.exporter == "memory" or config.keep_in_memory:
        span_exporter = InMemorySpanExporter()
        metric_reader = InMemoryMetricReader()
        processors.append(SimpleSpanProcessor(span_exporter))
        readers.append(metric_reader)
    if config.exporter in ("memory", "none"):
        pass
    elif config.exporter == "console":
        out = config.console_out or sys.stderr
        processors.append(
            BatchSpanProcessor(
                ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\n")
            )
        )
        readers.append(
            PeriodicExportingMetricReader(
                ConsoleMetricExporter(out=out, formatter=lambda m: m.to_json(indent=None) + "\n"),
                export_interval_millis=interval_ms,
            )
        )
    elif config.exporter == "otlp":
        if not config.otlp_url:
            raise ConfigError(
                "telemetry exporter 'otlp' needs a collector URL, e.g. --otlp http://127.0.0.1:4318"
            )
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = config.otlp_url.rstrip("/")
        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
        readers.append(
            PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
                export_interval_millis=interval_ms,
            )
        )
    meter_provider = MeterProvider(
        metric_readers=readers,
        resource=Resource.create({"service.name": config.service_name}),
    )
    old = _g.switch.replace(processors)
    for p in old:
        p.shutdown()
    if _g.meter_provider is not None:
        _g.meter_provider.shutdown()
    _g.meter_provider = meter_provider
    _g.metrics = Metrics(meter_provider.get_meter("lfr"))
    return Telemetry(config, span_exporter, metric_reader, tuple(processors), meter_provider)
