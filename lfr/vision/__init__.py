"""Face pipeline: detection, quality gate, alignment, embedding, model packs.

Names are imported lazily (PEP 562), so `import lfr.vision.types` stays light for callers
that only need the seam types and never load OpenCV or onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEFAULT_THRESHOLD",
    "EnrolmentError",
    "FaceModels",
    "FacePipeline",
    "FacepluginModels",
    "InsightFaceModels",
    "ModelError",
    "PackIntegrityError",
    "PipelineConfig",
    "QualityGate",
    "RuntimeConfig",
    "pull_pack",
    "read_image",
    "verify_pack",
]

_WHERE = {
    "DEFAULT_THRESHOLD": "lfr.vision.threshold",
    "EnrolmentError": "lfr.vision.errors",
    "FaceModels": "lfr.vision.models",
    "FacePipeline": "lfr.vision.pipeline",
    "FacepluginModels": "lfr.vision.faceplugin",
    "InsightFaceModels": "lfr.vision.insightface",
    "ModelError": "lfr.vision.errors",
    "PackIntegrityError": "lfr.vision.errors",
    "PipelineConfig": "lfr.vision.pipeline",
    "QualityGate": "lfr.vision.quality",
    "RuntimeConfig": "lfr.vision.runtime",
    "pull_pack": "lfr.vision.pack",
    "read_image": "lfr.vision.image",
    "verify_pack": "lfr.vision.pack",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lfr.vision' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
