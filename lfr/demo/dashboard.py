"""What the demo shows while it runs: a rich live dashboard, or plain log lines (`--no-tui`).

Both read one `DemoView`, which `refresh_view` fills from the running site (zone status,
mailbox depths), the telemetry instruments (per-camera counters) and the alerts officers'
devices received; both write to stderr so stdout stays free for the `--json` line. Nothing
biometric is shown.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import anyio
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from lfr.errors import LfrError
from schemas.streams import split_stream

_STATUS_WAIT_S = 0.5  # a camera asked for its counts: the dashboard waits no longer

if TYPE_CHECKING:
    from actors.system import Site
    from actors.zone import ZoneStatus
    from lfr.demo.officers import AlertSeen
    from lfr.telemetry import Telemetry

__all__ = [
    "AlertRow",
    "CameraRow",
    "DemoUI",
    "DemoView",
    "PlainUI",
    "RichUI",
    "ZoneRow",
    "refresh_view",
]


@dataclass
class ZoneRow:
    title: str
    armed: bool = False
    reason: str = "not authorised"
    patrols: tuple[str, ...] = ()


@dataclass
class CameraRow:
    zone: str
    analysed: int = 0
    dropped: int = 0
    fps: float = 0.0
    sampled_at: float = 0.0
    mailbox: int = 0


@dataclass
class AlertRow:
    alert_id: str
    zone: str
    camera: str
    label: str
    similarity: float
    state: str
    latency_ms: float | None


@dataclass
class DemoView:
    phase: str = "starting"
    elapsed_s: float = 0.0
    total_s: float = 0.0
    zones: dict[str, ZoneRow] = field(default_factory=dict)
    cameras: dict[str, CameraRow] = field(default_factory=dict)
    alerts: dict[str, AlertRow] = field(default_factory=dict)
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=8))


class DemoUI(Protocol):
    view: DemoView

    def log(self, line: str) -> None: ...

    def phase(self, text: str) -> None: ...

    def refresh(self) -> None: ...

    def __enter__(self) -> DemoUI: ...

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class PlainUI:
    """Timestamped lines on stderr, one per event worth telling."""

    def __init__(self, quiet: bool = False) -> None:
        self.view = DemoView()
        self.quiet = quiet
        self._t0 = time.monotonic()
        self._last_status = 0.0

    def _print(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"[{time.monotonic() - self._t0:6.1f}s] {text}\n")
            sys.stderr.flush()

    def log(self, line: str) -> None:
        self.view.lines.append(line)
        self._print(line)

    def phase(self, text: str) -> None:
        self.view.phase = text
        self._print(f"== {text}")

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._last_status < 10.0 or not self.view.cameras:
            return
        self._last_status = now
        cams = ", ".join(
            f"{c}: {r.analysed} analysed ({r.fps:.1f}/s), {r.dropped} dropped"
            for c, r in self.view.cameras.items()
        )
        self._print(f"cameras: {cams}")

    def __enter__(self) -> PlainUI:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class RichUI:
    """A live terminal dashboard (rich), redrawn a few times a second."""

    def __init__(self) -> None:
        self.view = DemoView()
        self._console = Console(stderr=True)
        self._live = Live(console=self._console, refresh_per_second=4, transient=False)

    def log(self, line: str) -> None:
        self.view.lines.append(time.strftime("%H:%M:%S ") + line)
        self.refresh()

    def phase(self, text: str) -> None:
        self.view.phase = text
        self.refresh()

    def refresh(self) -> None:
        self._live.update(self._render())

    def _render(self) -> Group:
        v = self.view
        head = Table.grid(expand=True)
        head.add_column(ratio=2)
        head.add_column(ratio=3)
        progress = ProgressBar(total=max(v.total_s, 1.0), completed=min(v.elapsed_s, v.total_s))
        head.add_row(
            Text(f"{v.phase}", style="bold"),
            Group(progress, Text(f"{v.elapsed_s:5.0f} / {v.total_s:.0f} s", style="dim")),
        )
        zones = Table(title="zones", expand=True)
        for col in ("zone", "state", "why", "patrols on duty"):
            zones.add_column(col)
        for z in v.zones.values():
            state = Text("ARMED", style="bold green") if z.armed else Text("disarmed", style="red")
            zones.add_row(z.title, state, z.reason, ", ".join(z.patrols) or "-")
        cams = Table(title="cameras", expand=True)
        for col in ("camera", "zone", "analysed", "fps", "dropped", "mailbox"):
            cams.add_column(col, justify="left" if col in ("camera", "zone") else "right")
        for name, c in v.cameras.items():
            cams.add_row(
                name, c.zone, str(c.analysed), f"{c.fps:.1f}", str(c.dropped), str(c.mailbox)
            )
        alerts = Table(title="alerts", expand=True)
        for col in ("alert", "zone", "camera", "watchlist entry", "sim.", "since capture", "state"):
            alerts.add_column(col)
        for a in list(v.alerts.values())[-8:]:
            style = {"engaged": "green", "false alert": "red"}.get(a.state, "yellow")
            lat = f"{a.latency_ms:.0f} ms" if a.latency_ms is not None else "-"
            alerts.add_row(
                a.alert_id.removeprefix("alert-")[:8],
                a.zone,
                a.camera,
                a.label,
                f"{a.similarity:.2f}",
                lat,
                Text(a.state, style=style),
            )
        log = Text("\n".join(v.lines), style="dim")
        return Group(
            Panel(head, title="lfr demo: town centre", border_style="blue"),
            zones,
            cams,
            alerts,
            Panel(log, title="log"),
        )

    def __enter__(self) -> RichUI:
        self._live.start()
        self.refresh()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.refresh()
        self._live.stop()


def _camera_counters(tel: Telemetry) -> dict[str, dict[str, float]]:
    """Per-camera analysed and dropped counts from the in-memory metric reader."""
    out: dict[str, dict[str, float]] = {}
    reader = tel.metric_reader
    data = reader.get_metrics_data() if reader is not None else None
    if data is None:
        return out
    names = {
        "lfr.camera.frames.analysed": "analysed",
        "lfr.camera.frames.dropped": "dropped",
    }
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                key = names.get(m.name)
                if key is None:
                    continue
                for p in m.data.data_points:
                    cam = str((p.attributes or {}).get("camera", ""))
                    out.setdefault(cam, {})[key] = float(getattr(p, "value", 0))
    return out


def _zone_reason(status: ZoneStatus) -> str:
    if status.armed_deployment is not None:
        return "patrol on duty"
    live = [d for d in status.deployments if not d.ended]
    if live:
        return "no patrol on duty" if not status.patrols_on_duty else "outside the window"
    return "deployment ended" if status.deployments else "not authorised"


async def refresh_view(ui: DemoUI, site: Site, tel: Telemetry, seen: dict[str, AlertSeen]) -> None:
    """Sample the site, the camera counters and the alerts into `ui.view`, and redraw."""
    from lfr.telemetry import metrics

    view = ui.view
    for zone, row in view.zones.items():
        try:
            st = await site.zone_status(zone)
        except LfrError:  # a status is decoration; the log is the truth
            continue
        row.armed = st.armed_deployment is not None
        row.patrols = tuple(st.patrols_on_duty)
        row.reason = _zone_reason(st)
    for name in site.registry.names():  # sampled here; the kernel keeps no time series
        ref = site.registry.get(name)
        if ref is not None:
            metrics().mailbox_depth(name, ref.depth)
            kind_id = split_stream(name)
            if kind_id is not None and kind_id[0] == "camera" and kind_id[1] in view.cameras:
                view.cameras[kind_id[1]].mailbox = ref.depth
    counters = _camera_counters(tel)
    for cam in view.cameras:
        if cam not in counters:
            # no counts in this process's metrics: a camera on another node (`lfr demo
            # --nodes 3`), or one that analysed nothing yet: ask the camera, briefly
            with anyio.move_on_after(_STATUS_WAIT_S):
                try:
                    cs = await site.camera_status(cam)
                except LfrError:
                    continue
                counters[cam] = {"analysed": cs.frames_analysed, "dropped": cs.frames_dropped}
    now = time.monotonic()
    for cam, crow in view.cameras.items():
        c = counters.get(cam, {})
        analysed = int(c.get("analysed", 0))
        if crow.sampled_at and now > crow.sampled_at:
            rate = (analysed - crow.analysed) / (now - crow.sampled_at)
            crow.fps = 0.6 * crow.fps + 0.4 * rate
        crow.sampled_at = now
        metrics().analysed_fps(cam, crow.zone, crow.fps)
        crow.analysed = analysed
        crow.dropped = int(c.get("dropped", 0))
    for a in seen.values():
        view.alerts[a.alert_id] = AlertRow(
            a.alert_id, a.zone, a.camera, a.subject_label, a.similarity, a.state, a.latency_ms
        )
    ui.refresh()
