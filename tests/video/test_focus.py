"""`TrackingRecogniser` with the real model pack: fewer model calls, the same decisions."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from lfr.config import settings
from lfr.video.file import FileSource
from lfr.video.focus import TrackingRecogniser
from lfr.video.loop import CameraLoop, FrameDecided, LoopOutput
from lfr.video.synthetic import write_clip
from lfr.vision.pipeline import FacePipeline
from lfr.watchlist.enrol import enrol_directory

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.shared()


async def run(loop: CameraLoop) -> list[FrameDecided]:
    out: list[FrameDecided] = []

    async def emit(item: LoopOutput) -> None:
        if isinstance(item, FrameDecided):
            out.append(item)

    with anyio.fail_after(60):
        await loop.run(emit)
    return out


async def test_hamilton_embeds_a_few_times_per_track_and_still_matches(
    pipeline: FacePipeline, hamilton: Path
) -> None:
    gallery = await anyio.to_thread.run_sync(enrol_directory, pipeline, hamilton.parent / "refs")
    recogniser = TrackingRecogniser(pipeline, camera="ham")
    loop = CameraLoop(
        FileSource(hamilton),
        recogniser,
        recogniser.decider,
        gallery=gallery,
        threshold=0.5,
        lossless=True,
    )
    decided = await run(loop)
    labels = [m.candidate.label for d in decided for m in d.decisions.matches]
    assert labels == ["Lin Manuel Miranda"]
    stats = loop.stats
    assert stats.faces_seen > 100
    assert recogniser.embedded < stats.faces_seen / 3  # tracked faces are not re-embedded
    assert 8 <= recogniser.full_scans <= 20  # about every 0.8 s of a 9.2 s clip


def _photos(n: int) -> list[Path]:
    people = sorted(p for p in settings().faces_dir.iterdir() if p.is_dir() and p.name[0] != "_")
    return [sorted(p.glob("*.jpg"))[0] for p in people if list(p.glob("*.jpg"))][:n]


def _clip_and_watchlist(tmp: Path, photos: list[Path]) -> tuple[Path, Path]:
    clip = write_clip(tmp / "street.mp4", photos, width=1280, height=720, seconds=3, face_px=200)
    refs = tmp / "refs"
    for photo in photos:
        (refs / photo.parent.name).mkdir(parents=True)
        (refs / photo.parent.name / photo.name).symlink_to(photo.resolve())
    return clip, refs


async def test_generated_street_clip_one_decision_per_person(
    pipeline: FacePipeline, tmp_path: Path
) -> None:
    photos = _photos(3)
    clip, refs = await anyio.to_thread.run_sync(_clip_and_watchlist, tmp_path, photos)
    gallery = await anyio.to_thread.run_sync(enrol_directory, pipeline, refs)
    assert len(gallery) == 3
    recogniser = TrackingRecogniser(pipeline, camera="gen")
    loop = CameraLoop(
        FileSource(clip),
        recogniser,
        recogniser.decider,
        gallery=gallery,
        threshold=0.5,
        lossless=True,
    )
    decided = await run(loop)
    ids = sorted(m.candidate.entry_id for d in decided for m in d.decisions.matches)
    assert ids == sorted(gallery.entry_ids)  # everyone once, nobody twice
    assert recogniser.decider.tracks_started == 3


@pytest.mark.blocking_ok("the test body reads its face photo from disk")
async def test_motion_gated_scan_finds_24_to_40_px_faces_walking_into_a_1080p_frame(
    pipeline: FacePipeline, hamilton: Path
) -> None:
    from datetime import UTC, datetime

    import cv2
    import numpy as np

    from lfr.vision.image import read_image
    from lfr.vision.types import Frame

    face = read_image(settings().faces_dir / "John_Simm/1.jpg")
    assert face is not None
    empty = np.full((1080, 1920, 3), 90, np.uint8)
    street = empty.copy()
    places = []
    for k, size in enumerate([24, 28, 32, 36, 40, 30]):
        side = int(size * 1.5)
        x, y = 120 + k * 300, 200 + (k % 3) * 280
        street[y : y + side, x : x + side] = cv2.resize(
            face, (side, side), interpolation=cv2.INTER_AREA
        )
        places.append((x + side / 2, y + side / 2))
    recogniser = TrackingRecogniser(pipeline, camera="small")
    gallery = await anyio.to_thread.run_sync(enrol_directory, pipeline, hamilton.parent / "refs")

    def scan(image: np.ndarray, at_s: float) -> list[tuple[float, float, float, float]]:
        frame = Frame(image.copy(), 0, at_s, datetime.now(UTC), 0)
        analysis = recogniser.analyse(frame, gallery)
        boxes = [f.box for f in analysis.faces]
        analysis.forget()
        return boxes

    assert scan(empty, 0.0) == []  # the first scan: every tile, nothing there
    assert recogniser.tiles_scanned == 0
    boxes = scan(street, 2.0)  # the next scan: only the tiles where they walked in
    assert recogniser.full_scans == 2
    assert 0 < recogniser.tiles_scanned < 12
    found = sum(any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes) for cx, cy in places)
    assert found == len(places)
