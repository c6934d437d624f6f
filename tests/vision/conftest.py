"""Fixtures for the face pipeline: one real pipeline per session and a few shared photos."""

from pathlib import Path

import numpy as np
import pytest

from lfr.config import settings
from lfr.vision.image import read_image
from lfr.vision.pipeline import FacePipeline, PipelineConfig


@pytest.fixture(scope="session")
def pipeline(model_pack: Path) -> FacePipeline:
    return FacePipeline.from_pack(PipelineConfig(model_dir=model_pack.parent))


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return settings().faces_dir


def photo(name: str) -> np.ndarray:
    image = read_image(settings().faces_dir / name)
    assert image is not None, name
    return image
