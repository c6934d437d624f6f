"""The JetStream log audited as the SQLite one is: a stream rewritten by someone without the
site's key fails `lfr audit verify`; a site runs on it and its log verifies; readers hold a
page at a time, never the log."""

from __future__ import annotations

import gc
import hashlib
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.store.hashchain import canonical_body
from lfr.store.nats import NatsAuditSource, NatsEventStore
from lfr.store.verify import verify_log
from tests.audit.site import build_nats_site, delete_nats_stream, nats_prefix

pytestmark = pytest.mark.nats

runner = CliRunner()


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    name = f"LFRTEST_TAMPER_{uuid.uuid4().hex[:10]}"
    yield name
    await delete_nats_stream(name)


def _verify(stream: str) -> tuple[int, str]:
    res = runner.invoke(app, ["audit", "verify", "--engine", "nats", "--stream", stream])
    return res.exit_code, " ".join(res.stderr.split()) + res.stdout


async def _raw(stream: str) -> tuple[Any, Any]:
    import nats

    nc = await nats.connect("nats://127.0.0.1:4222")
    return nc, nc.jetstream()


async def _event_messages(js: Any, stream: str) -> list[Any]:
    """Every message of the stream (the attacker's copy), in order."""
    info = await js.stream_info(stream)
    out = []
    for seq in range(1, info.state.last_seq + 1):
        out.append(await js.get_msg(stream, seq))
    return out


@pytest.mark.blocking_ok("the test runs the audit CLI, which reads the stream synchronously")
async def test_a_second_raw_publish_of_a_forged_batch_fails_verify(stream: str) -> None:
    await build_nats_site(stream, n=1500)
    assert (await anyio.to_thread.run_sync(_verify, stream))[0] == 0
    nc, js = await _raw(stream)
    try:
        msgs = await _event_messages(js, stream)
        target = next(m for m in msgs if m.subject.count(".") == 2 and m.headers)
        batch = orjson.loads(target.data)
        batch[0]["payload"]["frames"] = 1  # the forged record, rehashed
        batch[0]["hash"] = hashlib.sha256(canonical_body(batch[0])).hexdigest()
        await js.publish(target.subject, orjson.dumps(batch), stream=stream)
    finally:
        await nc.close()
    code, out = await anyio.to_thread.run_sync(_verify, stream)
    assert code == 1 and "BROKEN" in out and f"nats:{stream}" in out


@pytest.mark.blocking_ok("the test runs the audit CLI, which reads the stream synchronously")
async def test_a_deleted_message_fails_verify(stream: str) -> None:
    await build_nats_site(stream, n=1500)
    nc, js = await _raw(stream)
    try:
        msgs = await _event_messages(js, stream)
        victim = [m for m in msgs if m.subject.count(".") == 2][3]
        first = int(victim.headers["Lfr-Seq"])
        await js.delete_msg(stream, victim.seq)
    finally:
        await nc.close()
    code, out = await anyio.to_thread.run_sync(_verify, stream)
    assert code == 1 and f"at seq {first}" in out and "missing" in out


@pytest.mark.blocking_ok("the test runs the audit CLI, which reads the stream synchronously")
async def test_a_stream_rewritten_and_rechained_without_the_key_fails_verify(
    stream: str,
) -> None:
    """The attacker purges the stream and publishes it again with one event altered and the
    chain recomputed after it, keeping the identity and the signed checkpoints (no key to
    re-sign them): the checkpoint covering the change has another Merkle root."""
    await build_nats_site(stream, n=1500, checkpoint_every=500)
    nc, js = await _raw(stream)
    try:
        msgs = await _event_messages(js, stream)
        await js.purge_stream(stream)
        prev: str | None = None
        for m in msgs:
            data = m.data
            if m.subject.count(".") == 2:  # an event batch
                batch = orjson.loads(data)
                for rec in batch:
                    if rec["seq"] == 700:
                        rec["payload"]["frames"] = 1
                        prev = ""
                    if prev is not None:
                        if prev:
                            rec["prev_hash"] = prev
                        rec["hash"] = hashlib.sha256(canonical_body(rec)).hexdigest()
                        prev = rec["hash"]
                data = orjson.dumps(batch)
            lfr_headers = {k: v for k, v in (m.headers or {}).items() if k.startswith("Lfr-")}
            await js.publish(m.subject, data, stream=stream, headers=lfr_headers or None)
    finally:
        await nc.close()
    code, out = await anyio.to_thread.run_sync(_verify, stream)
    assert code == 1 and "another Merkle root" in out and "was altered" in out


