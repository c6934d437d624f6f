"""The pipeline end to end on real photos with the real models."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import cv2
import numpy as np

from lfr.vision.detect import DetectorConfig
from lfr.vision.pipeline import FacePipeline, PipelineConfig
from lfr.vision.types import Frame, Recogniser
from lfr.watchlist.armed import ArmedWatchlist
from tests.vision.conftest import photo


def _embedding(pipeline, name):
    analysis = pipeline.analyse_image(photo(name), apply_gate=False, subject=True)
    vector = analysis.faces[0].embedding.copy()
    analysis.forget()
    return vector


def _gallery(pipeline) -> ArmedWatchlist:
    names = {"obama": "Barack_Obama/1.jpg", "biden": "Joe_Biden/1.jpg", "simm": "John_Simm/1.jpg"}
    vectors = np.stack([_embedding(pipeline, n) for n in names.values()])
    return ArmedWatchlist("test", list(names), list(names), vectors)


def _frame(image, index=0) -> Frame:
    return Frame(image, index, 0.0, datetime.now(UTC), 0)


def test_pipeline_is_a_recogniser_and_finds_the_right_person(pipeline):
    assert isinstance(pipeline, Recogniser)
    gallery = _gallery(pipeline)
    analysis = pipeline.analyse(_frame(photo("Barack_Obama/2.jpg")), gallery)
    assert analysis.faces_seen == 1
    face = analysis.faces[0]
    assert face.passed_quality and face.size_px > 100
    assert face.best is not None and face.best.entry_id == "obama"
    assert face.best.similarity > 0.5
    assert face.embedding.shape == (512,)
    assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4
    assert face.crop.shape == (112, 112, 3)
    assert {"detect", "keypoints", "embed", "search", "total", "model"} <= set(analysis.stage_ms)
    analysis.forget()
    assert face.embedding is None and face.crop is None


def test_same_person_scores_high_different_people_low(pipeline):
    a = _embedding(pipeline, "Angelina_Jolie/2.jpg")
    b = _embedding(pipeline, "Angelina_Jolie/3.jpg")
    c = _embedding(pipeline, "John_Simm/2.jpg")
    assert float(a @ b) > 0.5
    assert float(a @ c) < 0.3


def test_batched_faces_embed_like_single_faces(pipeline):
    """Several faces in one frame go through the embedder as a batch: same vectors."""
    names = ["John_Simm/1.jpg", "John_Salley/1.jpg", "Kaley_Cuoco/1.png"]
    singles = [_embedding(pipeline, n) for n in names]
    canvas = np.full((400, 1200, 3), 100, np.uint8)
    for i, name in enumerate(names):
        canvas[100:250, 100 + 400 * i : 250 + 400 * i] = cv2.resize(photo(name), (150, 150))
    analysis = pipeline.analyse_image(canvas, apply_gate=False)
    assert analysis.faces_seen == 3
    found = np.stack([f.embedding for f in analysis.faces])
    for single in singles:
        assert float(np.max(found @ single)) > 0.95
    analysis.forget()


def test_tiling_finds_24_to_40_px_faces_in_a_1080p_frame(model_pack):
    face = photo("John_Simm/1.jpg")  # a 150x150 crop, the face about 2/3 of it
    canvas = np.full((1080, 1920, 3), 90, np.uint8)
    places = []
    for k, size in enumerate([24, 28, 32, 36, 40, 30]):
        side = int(size * 1.5)
        x, y = 120 + k * 300, 200 + (k % 3) * 280
        canvas[y : y + side, x : x + side] = cv2.resize(
            face, (side, side), interpolation=cv2.INTER_AREA
        )
        places.append((x + side / 2, y + side / 2))
    tiled = FacePipeline.from_pack(PipelineConfig(model_dir=model_pack.parent))
    whole = FacePipeline.from_pack(
        PipelineConfig(model_dir=model_pack.parent, detector=DetectorConfig(tiling=False))
    )

    def hits(p):
        boxes = [d.box for d in p.models.detect(canvas)]
        return sum(
            any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes) for cx, cy in places
        )

    assert hits(tiled) == len(places)
    assert hits(whole) < len(places)


def test_quality_gate_counts_but_does_not_embed_bad_faces(pipeline):
    sharp = photo("Barack_Obama/1.jpg")
    blurred = cv2.GaussianBlur(sharp, (0, 0), 12)
    analysis = pipeline.analyse_image(blurred)
    assert analysis.faces_seen >= 1
    assert analysis.faces_below_quality == analysis.faces_seen
    assert all(f.embedding is None and f.crop is None for f in analysis.faces)


def test_one_pipeline_is_safe_from_several_threads(pipeline):
    names = ["Barack_Obama/1.jpg", "Joe_Biden/1.jpg", "John_Simm/1.jpg", "Katy_Perry/2.jpg"]
    images = [photo(n) for n in names]
    gallery = _gallery(pipeline)
    expected = [pipeline.analyse(_frame(im), gallery).faces[0].embedding for im in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda im: pipeline.analyse(_frame(im), gallery), images * 3))
    for i, analysis in enumerate(results):
        assert float(analysis.faces[0].embedding @ expected[i % 4]) > 0.9999


def test_shared_pipeline_is_one_object_per_config(model_pack):
    config = PipelineConfig(model_dir=model_pack.parent)
    assert FacePipeline.shared(config) is FacePipeline.shared(config)
