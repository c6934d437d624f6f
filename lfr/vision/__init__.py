"""Face pipeline: detection, quality gate, alignment, embedding, model packs.

Names are imported lazily (PEP 562), so `import lfr.vision.types` stays light for callers
that only need the seam types and never load OpenCV or onnxruntime.
"""

from __future__ import annotations

from types import ModuleType
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


def __getattr__(name: str) -> Any:
    # explicit imports, not importlib: the import contracts see every edge
    module: ModuleType
    if name == "DEFAULT_THRESHOLD":
        from lfr.vision import threshold as module
    elif name in ("EnrolmentError", "ModelError", "PackIntegrityError"):
        from lfr.vision import errors as module
    elif name in ("FacePipeline", "PipelineConfig"):
        from lfr.vision import pipeline as module
    elif name == "FaceModels":
        from lfr.vision import models as module
    elif name == "FacepluginModels":
        from lfr.vision import faceplugin as module
    elif name == "InsightFaceModels":
        from lfr.vision import insightface as module
    elif name == "QualityGate":
        from lfr.vision import quality as module
    elif name == "RuntimeConfig":
        from lfr.vision import runtime as module
    elif name in ("pull_pack", "verify_pack"):
        from lfr.vision import pack as module
    elif name == "read_image":
        from lfr.vision import image as module
    else:
        raise AttributeError(f"module 'lfr.vision' has no attribute {name!r}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
