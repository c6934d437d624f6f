"""The ground truth of generated scenes: who appears in which clip, when and where.

The manifest is what true and false alerts are judged against, so it is written next to the
clips and never edited by hand. Boxes are face boxes in frame pixels (x, y, w, h).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Appearance", "ClipManifest", "SceneManifest"]

PathKind = Literal["approach", "cross"]


class Appearance(BaseModel):
    """One person walking through one clip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    walker_id: str
    identity: str = Field(description="gallery identity (folder name)")
    photo: str = Field(description="the walking photo, relative to the gallery")
    watchlisted: bool = Field(description="on the demo watchlist (enrolled from another photo)")
    path: PathKind
    first_frame: int = Field(ge=0)
    last_frame: int = Field(ge=0)
    max_face_px: int
    #: one row per frame in [first_frame, last_frame]: frame, x, y, w, h of the face box
    boxes: list[tuple[int, int, int, int, int]]

    def seconds(self, fps: float) -> tuple[float, float]:
        return self.first_frame / fps, (self.last_frame + 1) / fps


class ClipManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    file: str = Field(description="the H.264 file, relative to the manifest")
    width: int
    height: int
    fps: float
    frames: int
    seed: int
    appearances: list[Appearance]

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def present_at(self, frame: int) -> list[Appearance]:
        return [a for a in self.appearances if a.first_frame <= frame <= a.last_frame]


class SceneManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    gallery: str = Field(description="the gallery folder the photos came from")
    clips: list[ClipManifest]

    def clip(self, name: str) -> ClipManifest:
        for c in self.clips:
            if c.name == name:
                return c
        raise KeyError(name)

    def write(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1))

    @classmethod
    def read(cls, path: Path) -> SceneManifest:
        return cls.model_validate_json(path.read_text())
