"""The InsightFace-style pack: SCRFD output decoding and clear errors for a bad folder.

No InsightFace weights ship with lfr (non-commercial licence), so the decoder is tested on
outputs built by hand with a known face in them.
"""

from pathlib import Path

import numpy as np
import pytest

from lfr.vision.errors import ModelError, PackIntegrityError
from lfr.vision.insightface import STRIDES, InsightFaceModels, scrfd_decode, scrfd_input


def _outputs(size: int, face_at: tuple[int, int], stride: int = 16) -> list[np.ndarray]:
    """Nine SCRFD outputs with one confident anchor at `face_at` (a centre on `stride`)."""
    scores, boxes, kps = [], [], []
    for s in STRIDES:
        n = (size // s) ** 2 * 2
        score = np.zeros((n, 1), np.float32)
        box = np.zeros((n, 4), np.float32)
        kp = np.zeros((n, 10), np.float32)
        if s == stride:
            cx, cy = face_at
            index = ((cy // s) * (size // s) + cx // s) * 2
            score[index] = 0.9
            box[index] = [40 / s, 50 / s, 40 / s, 50 / s]  # a 80x100 box around the centre
            kp[index] = np.array([-15, -10, 15, -10, 0, 5, -12, 25, 12, 25], np.float32) / s
        scores.append(score)
        boxes.append(box)
        kps.append(kp)
    return scores + boxes + kps


def test_decode_recovers_box_and_keypoints_in_image_pixels():
    size, scale = 640, 0.5  # the image was shrunk by 2 into the 640 input
    (det,) = scrfd_decode(_outputs(size, (320, 320)), size, scale)
    np.testing.assert_allclose(det.box, (560, 540, 720, 740))
    assert det.points5 is not None
    np.testing.assert_allclose(det.points5[0], (610, 620))
    np.testing.assert_allclose(det.points5[4], (664, 690))
    assert det.score == pytest.approx(0.9)


def test_decode_refuses_a_model_without_keypoints():
    outputs = _outputs(640, (320, 320))[:6]
    with pytest.raises(ModelError, match="bnkps"):
        scrfd_decode(outputs, 640, 1.0)


def test_input_is_letterboxed_and_normalised():
    image = np.full((100, 200, 3), 255, np.uint8)
    tensor, scale = scrfd_input(image, 640)
    assert tensor.shape == (1, 3, 640, 640) and scale == pytest.approx(3.2)
    assert tensor[0, :, 0, 0] == pytest.approx((255 - 127.5) / 128)
    assert tensor[0, :, 639, 0] == pytest.approx(-127.5 / 128)  # padding


def test_folder_without_models_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ModelError, match="SCRFD detector"):
        InsightFaceModels(tmp_path)
    with pytest.raises(ModelError, match="not a folder"):
        InsightFaceModels(tmp_path / "missing")


def test_checksums_are_enforced(tmp_path: Path):
    (tmp_path / "det.onnx").write_bytes(b"x")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  det.onnx\n")
    with pytest.raises(PackIntegrityError, match="det.onnx"):
        InsightFaceModels(tmp_path)
