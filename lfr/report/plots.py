"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from lfr.report.model import TransparencyReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["alerts_over_time", "latency", "latency_figure", "similarity"]

_TRUE, _FALSE, _UNKNOWN, _ARMED = "#1b7f3b", "#c0392b", "#7f8c8d", "#d6eaf8"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _figure(w: float, h: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def alerts_over_time(report: TransparencyReport) -> bytes:
    """One row per deployment: armed periods shaded, alerts marked by ground truth."""
    from matplotlib.patches import Patch

    deps = report.deployments
    fig = _figure(9, 1.0 + 0.9 * max(1, len(deps)))
    ax = fig.add_subplot()
    t0 = min((d.window_start for d in deps), default=report.generated_at)
    colours = {"true": _TRUE, "false": _FALSE, "unknown": _UNKNOWN}
    seen: set[str] = set()
    for row, d in enumerate(deps):
        spans = [((a - t0).total_seconds(), (b - a).total_seconds()) for a, b in d.armed_periods]
        ax.broken_barh(spans, (row - 0.35, 0.7), facecolors=_ARMED, edgecolors="#5dade2")
        for verdict, colour in colours.items():
            xs = [(a.raised_at - t0).total_seconds() for a in d.alerts if a.ground_truth == verdict]
            if xs:
                label = None if verdict in seen else f"{verdict} alert"
                seen.add(verdict)
                ax.scatter(
                    xs, [row] * len(xs), s=70, marker="v", color=colour, zorder=3, label=label
                )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor=_ARMED, edgecolor="#5dade2"))
    labels.append("cameras armed")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_yticks(range(len(deps)), [d.zone_name for d in deps])
    ax.set_ylim(-0.6, len(deps) - 0.4)
    ax.set_xlabel(f"seconds since {t0.strftime('%Y-%m-%d %H:%M:%S')} UTC")
    ax.set_title("Alerts over time")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def similarity(report: TransparencyReport) -> bytes:
    """Match similarities against the closest non-matches' and the threshold."""
    fig = _figure(9, 3.4)
    ax = fig.add_subplot()
    edges: list[float] = []
    counts = np.zeros(0)
    for d in report.deployments:
        if d.non_match_similarity is not None:
            edges = d.non_match_similarity.edges
            c = np.asarray(d.non_match_similarity.counts, float)
            counts = c if counts.size == 0 else counts + c
    if counts.size and counts.sum() > 0:
        ax.stairs(
            counts,
            edges,
            fill=True,
            color="#95a5a6",
            alpha=0.8,
            label=f"faces below the threshold: closest entry ({int(counts.sum())} faces)",
        )
    matches = [a.similarity for a in report.alerts]
    if matches:
        ax.hist(
            matches,
            bins=np.arange(-0.2, 1.0001, 0.02).tolist(),
            color=_TRUE,
            alpha=0.85,
            label=f"alerts ({len(matches)})",
        )
    thresholds = sorted({d.threshold for d in report.deployments})
    for t in thresholds:
        ax.axvline(t, color="black", linestyle="--", linewidth=1.2)
        ax.text(t, ax.get_ylim()[1] * 0.95, f" threshold {t:.2f}", va="top", fontsize=8)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlim(-0.2, 1.0)
    ax.set_xlabel("cosine similarity to the best watchlist entry")
    ax.set_ylabel("faces (log scale)")
    ax.set_title("Similarity of alerts and of the closest non-matches")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.text(0.5, 0.5, "no faces compared", ha="center", transform=ax.transAxes)
    return _png(fig)


def latency(report: TransparencyReport, target_ms: float = 500.0) -> bytes:
    """Distribution of frame-decode-to-alert-delivery latency, with p50, p95 and the target."""
    return _png(latency_figure(report, target_ms))


def latency_figure(report: TransparencyReport, target_ms: float = 500.0) -> Figure:
    """The latency figure before it is drawn. p50, p95 and the target are named in a legend
    beside the axes, not written at their lines, so close values cannot overprint each other."""
    fig = _figure(9, 3.0)
    ax = fig.add_subplot()
    lat = np.asarray(report.latencies_ms, float)
    if lat.size:
        ax.hist(lat, bins=min(40, max(5, lat.size)), color="#2e86c1", alpha=0.85)
        for q, style in ((50, ":"), (95, "-.")):
            v = float(np.percentile(lat, q))
            ax.axvline(v, color="#154360", linestyle=style, linewidth=1.4, label=f"p{q} {v:.0f} ms")
    else:
        ax.text(0.5, 0.5, "no alerts, no latency measured", ha="center", transform=ax.transAxes)
    ax.axvline(target_ms, color=_FALSE, linestyle="--", label=f"target {target_ms:.0f} ms")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel("deciding frame decoded -> alert on the officer's device over MQTT (ms)")
    ax.set_ylabel("alerts")
    ax.set_title("Decode-to-alert latency")
    return fig
