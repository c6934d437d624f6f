"""Retention erases the watchlists a zone should have and did not: a published copy whose
deployment is over with its purge missed (the site was down when the window closed), a copy
past its `valid_until`, and every live entry past its expiry. After a run no template (mean
or per-photo) and no photo of an erased entry is anywhere under the data directory, the
`BiometricPurged` it appends counts exactly what was erased, a second run erases and appends
nothing, and a dry run changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.retention import RETENTION_STREAM, run_retention
from lfr.store.base import EventStore
from lfr.store.sqlite import open_store
from lfr.vault import BiometricVault
from lfr.watchlist import WatchlistService
from schemas.envelope import NewEvent
from schemas.events import (
    BiometricPurged,
    DeploymentAuthorised,
    DeploymentEnded,
    WatchlistEntryRemoved,
)
from schemas.streams import zone_stream
from tests.watchlist.test_erasure import NOW, _decryptable, _entry, _on_disk, _photo

HOUR = timedelta(hours=1)


@pytest.fixture
async def site(tmp_path: Path):
    log = await open_store(tmp_path)
    vault = await BiometricVault.open(tmp_path)
    service = WatchlistService(tmp_path / "watchlist", log=log, vault=vault)
    yield tmp_path, log, vault, service
    await vault.aclose()
    await log.aclose()


async def _authorise(
    log: EventStore,
    dep: str,
    version: str,
    *,
    ends_at=NOW - HOUR,
    ended: bool = False,
    zone: str = "north-end",
) -> None:
    """A deployment in `zone` as its zone logs it; `ended`: its end logged too."""
    events = [
        NewEvent(
            event=DeploymentAuthorised(
                deployment_id=dep,
                zone=zone,
                cameras=("cam-1",),
                starts_at=ends_at - 2 * HOUR,
                ends_at=ends_at,
                watchlist_version=version,
                watchlist_size=1,
                threshold=0.6,
                legal_basis="PACE s.24",
                reason="wanted offenders",
                authorised_by="Supt. A. Smith 1234",
            ),
            occurred_at=ends_at - 3 * HOUR,
        )
    ]
    if ended:
        end = DeploymentEnded(deployment_id=dep, zone=zone, reason="window_closed")
        events.append(NewEvent(event=end, occurred_at=ends_at))
    await log.append(zone_stream(zone), events)


async def _purges(log: EventStore) -> list[BiometricPurged]:
    out = []
    for env in await log.read_stream(RETENTION_STREAM):
        event = env.decode()
        assert isinstance(event, BiometricPurged)
        out.append(event)
    return out


async def _refs(service: WatchlistService, watchlist: str) -> dict[str, str]:
    refs = {e.entry_id: e.image_ref for e in await service.entries(watchlist)}
    return {k: v for k, v in refs.items() if v is not None}


@pytest.mark.parametrize("ended", [False, True], ids=["window-closed-while-down", "end-logged"])
async def test_a_missed_deployment_purge_is_done_by_retention(site, ended: bool):
    root, log, vault, service = site
    for i in range(3):
        await service.add("zone-a", _entry(i), photo=_photo(i))
    pub = await service.publish("zone-a", published_by="Insp 1", bespoke=True)
    refs = await _refs(service, "zone-a")
    await _authorise(log, "dep-1", pub.version, ended=ended)  # no BiometricPurged follows
    # a deployment still running keeps its copy
    await service.add("zone-b", _entry(3), photo=_photo(3))
    live = await service.publish("zone-b", published_by="Insp 1", bespoke=True)
    await _authorise(log, "dep-2", live.version, ends_at=NOW + HOUR)
    assert await _on_disk(root, 0)

    result = await run_retention(log, vault, NOW, watchlists=service, by="test")

    [purge] = result.watchlists.purges
    assert (purge.watchlist, purge.version, purge.deployment_id) == ("zone-a", pub.version, "dep-1")
    # every entry went with its bespoke list: 3 x (mean + 3 per-photo templates) and 3 photos
    assert (purge.erased.entries, purge.erased.templates, purge.erased.photos) == (3, 12, 3)
    [event] = await _purges(log)
    assert event.scope == "deployment_watchlist"
    assert (event.deployment_id, event.watchlist_version) == ("dep-1", pub.version)
    assert event.refs_purged == 12 + 3 and event.images_purged == 3
    assert sorted(event.refs) == sorted(refs.values()) and event.purged_by == "test"
    for i in range(3):
        assert await _on_disk(root, i) == []
        assert not await _decryptable(vault, refs[f"e-{i}"])
    assert await _on_disk(root, 3)  # dep-2 is still running
    assert [p.version for p in await service.publications("zone-b")] == [live.version]

    seq = await log.last_seq()
    again = await run_retention(log, vault, NOW + timedelta(minutes=1), watchlists=service)
    assert again.watchlists.purges == () and again.watchlists.expiries == ()
    assert await log.last_seq() == seq  # nothing erased, nothing appended


async def test_an_expired_entry_is_erased_and_counted(site):
    root, log, vault, service = site
    soon = NOW + HOUR
    await service.add("town", _entry(0, expires_at=soon), photo=_photo(0))
    await service.add("town", _entry(1), photo=_photo(1))
    refs = await _refs(service, "town")
    later = soon + timedelta(seconds=1)

    result = await run_retention(log, vault, later, watchlists=service)

    [expiry] = result.watchlists.expiries
    assert expiry.entries == ("e-0",) and expiry.photos == (refs["e-0"],)
    assert (expiry.erased.entries, expiry.erased.templates, expiry.erased.photos) == (1, 4, 1)
    event, keys = await _purges(log)
    assert event.scope == "watchlist_entry"
    assert (event.refs_purged, event.images_purged, event.refs) == (4 + 1, 1, (refs["e-0"],))
    # and the key of its sealed label in the log: who it was is gone from the log too
    assert (keys.scope, keys.keys_purged, keys.refs_purged) == ("retention", 1, 0)
    removed = [e.decode() for e in await log.read_stream("watchlist:town")][-1]
    assert isinstance(removed, WatchlistEntryRemoved) and removed.entry_id == "e-0"
    assert await _on_disk(root, 0) == []
    assert not await _decryptable(vault, refs["e-0"])
    assert await _on_disk(root, 1) and await _decryptable(vault, refs["e-1"])
    assert result.shredded == keys.refs  # the photo went with its entry, not the vault's sweep

    seq = await log.last_seq()
    again = await run_retention(log, vault, later, watchlists=service)
    assert again.watchlists.expiries == () and await log.last_seq() == seq


async def test_an_expired_standing_publication_goes_with_its_expired_entry(site):
    """A standing list published with an entry that then expires: the publication's
    `valid_until` (the entry's expiry) passes too, so both go, and the events together count
    each template and photo once."""
    root, log, vault, service = site
    soon = NOW + HOUR
    await service.add("town", _entry(0, expires_at=soon), photo=_photo(0))
    await service.add("town", _entry(1), photo=_photo(1))
    pub = await service.publish("town", published_by="Insp 1")
    refs = await _refs(service, "town")

    result = await run_retention(log, vault, soon + timedelta(seconds=1), watchlists=service)

    [purge] = result.watchlists.purges
    assert purge.version == pub.version and purge.deployment_id is None
    events = await _purges(log)
    assert [e.scope for e in events] == ["deployment_watchlist", "watchlist_entry", "retention"]
    assert events[-1].keys_purged == 1  # e-0's sealed label
    assert sum(e.refs_purged for e in events) == (1 + 3) + 1  # e-0's templates and photo
    assert sum(e.images_purged for e in events) == 1
    assert result.watchlists.erased.refs == (1 + 3) + 1
    assert await _on_disk(root, 0) == []
    assert not await _decryptable(vault, refs["e-0"])
    assert await _on_disk(root, 1) and await _decryptable(vault, refs["e-1"])
    assert await service.publications("town") == []


async def test_a_dry_run_changes_nothing(site):
    root, log, vault, service = site
    soon = NOW + HOUR
    await service.add("zone-a", _entry(0), photo=_photo(0))
    pub = await service.publish("zone-a", published_by="Insp 1", bespoke=True)
    await service.add("town", _entry(1, expires_at=soon), photo=_photo(1))
    await _authorise(log, "dep-1", pub.version, ended=True)
    refs = {**await _refs(service, "zone-a"), **await _refs(service, "town")}
    seq = await log.last_seq()

    result = await run_retention(log, vault, soon + HOUR, watchlists=service, dry_run=True)

    assert [(p.version, p.deployment_id) for p in result.watchlists.purges] == [
        (pub.version, "dep-1")
    ]
    assert [e.entries for e in result.watchlists.expiries] == [("e-1",)]
    assert await log.last_seq() == seq
    for i in range(2):
        assert await _on_disk(root, i)
        assert await _decryptable(vault, refs[f"e-{i}"])
    assert [p.version for p in await service.publications("zone-a")] == [pub.version]
    assert [e.entry_id for e in await service.entries("town")] == ["e-1"]


async def _missed_site(root: Path) -> dict[str, str]:
    log = await open_store(root)
    vault = await BiometricVault.open(root)
    try:
        service = WatchlistService(root / "watchlist", log=log, vault=vault)
        await service.add("zone-a", _entry(0), photo=_photo(0))
        pub = await service.publish("zone-a", published_by="Insp 1", bespoke=True)
        await service.add("town", _entry(1, expires_at=NOW + HOUR), photo=_photo(1))
        await _authorise(log, "dep-1", pub.version)
        return {**await _refs(service, "zone-a"), **await _refs(service, "town")}
    finally:
        await vault.aclose()
        await log.aclose()


@pytest.mark.blocking_ok("the CLI runs its own event loop")
def test_cli_erases_watchlists_and_reports_them(tmp_path: Path) -> None:
    refs = anyio.run(_missed_site, tmp_path)
    at = (NOW + 2 * HOUR).isoformat()
    run = ["retention", "run", "--data-dir", str(tmp_path), "--now", at, "--json"]

    dry = CliRunner().invoke(app, [*run, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    wl = json.loads(dry.stdout)["watchlists"]
    assert [v["deployment_id"] for v in wl["versions"]] == ["dep-1"]
    assert wl["expired_entries"] == 1 and wl["templates_erased"] == 0 and wl["event_seqs"] == []
    assert anyio.run(_on_disk, tmp_path, 0) and anyio.run(_on_disk, tmp_path, 1)

    res = CliRunner().invoke(app, run)
    assert res.exit_code == 0, res.output
    wl = json.loads(res.stdout)["watchlists"]
    assert (wl["entries_erased"], wl["templates_erased"], wl["photos_shredded"]) == (2, 8, 2)
    assert sorted(wl["photo_refs"]) == sorted(refs.values()) and len(wl["event_seqs"]) == 2
    assert anyio.run(_on_disk, tmp_path, 0) == [] and anyio.run(_on_disk, tmp_path, 1) == []

    res = CliRunner().invoke(app, run)
    wl = json.loads(res.stdout)["watchlists"]
    assert wl["versions"] == [] and wl["expired_entries"] == 0 and wl["event_seqs"] == []
    res = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output


async def test_open_site_erases_a_missed_watchlist_on_schedule(site):
    """A zone since retired from the config ended without its purge: the site's schedule
    (`retention_schedule` over `<data dir>/watchlist`) erases the copy and logs it."""
    from actors.site import SiteOverrides, open_site
    from lfr.site import SiteConfig

    root, log, vault, service = site
    await service.add("old-zone", _entry(0), photo=_photo(0))
    pub = await service.publish("old-zone", published_by="Insp 1", bespoke=True)
    await _authorise(log, "dep-9", pub.version, ended=True, zone="retired")
    config = SiteConfig.model_validate(
        {
            "zones": [{"name": "north-end"}],
            "vision": {"recogniser": "scripted"},
            "retention": {"interval_s": 0.05},
        }
    )
    overrides = SiteOverrides(data_dir=root, store=log, vault=vault)
    async with open_site(config, overrides):
        with anyio.fail_after(10):
            while not await _purges(log):  # noqa: ASYNC110 - polls the log, not a flag
                await anyio.sleep(0.05)
        await anyio.sleep(0.2)  # further ticks find nothing due and log nothing
    [event] = await _purges(log)
    assert (event.deployment_id, event.refs_purged, event.images_purged) == ("dep-9", 5, 1)
    assert await _on_disk(root, 0) == []
