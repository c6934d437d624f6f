"""Inputs bounded: an entry expires at most the policy's days ahead (31 by default, the year
9999 refused) whichever door adds it, and reading a watchlist never creates one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.config import settings
from lfr.store.sqlite import SqliteEventStore
from lfr.vault import BiometricVault
from lfr.watchlist import (
    ExpiryTooFarError,
    WatchlistEntry,
    WatchlistService,
    WatchlistStore,
    check_expiry,
    max_expiry,
)
from lfr.watchlist.enrol import Photo


def _entry(expires_at: datetime, entry_id: str = "e-1") -> WatchlistEntry:
    vector = np.zeros(512, np.float32)
    vector[0] = 1.0
    return WatchlistEntry(
        entry_id=entry_id,
        label="Person 1",
        category="suspect",
        legal_basis="PACE",
        image_source="custody image",
        added_by="DS Reed 12",
        expires_at=expires_at,
        embedding=vector,
    )


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.fixture
async def site(tmp_path: Path):
    log = await SqliteEventStore.open(tmp_path / "events.sqlite")
    vault = await BiometricVault.open(tmp_path)
    yield tmp_path, log, vault
    await vault.aclose()
    await log.aclose()


def test_the_default_policy_is_31_days_and_configurable(monkeypatch):
    settings.cache_clear()
    try:
        assert max_expiry() == timedelta(days=31)
        monkeypatch.setenv("LFR_WATCHLIST_MAX_EXPIRY_DAYS", "7")
        settings.cache_clear()
        assert max_expiry() == timedelta(days=7)
    finally:
        settings.cache_clear()


def test_check_expiry_names_the_limit():
    now = datetime.now(UTC)
    check_expiry(now + timedelta(days=31), timedelta(days=31), now)
    with pytest.raises(ExpiryTooFarError, match="at most 31 days") as info:
        check_expiry(now + timedelta(days=31, seconds=1), timedelta(days=31), now)
    assert "LFR_WATCHLIST_MAX_EXPIRY_DAYS" in str(info.value)
    with pytest.raises(ExpiryTooFarError):
        check_expiry(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), timedelta(days=31), now)


@pytest.mark.parametrize(
    "expires_at",
    [datetime.now(UTC) + timedelta(days=32), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)],
    ids=["32 days", "year 9999"],
)
async def test_the_service_refuses_an_expiry_beyond_the_policy_and_logs_nothing(site, expires_at):
    root, log, vault = site
    service = WatchlistService(root / "watchlist", log=log, vault=vault)
    with pytest.raises(ExpiryTooFarError, match="at most 31 days"):
        await service.add("town", _entry(expires_at), photo=b"photo")
    with pytest.raises(ExpiryTooFarError):  # refused before any photo is enrolled
        await service.add_person(
            "town",
            [Photo.upload(b"not read", "photo 1 of 1")],
            label="x",
            category="suspect",
            legal_basis="PACE",
            added_by="PC 1",
            expires_at=expires_at,
        )
    assert await log.read_all() == []
    assert await service.entries("town") == []


async def test_a_site_can_set_a_shorter_policy(site):
    root, log, vault = site
    service = WatchlistService(
        root / "watchlist", log=log, vault=vault, max_expiry=timedelta(days=2)
    )
    await service.add("town", _entry(datetime.now(UTC) + timedelta(days=1)))
    with pytest.raises(ExpiryTooFarError, match="at most 2 days"):
        await service.add("town", _entry(datetime.now(UTC) + timedelta(days=3), "e-2"))


async def test_reading_an_unknown_watchlist_creates_nothing(site):
    root, log, vault = site
    lists = root / "watchlist"
    service = WatchlistService(lists, log=log, vault=vault)
    assert await service.entries("nobody") == []
    assert await service.publications("nobody") == []
    assert not await service.exists("nobody")
    assert not lists.exists()  # not even the directory

    await service.add("town", _entry(datetime.now(UTC) + timedelta(days=1)))
    before = _files(lists)
    assert await service.entries("nobody") == []
    assert await service.publications("nobody") == []
    assert not await service.exists("nobody") and await service.exists("town")
    assert _files(lists) == before
    assert await service.watchlists() == ["town"]


def test_store_reads_of_an_unwritten_watchlist_are_empty_and_write_nothing(tmp_path: Path):
    store = WatchlistStore(tmp_path / "wl", "ghost")
    assert store.listing() == [] and store.entries() == [] and store.publications() == []
    assert store.find("e-1") is None and not store.photo_held("abc")
    assert store.held_by_versions() == frozenset() and store.template_count(["e-1"]) == 0
    assert store.purge_version("sha256:x").entries == 0
    assert not (tmp_path / "wl").exists()


@pytest.fixture
def cli_site(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("LFR_DATA_DIR", str(tmp_path / "site"))
    settings.cache_clear()
    yield tmp_path / "site"
    settings.cache_clear()


@pytest.mark.parametrize("days", ["32", "0", "3000000", "-1"])
def test_the_cli_refuses_an_expiry_beyond_the_policy(cli_site: Path, tmp_path: Path, days):
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"never read")
    who = ["--category", "suspect", "--legal-basis", "PACE", "--by", "PC 1"]
    for command in (
        ["add", str(photo), "--label", "x", *who],
        ["import", str(tmp_path), *who],
    ):
        result = CliRunner().invoke(
            app, ["watchlist", *command, "--expires-in-days", days], catch_exceptions=False
        )
        out = " ".join(result.output.split())
        assert result.exit_code == 1, out
        assert "1 to 31 days" in out and "LFR_WATCHLIST_MAX_EXPIRY_DAYS" in out
    assert not (cli_site / "watchlist").exists()


def test_the_cli_listing_of_an_unknown_watchlist_creates_nothing(cli_site: Path):
    result = CliRunner().invoke(app, ["watchlist", "list", "-w", "ghost", "--json"])
    assert result.exit_code == 0, result.output
    assert '"entries":[]' in result.stdout
    assert not (cli_site / "watchlist").exists()
