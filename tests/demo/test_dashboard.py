"""The demo's dashboard renders its view (zones, cameras, alerts, log) without a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from lfr.demo.dashboard import AlertRow, CameraRow, PlainUI, RichUI, ZoneRow


def test_rich_dashboard_shows_zones_cameras_and_alerts():
    ui = RichUI()
    v = ui.view
    v.phase, v.elapsed_s, v.total_s = "cameras armed", 12.0, 60.0
    v.zones = {
        "north-end": ZoneRow("North End", True, "patrol on duty", ("p-ne-1",)),
        "london-road": ZoneRow("London Road", False, "no patrol on duty"),
    }
    v.cameras = {"ne-1": CameraRow("north-end", analysed=40, dropped=2, fps=2.9)}
    v.alerts = {
        "alert-1234567890": AlertRow(
            "alert-1234567890", "north-end", "ne-1", "Jane Subject", 0.71, "engaged", 180.0
        )
    }
    ui.log("NE-Alpha engaged alert alert-12")
    out = io.StringIO()
    Console(file=out, width=140, color_system=None).print(ui._render())
    text = out.getvalue()
    for needle in (
        "North End",
        "ARMED",
        "disarmed",
        "ne-1",
        "2.9",
        "Jane Subject",
        "0.71",
        "180 ms",
        "engaged",
        "NE-Alpha engaged",
        "12 / 60 s",
    ):
        assert needle in text, needle


def test_plain_ui_logs_to_stderr(capsys):
    ui = PlainUI()
    ui.phase("patrols check in")
    ui.log("NE-Alpha checked in")
    err = capsys.readouterr().err
    assert "== patrols check in" in err and "NE-Alpha checked in" in err
    assert ui.view.lines[-1] == "NE-Alpha checked in"
