"""Telemetry: traceparent round trips through envelope and MQTT properties, in-memory export,
metric labels, and the privacy checks that guard spans and labels."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind

import lfr.telemetry as tel
from lfr.errors import ConfigError
from lfr.telemetry import (
    TelemetryConfig,
    context_from_user_properties,
    current_traceparent,
    get_tracer,
    metric_label_breaches,
    metrics,
    setup_telemetry,
    span_breaches,
    span_from_traceparent,
    traceparent_user_properties,
)


@pytest.fixture
def telemetry():
    t = setup_telemetry(TelemetryConfig(exporter="memory"))
    yield t
    t.shutdown()


def test_public_names_match_all():
    public = {n for n in dir(tel) if not n.startswith("_")} - {
        "instruments",
        "privacy",
        "propagation",
    }
    assert public == set(tel.__all__)


def test_no_traceparent_outside_a_span(telemetry):
    assert current_traceparent() is None
    assert traceparent_user_properties() == []


def test_trace_follows_envelope_and_mqtt_hops(telemetry):
    tracer = get_tracer("test")
    with tracer.start_as_current_span("camera.frame") as frame_span:
        with tracer.start_as_current_span("store.append"):
            envelope_tp = current_traceparent()
    assert envelope_tp is not None and envelope_tp.startswith("00-")
    # the zone reads the event from the log, continues from the envelope
    with span_from_traceparent(tracer, "zone.raise_alert", envelope_tp):
        with tracer.start_as_current_span("mqtt.publish", kind=SpanKind.PRODUCER):
            props = traceparent_user_properties()
    assert dict(props)["traceparent"].startswith("00-")
    # the officer's client receives the message with its user properties
    ctx = context_from_user_properties(props)
    with tracer.start_as_current_span("officer.acknowledge", context=ctx, kind=SpanKind.CONSUMER):
        pass
    spans = telemetry.finished_spans()
    assert {s.name for s in spans} == {
        "camera.frame",
        "store.append",
        "zone.raise_alert",
        "mqtt.publish",
        "officer.acknowledge",
    }
    trace_ids = {s.context.trace_id for s in spans}
    assert trace_ids == {frame_span.get_span_context().trace_id}
    by_id = {s.context.span_id: s for s in spans}
    ack = next(s for s in spans if s.name == "officer.acknowledge")
    chain = []
    node = ack
    while node is not None:
        chain.append(node.name)
        node = by_id.get(node.parent.span_id) if node.parent else None
    assert chain == [
        "officer.acknowledge",
        "mqtt.publish",
        "zone.raise_alert",
        "store.append",
        "camera.frame",
    ]


def test_bad_traceparent_starts_a_new_root(telemetry):
    tracer = get_tracer("test")
    with span_from_traceparent(tracer, "x", "not-a-traceparent") as span:
        assert span.get_span_context().is_valid
    (s,) = telemetry.finished_spans()
    assert s.parent is None


def test_metrics_carry_only_place_labels(telemetry):
    m = metrics()
    m.frames_analysed("ne-1", "north-end", 5)
    m.frames_dropped("ne-1", "north-end", 2)
    m.analysed_fps("ne-1", "north-end", 4.5)
    m.mailbox_depth("zone:north-end", 3)
    m.stage_ms("detect", 12.5, camera="ne-1")
    m.alert_latency_ms("north-end", "ne-1", 180.0)
    m.alert_raised("north-end", "ne-1")
    m.alert_delivered_ms("north-end", "ne-1", 210.0)
    data = telemetry.metric_reader.get_metrics_data()
    points = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for p in metric.data.data_points:
                    points[metric.name] = (dict(p.attributes), p)
    assert points["lfr.camera.frames.analysed"][1].value == 5
    assert points["lfr.camera.frames.dropped"][1].value == 2
    assert points["lfr.camera.analysed_fps"][1].value == 4.5
    assert points["lfr.kernel.mailbox.depth"][0] == {"actor": "zone:north-end"}
    assert points["lfr.alert.latency"][1].sum == 180.0
    assert points["lfr.alert.delivery"][1].sum == 210.0
    assert metric_label_breaches(data, ["Jane Doe"]) == []


def test_privacy_check_flags_embeddings_pixels_and_non_match_names(telemetry):
    tracer = get_tracer("test")
    with tracer.start_as_current_span("bad") as span:
        span.set_attribute("face.embedding", [0.1] * 512)
        span.set_attribute("values", [0.5] * 64)
        span.set_attribute("note", "passer-by Jane Doe")
        span.add_event("crop", {"data": b"\x00\x01".decode("latin-1")})
    with tracer.start_as_current_span("good") as span:
        span.set_attribute("camera", "ne-1")
        span.set_attribute("similarity", 0.71)
    problems = span_breaches(telemetry.finished_spans(), ["Jane Doe"])
    assert len(problems) == 3
    assert any("face.embedding" in p for p in problems)
    assert any("embedding-like" in p for p in problems)
    assert any("Jane Doe" in p for p in problems)
    assert all("good" not in p for p in problems)


def test_otlp_needs_a_url():
    with pytest.raises(ConfigError, match="--otlp"):
        setup_telemetry(TelemetryConfig(exporter="otlp"))


def test_console_exporter_writes_one_json_line_per_span(tmp_path):
    out = (tmp_path / "spans.jsonl").open("w")
    t = setup_telemetry(TelemetryConfig(exporter="console", console_out=out))
    with get_tracer("test").start_as_current_span("hello"):
        pass
    t.shutdown()
    out.close()
    lines = (tmp_path / "spans.jsonl").read_text().splitlines()
    assert any('"name": "hello"' in line for line in lines)


def test_a_second_setup_replaces_the_first():
    first = setup_telemetry(TelemetryConfig(exporter="memory"))
    second = setup_telemetry(TelemetryConfig(exporter="memory"))
    with get_tracer("test").start_as_current_span("only-second"):
        pass
    assert [s.name for s in second.finished_spans()] == ["only-second"]
    assert first.finished_spans() == ()
    second.shutdown()


def test_console_export_can_also_keep_spans_in_memory(tmp_path):
    out = (tmp_path / "spans.jsonl").open("w")
    t = setup_telemetry(TelemetryConfig(exporter="console", console_out=out, keep_in_memory=True))
    with get_tracer("test").start_as_current_span("both"):
        pass
    metrics().frames_analysed("ne-1", "north-end")
    assert [s.name for s in t.finished_spans()] == ["both"]
    assert t.metric_reader.get_metrics_data() is not None
    t.shutdown()
    out.close()
    assert '"name": "both"' in (tmp_path / "spans.jsonl").read_text()


def test_otlp_export_reaches_a_collector_over_http():
    """A stand-in collector on loopback receives protobuf traces and metrics over OTLP/HTTP."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        t = setup_telemetry(TelemetryConfig(exporter="otlp", otlp_url=url))
        with get_tracer("test").start_as_current_span("exported"):
            metrics().frames_analysed("ne-1", "north-end")
        t.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    paths = {p for p, _, _ in received}
    assert {"/v1/traces", "/v1/metrics"} <= paths
    traces = [b for p, ct, b in received if p == "/v1/traces" and ct == "application/x-protobuf"]
    assert any(b"exported" in b for b in traces)
