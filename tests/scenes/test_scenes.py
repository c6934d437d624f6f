"""Scene generator: real H.264 out, ground truth that matches the pixels, deterministic."""

from __future__ import annotations

import hashlib

import av
import numpy as np
import pytest

from lfr.config import settings
from lfr.errors import ConfigError
from lfr.scenes import ClipSpec, SceneManifest, WalkerSpec, crowd, load_gallery, render_clip


@pytest.fixture(scope="module")
def people():
    return load_gallery(settings().faces_dir)


def _spec(people, seed: int = 3) -> ClipSpec:
    rng = np.random.default_rng(seed)
    subject = people[0]
    walkers = [
        WalkerSpec(
            walker_id="subject",
            identity=subject.identity,
            photo=subject.photos[-1],
            start_s=0.0,
            duration_s=2.0,
            face_from_px=40,
            face_to_px=90,
            watchlisted=True,
        ),
        *crowd(rng, people[1:], seconds=2.0, per_minute=60, prefix="p"),
    ]
    return ClipSpec("cam", 2.0, tuple(walkers), seed=seed, width=640, height=360)


def test_gallery_lists_identities_and_singletons(people):
    names = {p.identity for p in people}
    assert {"Barack_Obama", "Kate_Siegel"} <= names
    assert all(p.photos for p in people)


def test_missing_gallery_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="--gallery"):
        load_gallery(tmp_path / "nope")


def test_clip_is_h264_with_ground_truth(people, tmp_path):
    spec = _spec(people)
    clip = render_clip(spec, tmp_path, gallery_root=settings().faces_dir)
    with av.open(str(tmp_path / clip.file)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
    assert len(frames) == clip.frames == 50
    assert frames[0].shape == (360, 640, 3)
    subject = next(a for a in clip.appearances if a.walker_id == "subject")
    assert subject.watchlisted and subject.identity == people[0].identity
    assert subject.boxes[0][0] == subject.first_frame
    assert len(subject.boxes) == subject.last_frame - subject.first_frame + 1
    # the face box is where the pixels changed: compare with a clip without walkers
    empty = render_clip(
        ClipSpec("empty", 2.0, (), seed=spec.seed, width=640, height=360),
        tmp_path,
        gallery_root=settings().faces_dir,
    )
    with av.open(str(tmp_path / empty.file)) as c:
        bg = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    i, x, y, w, h = subject.boxes[len(subject.boxes) // 2]
    inside = np.abs(frames[i][y : y + h, x : x + w].astype(int) - bg[i][y : y + h, x : x + w])
    assert inside.mean() > 20
    assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 360
    assert subject.max_face_px >= 60


def test_same_seed_same_clip(people, tmp_path):
    a = render_clip(_spec(people), tmp_path / "a", gallery_root=settings().faces_dir)
    b = render_clip(_spec(people), tmp_path / "b", gallery_root=settings().faces_dir)
    assert a == b
    digest = [hashlib.sha256((tmp_path / d / "cam.mp4").read_bytes()).hexdigest() for d in "ab"]
    assert digest[0] == digest[1]
    c = render_clip(_spec(people, seed=4), tmp_path / "c", gallery_root=settings().faces_dir)
    assert c.appearances != a.appearances


def test_manifest_round_trips(people, tmp_path):
    clip = render_clip(_spec(people), tmp_path, gallery_root=settings().faces_dir)
    m = SceneManifest(gallery=str(settings().faces_dir), clips=[clip])
    m.write(tmp_path / "manifest.json")
    again = SceneManifest.read(tmp_path / "manifest.json")
    assert again == m
    assert again.clip("cam").present_at(clip.appearances[0].first_frame)
