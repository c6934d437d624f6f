"""Personal fields of alert events are sealed in the log and expire with the alert.

A real site (SQLite log, vault, views) raises an alert; the log and the views hold the
subject's label, entry and image refs only as ciphertext, the API-facing views open them,
an actor rebuilding from the log sees them, and after the retention run 32 days on they are
gone for good while the log still verifies and `lfr audit export` marks the erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from actors.site import SiteOverrides, open_site
from lfr.alerts import InMemoryAlertSink
from lfr.cli import app
from lfr.clock import SystemClock
from lfr.kernel import EventSourcedActor
from lfr.projections import Views
from lfr.retention import run_retention
from lfr.sealing import Sealer, SealError
from lfr.site import SiteConfig
from lfr.store.sqlite import SqliteLog, open_store
from lfr.testing.gallery import identity_vector
from lfr.vault import BiometricVault
from lfr.watchlist import WatchlistEntry, WatchlistStore
from schemas.events import AlertRaised, FaceMatched, Sealed, ThresholdChanged

LABEL = "Alice Sealed-Example"
SITE = {
    "name": "sealing",
    "zones": [{"name": "north-end"}],
    "cameras": [{"id": "ne-1", "zone": "north-end", "source": "scripted:alice", "analyse_fps": 10}],
    "patrols": [{"id": "p-1"}],
    "vision": {"recogniser": "scripted", "decider": "per_frame", "crop_vault": True},
}


def _publish(data_dir: Path) -> str:
    vector = identity_vector("alice")  # what the scripted recogniser sees of alice
    store = WatchlistStore(data_dir / "watchlist", dim=len(vector))
    store.add(
        WatchlistEntry(
            "entry-alice-7",
            LABEL,
            "suspect",
            "PACE",
            "custody record 7",
            "manager-1",
            datetime.now(UTC) + timedelta(days=7),
            vector,
        )
    )
    return store.publish("manager-1").version


async def _raise_one_alert(data_dir: Path) -> None:
    version = await anyio.to_thread.run_sync(_publish, data_dir)
    config = SiteConfig.model_validate(SITE)
    overrides = SiteOverrides(data_dir=data_dir, sink=InMemoryAlertSink())
    async with open_site(config, overrides) as site:
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
        assert site.views is not None
        with anyio.fail_after(20):
            while not await site.views.alerts():  # noqa: ASYNC110
                await anyio.sleep(0.05)
        (alert,) = await site.views.alerts()
        # served opened: officers see who and both images' refs
        assert alert.subject_label == LABEL and alert.entry_id == "entry-alice-7"
        assert alert.crop_ref is not None and alert.erased_at is None


class _Reader(EventSourcedActor[int]):
    """Reads streams as every site actor does when it rebuilds."""

    def initial_state(self) -> int:
        return 0


def _log_bytes(data_dir: Path) -> bytes:
    return b"".join(
        p.read_bytes()
        for p in data_dir.iterdir()
        if p.name.startswith(("events.sqlite", "views.sqlite"))
    )


@pytest.mark.blocking_ok("the test body reads the log, the views and the vault files directly")
async def test_alert_fields_are_sealed_opened_and_erased_by_retention(tmp_path: Path) -> None:
    await _raise_one_alert(tmp_path)

    # the log and the views hold neither the label nor the entry id, only ciphertext
    stored = _log_bytes(tmp_path)
    assert LABEL.encode() not in stored and b"entry-alice-7" not in stored
    log = SqliteLog(tmp_path / "events.sqlite", read_only=True)
    try:
        records = log.read_records()
    finally:
        log.close()
    personal = [r for r in records if r["type"] in ("FaceMatched", "AlertRaised")]
    assert {r["type"] for r in personal} == {"FaceMatched", "AlertRaised"}
    for r in personal:
        assert r["payload"]["sealed"]["key_ref"]
        assert r["payload"]["entry_id"] is None and r["payload"]["crop_ref"] is None

    # an actor rebuilding its state from the log reads them opened
    vault = await BiometricVault.open(tmp_path)
    store = await open_store(tmp_path)
    try:
        sealer = Sealer(vault)
        reader = _Reader("reader", store=store, clock=SystemClock(), sealer=sealer)
        events = [e for _, e in await reader.read_events("zone:north-end")]
        (raised,) = [e for e in events if isinstance(e, AlertRaised)]
        assert raised.subject_label == LABEL and raised.entry_id == "entry-alice-7"
        assert not raised.erased

        # 32 days on, retention shreds the crop and the keys of the sealed fields
        later = datetime.now(UTC) + timedelta(days=32)
        result = await run_retention(store, vault, later)
        kinds = dict(result.plan.shred)
        keys = {r["payload"]["sealed"]["key_ref"] for r in personal}
        assert keys <= set(result.shredded)  # every sealed block's key
        assert "alert_crop" in {kinds[i] for i in result.shredded}  # and the crops
        events = [e for _, e in await reader.read_events("zone:north-end")]
        (raised,) = [e for e in events if isinstance(e, AlertRaised)]
        assert raised.erased and raised.subject_label is None and raised.crop_ref is None
        matches = [e for _, e in await reader.read_events("camera:ne-1")]
        assert all(m.erased for m in matches if isinstance(m, FaceMatched))
        views = await Views.open(tmp_path, sealer)
        try:
            await views.catch_up(store)
            (alert,) = await views.alerts()
        finally:
            await views.aclose()
        assert alert.subject_label is None and alert.entry_id is None
        assert alert.erased_at is not None and alert.category == "suspect"
    finally:
        await store.aclose()
        await vault.aclose()

    # the log still verifies end to end, and its export says what was erased and when
    verified = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert verified.exit_code == 0, verified.output
    out = CliRunner().invoke(app, ["audit", "export", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    marked = [x for x in lines if "erased" in x]
    assert {x["type"] for x in marked} == {"FaceMatched", "AlertRaised"}
    assert all(x["erased"]["at"] and "entry_id" in x["erased"]["fields"] for x in marked)


async def test_a_sealed_block_does_not_open_on_another_event(tmp_path: Path) -> None:
    """The associated data binds the ciphertext to its event type: moving a sealed block
    from a match onto an alert fails authentication instead of naming someone."""
    vault = await BiometricVault.open(tmp_path)
    try:
        sealer = Sealer(vault)
        now = datetime.now(UTC)
        match = FaceMatched(
            match_id="m-1",
            camera="ne-1",
            zone="north-end",
            deployment_id="d-1",
            watchlist_version="v",
            entry_id="entry-alice-7",
            similarity=0.8,
            threshold=0.6,
            frame_at=now,
        )
        (sealed,) = await sealer.seal([match], now)
        assert sealed.sealed is not None and sealed.entry_id is None
        (opened,) = await sealer.open([sealed])
        assert opened.entry_id == "entry-alice-7"
        moved = Sealed.model_validate(sealed.sealed.model_dump())
        with pytest.raises(SealError, match="fail authentication"):
            await anyio.to_thread.run_sync(sealer.open_fields_sync, "AlertRaised", moved)
        # events without personal fields pass through untouched, beside one that is sealed
        changed = ThresholdChanged(
            deployment_id="d-1",
            zone="north-end",
            old_threshold=0.6,
            new_threshold=0.58,
            changed_by="Supt 1",
            reason="calibration",
        )
        plain, resealed = await sealer.seal([changed, match], now)
        assert plain is changed and isinstance(resealed, FaceMatched)
        assert resealed.sealed is not None and resealed.entry_id is None
    finally:
        await vault.aclose()
