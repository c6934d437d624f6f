"""Render a `TransparencyReport` to one self-contained `report.html` (plots as data URIs)."""

from __future__ import annotations

import base64
from pathlib import Path

from lfr.report import plots
from lfr.report.model import TransparencyReport

__all__ = [
    "one_in",
    "render_html",
    "write_report",
]


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def one_in(rate: float) -> str:
    """A rate as transparency reports word it: 4.7e-5 -> "about 1 in 21,000"."""
    if rate <= 0:
        return "none"
    n = 1 / rate
    if n >= 1e12:
        return "fewer than 1 in a trillion"
    figures = float(f"{n:.2g}")  # two significant figures; the model is no finer than that
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if figures >= size:
            return f"about 1 in {figures / size:g} {word}"
    return f"about 1 in {figures:,.0f}" if figures >= 10 else f"about 1 in {figures:g}"


def render_html(report: TransparencyReport) -> str:
    """The report as HTML text with its figures embedded."""
    import jinja2
    import numpy as np

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lfr.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["one_in"] = one_in
    lat = np.asarray(report.latencies_ms, float)
    figures = {
        "alerts": _data_uri(plots.alerts_over_time(report)),
        "similarity": _data_uri(plots.similarity(report)),
        "latency": _data_uri(plots.latency(report)),
    }
    return env.get_template("report.html.j2").render(
        r=report,
        figures=figures,
        p50=float(np.percentile(lat, 50)) if lat.size else None,
        p95=float(np.percentile(lat, 95)) if lat.size else None,
    )


def write_report(report: TransparencyReport, path: Path) -> Path:
    """Write `report.html` (and `report.json`, the data behind it) and return the HTML path.

    The JSON goes first, so a report that fails to render can still be rebuilt from it:
    `write_report(TransparencyReport.model_validate_json(json_path.read_text()), path)`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(report.model_dump_json(indent=1), encoding="utf-8")
    path.write_text(render_html(report), encoding="utf-8")
    return path
