"""Test doubles shipped with lfr, so the rules can be proven without models or cameras.

`ScriptedFrameSource` yields frames tagged with who is in them; `ScriptedRecogniser` "sees"
exactly those people; `InMemoryGallery`/`InMemoryWatchlists` stand in for published
watchlists; `synthetic_log` is a realistic deployment day of events. They behave like the
real parts at the seams (`lfr.vision.types`, `lfr.catalog`), including forgetting biometric
data, so actor tests exercise real code paths.
"""

from lfr.testing.frames import ScriptedFrameSource
from lfr.testing.gallery import InMemoryGallery, InMemoryWatchlists
from lfr.testing.logs import synthetic_log
from lfr.testing.recogniser import ScriptedRecogniser

__all__ = [
    "InMemoryGallery",
    "InMemoryWatchlists",
    "ScriptedFrameSource",
    "ScriptedRecogniser",
    "synthetic_log",
]
