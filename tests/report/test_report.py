"""Transparency report: renders every section and figure from a report with sample numbers."""

from __future__ import annotations

import base64
import html
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lfr.report import (
    AlertRow,
    DeploymentSection,
    GroundTruth,
    SimilarityHistogram,
    TransparencyReport,
    Verification,
    render_html,
    write_report,
)
from lfr.report.plots import latency_figure
from lfr.report.render import one_in
from lfr.vision.threshold import modelled_fpir

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def sample_report() -> TransparencyReport:
    rng = np.random.default_rng(0)
    deps = []
    for k, (zone, name) in enumerate((("north-end", "North End"), ("london-road", "London Road"))):
        alerts = [
            AlertRow(
                alert_id=f"a-{k}-{i}",
                raised_at=T0 + timedelta(seconds=20 + 25 * i + 7 * k),
                camera=f"{zone[:2]}-{1 + i % 2}",
                subject_label=f"Subject <{k}{i}>",
                category="wanted_by_police",
                similarity=0.62 + 0.05 * i,
                threshold=0.6,
                ground_truth="false" if (k, i) == (1, 1) else "true",
                acknowledged_by="PC 101",
                ack_after_s=1.5 + i,
                adjudications=["PC 101: confirmed", "PC 202: confirmed"],
                engagement="spoken_to" if i == 0 else None,
                latency_ms=150 + 40 * i,
            )
            for i in range(3)
        ]
        deps.append(
            DeploymentSection(
                deployment_id=f"dep-{zone}",
                zone=zone,
                zone_name=name,
                cameras=[f"{zone[:2]}-1", f"{zone[:2]}-2"],
                authorised_by="Supt A. Smith (1234)",
                legal_basis="Common law policing powers; DPA 2018 s.35",
                reason="Town-centre violent crime hot spot",
                window_start=T0,
                window_end=T0 + timedelta(minutes=2),
                ended_at=T0 + timedelta(seconds=110),
                armed_periods=[(T0 + timedelta(seconds=5), T0 + timedelta(seconds=60 + 40 * k))],
                watchlist_version="ab" * 32,
                watchlist_size=6,
                threshold=0.6,
                frames_analysed=1200,
                faces_scanned=3400,
                frames_discarded=1190,
                alerts=alerts,
                engagements=1,
                watchlist_purged=True,
                refs_purged=7,
                non_match_similarity=SimilarityHistogram.of(
                    list(rng.normal(0.05, 0.08, 3000).clip(-0.2, 0.45))
                ),
            )
        )
    return TransparencyReport(
        generated_at=T0 + timedelta(minutes=3),
        deployments=deps,
        latencies_ms=list(rng.gamma(4, 45, 6)),
        verification=Verification(chain_verified=True, events=4321, head_hash="cd" * 32),
        ground_truth=GroundTruth(
            subjects_walked=5, subjects_alerted=5, subjects_walked_while_disarmed=1
        ),
        notes=["sample"],
    )


def test_histogram_bins_and_clamps():
    h = SimilarityHistogram.of([-5.0, 0.0, 0.011, 0.99, 7.0])
    assert len(h.edges) == len(h.counts) + 1
    assert h.total == 5
    assert h.counts[0] == 1 and h.counts[-1] == 2


def test_report_renders_every_section(tmp_path):
    report = sample_report()
    path = write_report(report, tmp_path / "report.html")
    text = path.read_text()
    assert (tmp_path / "report.json").exists()
    assert TransparencyReport.model_validate_json((tmp_path / "report.json").read_text()) == report
    for needle in (
        "North End",
        "London Road",
        "Supt A. Smith (1234)",
        "4,321",
        "verified",
        "purge recorded after the deployment</span> (7 biometric reference(s) erased)",
        "5 of 5",
        "6,800",
    ):
        assert needle in text, needle
    # labels are escaped, not injected
    assert "Subject &lt;00&gt;" in text and "Subject <00>" not in text
    assert text.count('class="false">false</td>') == 1
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(pngs) == 3
    for i, b in enumerate(pngs):
        raw = base64.b64decode(html.unescape(b))
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        (tmp_path / f"figure-{i}.png").write_bytes(raw)


