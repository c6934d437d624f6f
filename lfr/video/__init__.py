"""Video in: frame sources (files, RTSP, WHIP), the latest-frame slot, tracking, the hot path.

What the camera actor and the CLI use is re-exported here. Modules that pull in aiortc or
FastAPI (`whip`) or the face models (`focus`) are imported lazily by their users.
"""

from lfr.video.errors import EndOfStream, SourceOpenError, StreamInterrupted, VideoError
from lfr.video.file import FileSource
from lfr.video.latest import LatestSlot, RateSampler
from lfr.video.loop import (
    CameraLoop,
    FrameDecided,
    LoopOutput,
    LoopStats,
    StreamLost,
    StreamStarted,
)
from lfr.video.recognition import (
    CameraRecognition,
    PerFrameDecider,
    camera_recognition,
    shared_recognition,
)
from lfr.video.redact import redact_url, redact_urls
from lfr.video.rtsp import Backoff, RtspSource
from lfr.video.tracker import TrackerConfig, TrackingDecider

__all__ = [
    "Backoff",
    "CameraLoop",
    "CameraRecognition",
    "EndOfStream",
    "FileSource",
    "FrameDecided",
    "LatestSlot",
    "LoopOutput",
    "LoopStats",
    "PerFrameDecider",
    "RateSampler",
    "RtspSource",
    "SourceOpenError",
    "StreamInterrupted",
    "StreamLost",
    "StreamStarted",
    "TrackerConfig",
    "TrackingDecider",
    "VideoError",
    "camera_recognition",
    "redact_url",
    "redact_urls",
    "shared_recognition",
]
