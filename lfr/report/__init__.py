"""Transparency reports: per deployment, what ran where, when, under whose authority, how
many faces were scanned, what alerted, whether alerts were right, and the log's verification.
"""

from lfr.report.model import (
    AlertRow,
    DeploymentSection,
    GroundTruth,
    SimilarityHistogram,
    TransparencyReport,
    Verification,
)
from lfr.report.render import render_html, write_report

__all__ = [
    "AlertRow",
    "DeploymentSection",
    "GroundTruth",
    "SimilarityHistogram",
    "TransparencyReport",
    "Verification",
    "render_html",
    "write_report",
]
