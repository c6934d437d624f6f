"""Evaluation of the face pipeline: verification, identification, calibration, groups."""

from lfr.evaluation.calibrate import calibrate
from lfr.evaluation.evaluate import evaluate_faces

__all__ = ["calibrate", "evaluate_faces"]