@pytest.mark.blocking_ok("the audit source reads the stream synchronously, in a worker thread")
async def test_reading_20000_events_holds_a_page_not_the_log(stream: str) -> None:
    """Appended in batches of 100, read back by `subscribe`, by the audit iterator and by
    verify: tracemalloc's peak while reading stays a small part of what holding the log in
    memory costs (a page at a time, whatever the log's length)."""
    store = await NatsEventStore.open(stream_name=stream, prefix=nats_prefix(stream))
    try:
        from tests.store.contract import discarded

        for _ in range(200):
            await store.append("camera:ne-1", [discarded() for _ in range(100)])
        gc.collect()
        tracemalloc.start()
        held = await store.read_all()  # what holding the log in memory costs
        _, whole = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(held) == 20_000
        del held
        gc.collect()
        tracemalloc.start()
        try:
            n = 0
            async for env in store.subscribe():
                n += 1
                if env.seq == 20_000:
                    break
            _, peak_follow = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()

            def audit() -> tuple[int, bool]:
                source = store.audit_source()
                count = sum(len(chunk) for chunk in source.iter_records())
                return count, verify_log(source).ok

            count, ok = await anyio.to_thread.run_sync(audit)
            _, peak_audit = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert n == 20_000 and count == 20_000 and ok
        assert peak_follow < whole / 5, (peak_follow, whole)
        assert peak_audit < whole / 5, (peak_audit, whole)
    finally:
        await store.aclose()


@pytest.mark.blocking_ok("the test body reads the watchlist files and the log directly")
async def test_a_site_runs_on_nats_and_its_log_verifies(tmp_path: Path, stream: str) -> None:
    from actors.site import SiteOverrides, open_site
    from lfr.site import SiteConfig
    from tests.actors.test_site import SITE, _publish_watchlist

    version = await anyio.to_thread.run_sync(_publish_watchlist, tmp_path)
    config = SiteConfig.model_validate(
        {**SITE, "store": {"engine": "nats", "stream": stream, "prefix": nats_prefix(stream)}}
    )
    async with open_site(config, SiteOverrides(data_dir=tmp_path)) as site:
        now = datetime.now(UTC)
        await site.authorise_deployment(
            "north-end",
            starts_at=now - timedelta(minutes=1),
            ends_at=now + timedelta(hours=1),
            watchlist_version=version,
            threshold=0.6,
            legal_basis="PACE s.24",
            reason="wanted offenders",
            authorised_by="Supt 1",
        )
        await site.check_in("p-1", "north-end", ("PC Khan", "PC Jones"))
        status = await site.zone_status("north-end")
        assert status.armed_deployment is not None
        assert isinstance(site.parts.store, NatsEventStore)
    assert not (tmp_path / "events.sqlite").exists()

    def audit() -> tuple[list[str], Any]:
        source = NatsAuditSource.connect("nats://127.0.0.1:4222", stream)
        try:
            types = [r["type"] for chunk in source.iter_records() for r in chunk]
            return types, verify_log(source)
        finally:
            source.close()

    types, result = await anyio.to_thread.run_sync(audit)
    assert types.index("DeploymentAuthorised") < types.index("DeploymentArmed")
    assert result.ok, result.problem
    assert result.checkpoints_verified >= 2 and result.unsigned_tail == 0  # signed at close
