"""Spans around message handling continue the sender's trace; events carry it."""

from __future__ import annotations

import anyio

from lfr.clock import ManualClock
from lfr.kernel import Supervisor
from lfr.store.memory import InMemoryEventStore
from lfr.telemetry import TelemetryConfig, get_tracer, setup_telemetry
from tests.kernel.test_supervision import Counter


async def test_handler_span_and_event_join_the_senders_trace() -> None:
    telemetry = await anyio.to_thread.run_sync(setup_telemetry, TelemetryConfig(exporter="memory"))
    try:
        clock = ManualClock()
        store = InMemoryEventStore(clock=clock)
        sup = Supervisor("test", clock=clock)
        ref = sup.spawn("counter:1", lambda: Counter(store, clock))
        async with anyio.create_task_group() as tg:
            await tg.start(sup.run)
            with get_tracer("test").start_as_current_span("api request") as root:
                await ref.ask(("inc", 1))
            tg.cancel_scope.cancel()
        trace_id = root.get_span_context().trace_id
        spans = [s for s in telemetry.finished_spans() if s.name == "counter:1 handle tuple"]
        assert len(spans) == 1
        assert spans[0].context.trace_id == trace_id
        assert spans[0].attributes == {"lfr.actor": "counter:1", "lfr.message": "tuple"}
        (env,) = await store.read_stream("counter:1")
        assert env.traceparent is not None
        assert env.traceparent.split("-")[1] == f"{trace_id:032x}"
    finally:
        telemetry.shutdown()
