"""Retention as a service: `lfr retention run` and the pure planning behind it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.retention import RETENTION_STREAM, hold_evidence, plan_retention, run_retention
from lfr.store.sqlite import open_store
from lfr.vault import BiometricVault, BlobShreddedError
from schemas.events import BiometricPurged, EvidenceHold

runner = CliRunner()
T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
CROP = b"\x89PNG pretend crop of a matched face"


def lfr(*args: str):
    res = runner.invoke(app, list(args))
    return res


def hold(blob_id: str, until: datetime) -> EvidenceHold:
    return EvidenceHold(blob_id=blob_id, held_by="Insp 1234", reason="case 42", until=until)


def test_plan_keeps_held_refs_until_their_hold_expires() -> None:
    expired = [("a", "alert_crop"), ("b", "alert_crop"), ("c", "watchlist_image")]
    holds = [hold("b", T0 + timedelta(days=1)), hold("c", T0 - timedelta(seconds=1))]
    plan = plan_retention(expired, holds, T0)
    assert plan.shred == (("a", "alert_crop"), ("c", "watchlist_image"))
    assert plan.held == ("b",)
    later = plan_retention(expired, holds, T0 + timedelta(days=2))
    assert [i for i, _ in later.shred] == ["a", "b", "c"] and later.held == ()


async def _site(data_dir: Path) -> dict[str, str]:
    """A log and a vault with two crops kept 31 days, one held, and a photo kept a year."""
    store = await open_store(data_dir)
    vault = await BiometricVault.open(data_dir)
    try:
        crop = await vault.put(CROP, "alert_crop", T0 + timedelta(days=31))
        held = await vault.put(CROP + b"2", "alert_crop", T0 + timedelta(days=31))
        photo = await vault.put(b"photo", "watchlist_image", T0 + timedelta(days=365))
        await hold_evidence(store, hold(held.blob_id, T0 + timedelta(days=60)))
    finally:
        await vault.aclose()
        await store.aclose()
    return {"crop": crop.blob_id, "held": held.blob_id, "photo": photo.blob_id}


async def _state(data_dir: Path) -> tuple[dict[str, bool], list[BiometricPurged]]:
    store = await open_store(data_dir)
    vault = await BiometricVault.open(data_dir)
    try:
        ids = [e for e in await store.read_stream(RETENTION_STREAM)]
        purges = [e.decode() for e in ids if e.type == "BiometricPurged"]
        readable = {}
        for blob_id in await anyio.to_thread.run_sync(_all_ids, vault):
            readable[blob_id] = await vault.exists(blob_id)
        return readable, [p for p in purges if isinstance(p, BiometricPurged)]
    finally:
        await vault.aclose()
        await store.aclose()


def _all_ids(vault: BiometricVault) -> list[str]:
    return [r[0] for r in vault._conn.execute("SELECT blob_id FROM keys")]


@pytest.mark.blocking_ok("the CLI runs its own event loop; the test reads the log after it")
def test_cli_shreds_expired_logs_it_and_keeps_held_until_the_hold_ends(tmp_path: Path) -> None:
    ids = anyio.run(_site, tmp_path)
    at = (T0 + timedelta(days=32)).isoformat()

    res = lfr("retention", "run", "--data-dir", str(tmp_path), "--now", at, "--dry-run", "--json")
    assert res.exit_code == 0, res.output
    dry = json.loads(res.stdout)
    assert dry["dry_run"] and dry["due"] == 1 and dry["refs"] == [ids["crop"]]
    assert dry["held"] == [ids["held"]] and dry["shredded"] == 0
    readable, purges = anyio.run(_state, tmp_path)
    assert all(readable.values()) and purges == []  # a dry run changes nothing

    res = lfr("retention", "run", "--data-dir", str(tmp_path), "--now", at, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["shredded"] == 1 and out["crops"] == 1 and out["refs"] == [ids["crop"]]
    readable, purges = anyio.run(_state, tmp_path)
    assert readable == {ids["crop"]: False, ids["held"]: True, ids["photo"]: True}
    [purge] = purges
    assert purge.scope == "retention" and purge.refs_purged == 1 and purge.crops_purged == 1
    assert purge.refs == (ids["crop"],) and purge.refs_held == (ids["held"],)
    assert CROP.hex() not in purge.model_dump_json()

    async def cannot_decrypt() -> None:
        vault = await BiometricVault.open(tmp_path)
        try:
            with pytest.raises(BlobShreddedError):
                await vault.get(ids["crop"])
        finally:
            await vault.aclose()

    anyio.run(cannot_decrypt)

    # the hold ends after 60 days: then the held crop goes too
    after_hold = (T0 + timedelta(days=61)).isoformat()
    res = lfr("retention", "run", "--data-dir", str(tmp_path), "--now", after_hold)
    assert res.exit_code == 0, res.output
    assert "shredded 1 blob(s)" in " ".join(res.stderr.split())
    readable, purges = anyio.run(_state, tmp_path)
    assert readable == {ids["crop"]: False, ids["held"]: False, ids["photo"]: True}
    assert [p.refs for p in purges] == [(ids["crop"],), (ids["held"],)]

    res = lfr("audit", "verify", "--data-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "OK" in res.stdout


@pytest.mark.blocking_ok("the CLI runs its own event loop")
def test_cli_hold_records_an_evidence_hold(tmp_path: Path) -> None:
    ids = anyio.run(_site, tmp_path)
    until = (datetime.now(UTC) + timedelta(days=90)).isoformat()  # a hold ends in the future
    res = lfr(
        "retention", "hold", ids["crop"], "--by", "Insp 9", "--reason", "court order",
        "--until", until, "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = lfr(
        "retention", "run", "--data-dir", str(tmp_path), "--json",
        "--now", (T0 + timedelta(days=70)).isoformat(),
    )  # fmt: skip
    out = json.loads(res.stdout)
    assert out["shredded"] == 1 and sorted(out["held"]) == [ids["crop"]]
    assert out["refs"] == [ids["held"]]
    res = lfr("retention", "run", "--data-dir", str(tmp_path / "nowhere"))
    assert res.exit_code == 1 and "no event log" in " ".join(res.output.split())


async def test_runner_logs_nothing_when_nothing_is_due(tmp_path: Path) -> None:
    store = await open_store(tmp_path)
    vault = await BiometricVault.open(tmp_path)
    try:
        await vault.put(CROP, "alert_crop", T0 + timedelta(days=31))
        result = await run_retention(store, vault, T0)
        assert result.shredded == () and result.event_seq is None
        assert await store.read_stream(RETENTION_STREAM) == []
    finally:
        await vault.aclose()
        await store.aclose()


class _Clock:
    """The site's clock, 32 days on: what a retention run judges expiry by."""

    def now(self) -> datetime:
        return T0 + timedelta(days=32)

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def sleep_until(self, when: datetime) -> None:
        await anyio.sleep(max(0.0, (when - self.now()).total_seconds()))


