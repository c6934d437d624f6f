"""`lfr run`: config validation with clear errors, and a short scripted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.site import load_site_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "ops" / "site.example.toml"


def test_example_site_is_the_two_zone_town_centre() -> None:
    cfg = load_site_config(EXAMPLE)
    assert [z.name for z in cfg.zones] == ["north-end", "london-road"]
    assert {z: len(cfg.cameras_of(z)) for z in ("north-end", "london-road")} == {
        "north-end": 2,
        "london-road": 2,
    }
    result = CliRunner().invoke(app, ["run", "--config", str(EXAMPLE), "--check"])
    assert result.exit_code == 0, result.output
    assert "zone:london-road" in result.output


def test_example_site_header_names_both_commands_that_run_it() -> None:
    header = EXAMPLE.read_text().split("\n\n", 1)[0]
    assert "lfr run --config ops/site.example.toml" in header
    assert "lfr serve --config ops/site.example.toml" in header


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text(
        '[[zones]]\nname = "north-end"\n[[cameras]]\nid = "ne-1"\nzone = "nowhere"\n'
        'source = "rtsp://x/1"\nanalyse_fsp = 5\n'
    )
    result = CliRunner().invoke(app, ["run", "--config", str(bad), "--check"])
    assert result.exit_code == 1
    assert "cameras.0.analyse_fsp" in result.output
    missing = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "site.example.toml" in missing.output


def test_scripted_site_runs_and_stops(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'name = "smoke"\n[vision]\nrecogniser = "scripted"\ndecider = "per_frame"\n'
        'crop_vault = false\n[[zones]]\nname = "north-end"\n[[cameras]]\nid = "ne-1"\n'
        'zone = "north-end"\nsource = "scripted:alice,,bob|carol"\nanalyse_fps = 20\n'
        '[[patrols]]\nid = "p-1"\n'
    )
    env = dict(os.environ, LFR_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-c", "from lfr.cli import main; main()", "run"]
        + ["--config", str(site), "--for-seconds", "0.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ready" in proc.stderr
    from lfr.store.sqlite import SqliteLog

    log = SqliteLog(tmp_path / "data" / "events.sqlite")
    try:
        types = [e.type for e in log.read_all()]
    finally:
        log.close()
    assert types == ["CameraStreamStarted"]  # disarmed: no frame analysed, nothing matched


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_open_site_purge_shreds_watchlist_photos_without_crop_vault(tmp_path: Path) -> None:
    """`open_site` (behind `lfr run` and `lfr serve --config`) reads the watchlists in
    `<data_dir>/watchlist`, and its catalog shreds a purged version's photos in the vault
    even when match crops are not kept."""
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from actors.site import SiteOverrides, open_site
    from lfr.alerts import InMemoryAlertSink
    from lfr.site import SiteConfig
    from lfr.store.memory import InMemoryEventStore
    from lfr.vault import BiometricVault
    from lfr.watchlist import WatchlistEntry, WatchlistStore

    config = SiteConfig.model_validate(
        {
            "name": "smoke",
            "zones": [{"name": "north-end"}],
            "cameras": [{"id": "ne-1", "zone": "north-end", "source": "scripted:"}],
            "vision": {"recogniser": "scripted", "decider": "per_frame", "crop_vault": False},
        }
    )
    vault = await BiometricVault.open(tmp_path)
    photo = await vault.put(b"reference photo", "watchlist_image")
    watchlists = await anyio.to_thread.run_sync(lambda: WatchlistStore(tmp_path / "watchlist"))
    vec = np.random.default_rng(7).standard_normal(512).astype(np.float32)
    watchlists.add(
        WatchlistEntry(
            "e-1",
            "Case 7",
            "suspect",
            "PACE",
            "custody record 7",
            "manager-1",
            datetime.now(UTC) + timedelta(days=7),
            vec / np.linalg.norm(vec),
            image_ref=photo.blob_id,
        )
    )
    version = watchlists.publish("manager-1").version
    watchlists.remove("e-1")
    overrides = SiteOverrides(
        data_dir=tmp_path, store=InMemoryEventStore(), vault=vault, sink=InMemoryAlertSink()
    )
    try:
        async with open_site(config, overrides) as site:
            assert site.parts.vault is None  # crop_vault = false: cameras keep no crops
            assert site.vault is vault
            assert (await site.parts.catalog.purge(version)).refs == 2  # template and photo
            assert not await vault.exists(photo)
    finally:
        vault.close()
