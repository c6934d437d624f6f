"""User text escaped in Rich output (issue 15): a name such as `[/]` or `[bold]x` in a label,
zone title, officer, watchlist or path is printed as typed; it never turns a CLI message into
a traceback or restyles it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.config import settings
from lfr.watchlist import WatchlistEntry, WatchlistStore

NAMES = ["[/]", "[bold]x", "[red]PC 1[/red]", "x\\", "[link=https://evil.example]y"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("LFR_DATA_DIR", str(tmp_path / "site"))
    settings.cache_clear()
    yield tmp_path / "site"
    settings.cache_clear()


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "240"})
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception  # a clean exit, never a traceback
    return result.exit_code, result.output


@pytest.mark.parametrize("name", NAMES)
def test_names_in_errors_are_printed_as_typed(site: Path, tmp_path: Path, name: str) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"never read")
    who = ["--legal-basis", "PACE", "--by", "PC 1"]
    cases = [
        ["watchlist", "add", str(photo), "--label", name, "--category", name, *who],
        ["watchlist", "list", "-w", name],
        ["watchlist", "remove", name, "--by", name, "--reason", name],
        ["users", "remove", name],
        ["users", "add", name, "--role", name],
        ["users", "revoke", name],
        ["watch", f"{name}.mp4", "-w", str(tmp_path)],
    ]
    for args in cases:
        code, out = _run(*args)
        assert code == 1, (args, out)
        assert "error:" in out and name in out, (args, out)  # shown as given, not styled


def test_a_label_in_the_listing_is_shown_as_typed(site: Path) -> None:
    vector = np.zeros(512, np.float32)
    vector[0] = 1.0
    store = WatchlistStore(site / "watchlist", "town")
    for i, label in enumerate(NAMES):
        store.add(
            WatchlistEntry(
                entry_id=f"e-{i}",
                label=label,
                category="suspect",
                legal_basis="PACE",
                image_source="custody",
                added_by="PC 1",
                expires_at=datetime.now(UTC) + timedelta(days=1),
                embedding=vector,
            )
        )
    code, out = _run("watchlist", "list", "-w", "town")
    assert code == 0, out
    for label in NAMES:
        assert label in out


def test_a_zone_title_in_the_site_check_is_shown_as_typed(tmp_path: Path) -> None:
    config = tmp_path / "[bold]site.toml"
    config.write_text('[[zones]]\nname = "north-end"\ntitle = "[/]North [bold]End"\n')
    code, out = _run("run", "--config", str(config), "--check")
    assert code == 0, out
    assert "[/]North [bold]End" in out and "[bold]site.toml: OK" in out