async def test_open_site_runs_retention_on_schedule(tmp_path: Path) -> None:
    from actors.site import SiteOverrides, open_site
    from lfr.site import SiteConfig

    store = await open_store(tmp_path)
    vault = await BiometricVault.open(tmp_path)
    try:
        crop = await vault.put(CROP, "alert_crop", T0 + timedelta(days=31))
        config = SiteConfig.model_validate(
            {
                "zones": [{"name": "north-end"}],
                "vision": {"recogniser": "scripted"},
                "retention": {"interval_s": 0.05},
            }
        )
        overrides = SiteOverrides(data_dir=tmp_path, store=store, vault=vault, clock=_Clock())
        async with open_site(config, overrides):
            with anyio.fail_after(5):
                while await vault.exists(crop):  # noqa: ASYNC110 - polls the vault, not a flag
                    await anyio.sleep(0.02)
            await anyio.sleep(0.2)  # further ticks find nothing due and log nothing
        [envelope] = await store.read_stream(RETENTION_STREAM)
        purge = envelope.decode()
        assert isinstance(purge, BiometricPurged) and purge.refs == (crop.blob_id,)
    finally:
        await vault.aclose()
        await store.aclose()
    off = {"zones": [{"name": "a"}], "retention": {"enabled": False}}
    assert SiteConfig.model_validate(off).retention.enabled is False


@pytest.mark.blocking_ok("the CLI runs its own event loop")
def test_cli_hold_refuses_an_end_past_the_policy_or_the_calendar(tmp_path: Path) -> None:
    ids = anyio.run(_site, tmp_path)
    for until, says in (
        ((datetime.now(UTC) + timedelta(days=3700)).isoformat(), "at most 10 years"),
        ("9999-12-31T23:59:59-14:00", "not a usable ISO 8601 time"),
    ):
        res = lfr(
            "retention", "hold", ids["crop"], "--by", "Insp 9", "--reason", "court order",
            "--until", until, "--data-dir", str(tmp_path),
        )  # fmt: skip
        assert res.exit_code == 1 and says in " ".join(res.output.split()), res.output
