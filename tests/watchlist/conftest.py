"""Watchlist fixtures: the real pipeline (shared with tests/vision) and a store in tmp."""

from pathlib import Path

import pytest

from lfr.vision.pipeline import FacePipeline, PipelineConfig


@pytest.fixture(scope="session")
def pipeline(model_pack: Path) -> FacePipeline:
    return FacePipeline.shared(PipelineConfig(model_dir=model_pack.parent))
