"""Vision settings read from the environment (`LFR_VISION_*`): which pack, how many threads.

`LFR_VISION_PACK=insightface` with `LFR_VISION_INSIGHTFACE_DIR` pointing at a folder with
an SCRFD detector and an ArcFace recogniser (ONNX, supplied by the user) switches every
pipeline built by `pipeline_config()` to that pack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["VisionSettings"]


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LFR_VISION_", extra="ignore")

    pack: Literal["faceplugin", "insightface"] = "faceplugin"
    insightface_dir: Path | None = Field(default=None, description="SCRFD + ArcFace ONNX files")
    intra_op_threads: int = Field(default=2, ge=1, le=64)
    tiling: bool = True