def test_a_purge_that_erased_nothing_is_not_shown_as_done():
    report = sample_report()
    deps = [d.model_copy(update={"refs_purged": 0}) for d in report.deployments]
    text = render_html(report.model_copy(update={"deployments": deps}))
    assert "erased no stored biometric reference" in text
    assert "purge recorded after the deployment</span> (" not in text


def test_failed_verification_is_loud():
    report = sample_report().model_copy(
        update={"verification": Verification(chain_verified=False, events=3, detail="seq 2")}
    )
    assert 'class="bad">FAILED' in render_html(report)


def test_empty_report_still_renders():
    report = TransparencyReport(generated_at=T0, deployments=[])
    assert "no alerts, no latency measured" not in render_html(report)  # drawn in the PNG
    with pytest.raises(ValueError):
        TransparencyReport(generated_at=T0, deployments=[], bogus=1)  # type: ignore[call-arg]


def test_each_deployment_states_its_threshold_and_modelled_false_alert_rate():
    report = sample_report()
    small = report.deployments[0].model_copy(update={"watchlist_size": 7})
    large = report.deployments[1].model_copy(update={"threshold": 0.75, "watchlist_size": 1000})
    text = render_html(report.model_copy(update={"deployments": [small, large]}))
    assert modelled_fpir(0.60, 7) == pytest.approx(4.7e-5, rel=0.01)  # 1 in 21,200
    assert (
        "Threshold 0.60 — modelled false alert rate about 1 in 21,000 faces scanned "
        "against a watchlist of 7"
    ) in text
    assert modelled_fpir(0.75, 1000) == pytest.approx(8.4e-5, rel=0.01)  # 1 in 11,950
    assert (
        "Threshold 0.75 — modelled false alert rate about 1 in 12,000 faces scanned "
        "against a watchlist of 1000"
    ) in text


def test_an_empty_watchlist_cannot_alert():
    report = sample_report()
    deps = [d.model_copy(update={"watchlist_size": 0}) for d in report.deployments]
    text = render_html(report.model_copy(update={"deployments": deps}))
    assert text.count("the watchlist was empty, so no face could alert") == 2


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        (4.7182e-5, "about 1 in 21,000"),
        (6.7e-3, "about 1 in 150"),
        (0.4, "about 1 in 2.5"),
        (1.0, "about 1 in 1"),
        (3.43e-9, "about 1 in 290 million"),
        (1.56e-11, "about 1 in 64 billion"),
        (1e-13, "fewer than 1 in a trillion"),
    ],
)
def test_rates_are_worded_as_one_in_n(rate, words):
    assert one_in(rate) == words


@pytest.mark.parametrize("latencies", [[200.0] * 19 + [203.0], [150.0, 151.0], [480.0, 499.0]])
def test_latency_labels_never_overlap(latencies):
    report = sample_report().model_copy(update={"latencies_ms": latencies})
    fig = latency_figure(report)
    fig.draw_without_rendering()
    (ax,) = fig.axes
    legend = ax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert [label.split()[0] for label in labels] == ["p50", "p95", "target"]
    assert not ax.texts  # nothing written at the lines themselves
    boxes = [t.get_window_extent() for t in legend.get_texts()]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), labels


def test_each_deployment_states_the_measured_rates_beside_its_threshold():
    report = sample_report()
    small = report.deployments[0].model_copy(update={"watchlist_size": 7})
    exact = report.deployments[1].model_copy(update={"threshold": 0.60, "watchlist_size": 1000})
    huge = report.deployments[1].model_copy(update={"threshold": 0.62, "watchlist_size": 5000})
    text = render_html(report.model_copy(update={"deployments": [small, exact, huge]}))
    # 0.60 on 1,000 entries: the calibration's own row, no bounding caveat
    assert (
        "Measured at threshold 0.60 on a watchlist of 1,000: false alert rate about 1 in "
        "1,000 faces searched (95% interval about 1 in 4,100 to about 1 in 240); people on a "
        "1,000-entry watchlist found 91% of the time with one enrolment photo, 99% with three."
    ) in text
    # 7 entries: bounded by the 100-entry measurement, and said so
    assert (
        "Measured at threshold 0.60 on a watchlist of 100: false alert rate about 1 in 8,000"
        in text
    )
    assert text.count("so the false alert rate here is at most that") == 1
    # more entries than anything measured: only the model, and the report says so
    assert text.count("No measurement covers this threshold and watchlist size") == 1
