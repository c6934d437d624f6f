"""Street scenes generated, not filmed: gallery people walking past a lamppost camera.

`render_clip(ClipSpec(...), out_dir, gallery_root=...)` composes walkers (head-and-shoulders
cuts of gallery photos on drawn bodies) over a procedural street with lighting changes, blur,
turns and noise, encodes H.264 with PyAV, and returns the clip's ground truth
(`ClipManifest`). Deterministic for a given seed.
"""

from lfr.scenes.gallery import FaceLocator, Person, centre_guess, load_gallery, read_photo
from lfr.scenes.generator import ClipSpec, WalkerSpec, crowd, render_clip
from lfr.scenes.manifest import Appearance, ClipManifest, SceneManifest

__all__ = [
    "Appearance",
    "ClipManifest",
    "ClipSpec",
    "FaceLocator",
    "Person",
    "SceneManifest",
    "WalkerSpec",
    "centre_guess",
    "crowd",
    "load_gallery",
    "read_photo",
    "render_clip",
]
