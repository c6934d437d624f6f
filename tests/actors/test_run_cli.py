"""`lfr run`: config validation with clear errors, and a short scripted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
