"""Pure pre/post-processing: tiles, NMS, boxes, five points, similarity transform."""

import numpy as np

from lfr.vision.align import TEMPLATE, align, similarity_transform
from lfr.vision.detect import DetectorConfig, nms, plan_tiles, prepare, square_box
from lfr.vision.landmarks import five_points
from lfr.vision.quality import pose_angles


def test_tiles_cover_the_frame_with_overlap():
    tiles = plan_tiles(960, 540, overlap=0.25)
    covered = np.zeros((540, 960), dtype=bool)
    for t in tiles:
        assert t.w == 320 and t.h == 240
        covered[t.y : t.y + t.h, t.x : t.x + t.w] = True
    assert covered.all()
    xs = sorted({t.x for t in tiles})
    assert all(b - a <= 320 * 0.75 + 1 for a, b in zip(xs, xs[1:], strict=False))


def test_prepare_batches_whole_frame_and_tiles_only_for_large_frames():
    big = np.zeros((1080, 1920, 3), np.uint8)
    batch, tiles, scales = prepare(big, DetectorConfig())
    assert batch.shape[1:] == (240, 320, 3) and batch.dtype == np.uint8
    assert len(batch) == len(tiles) == len(scales) > 1
    assert tiles[0].w == 1920 and tiles[0].h == 1080
    small = np.zeros((240, 320, 3), np.uint8)
    assert len(prepare(small, DetectorConfig())[0]) == 1
    assert len(prepare(big, DetectorConfig(tiling=False))[0]) == 1


def test_nms_keeps_best_and_drops_contained_boxes():
    boxes = np.array(
        [[0, 0, 100, 100], [5, 5, 105, 105], [200, 200, 260, 260], [10, 10, 50, 50]],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.95, 0.8, 0.99], dtype=np.float32)
    assert nms(boxes, scores, 0.4) == [3, 1, 2]
    # a weaker box inside a kept one (a face part seen by a tile) goes
    inside = np.array([[0, 0, 100, 100], [10, 10, 50, 50]], dtype=np.float32)
    assert nms(inside, np.array([0.9, 0.8], dtype=np.float32), 0.4) == [0]


def test_square_box_keeps_height_and_centre():
    assert square_box((10, 20, 30, 60)) == (0.0, 20, 40.0, 60)


def test_five_points_follow_models_md():
    pts = np.arange(136, dtype=np.float32).reshape(68, 2)
    five = five_points(pts)
    np.testing.assert_allclose(five[0], pts[[37, 38, 40, 41]].mean(axis=0))
    np.testing.assert_allclose(five[1], pts[[43, 44, 46, 47]].mean(axis=0))
    np.testing.assert_allclose(five[2], pts[30])
    np.testing.assert_allclose(five[3], (pts[48] + pts[60]) / 2)
    np.testing.assert_allclose(five[4], (pts[54] + pts[64]) / 2)


def test_similarity_transform_recovers_rotation_scale_translation():
    angle, scale, shift = np.radians(20), 2.5, np.array([30.0, -12.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (TEMPLATE - shift) @ np.linalg.inv(scale * rot).T
    matrix = similarity_transform(src, TEMPLATE)
    np.testing.assert_allclose(src @ matrix[:, :2].T + matrix[:, 2], TEMPLATE, atol=1e-6)


def test_align_output_and_pose():
    image = np.full((200, 200, 3), 128, np.uint8)
    crop = align(image, TEMPLATE.astype(np.float32))
    assert crop.shape == (112, 112, 3)
    yaw, roll = pose_angles(TEMPLATE)
    assert abs(yaw) < 0.05 and abs(roll) < 1
