"""The model pack: pinned hashes, clear errors, nothing half-written, outputs preserved."""

import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lfr.vision.errors import ModelError, PackIntegrityError
from lfr.vision.pack import DEFAULT_PACK, FAST_DIR, pull_pack, verify_pack
from lfr.vision.runtime import RuntimeConfig, make_session
from tests.vision.conftest import photo


@pytest.fixture
def pack_copy(model_pack: Path, tmp_path: Path) -> Path:
    """A private copy of the cached pack that a test may damage."""
    shutil.copytree(model_pack, tmp_path / model_pack.name)
    return tmp_path


def test_cached_pack_verifies_and_pull_is_a_noop(model_pack: Path):
    files = verify_pack(model_pack.parent)
    assert files.feature.parent.name == FAST_DIR
    messages: list[str] = []
    again = pull_pack(model_pack.parent, progress=messages.append)
    assert again == files
    assert any("verified" in m for m in messages)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_damaged_model_is_named_with_its_expected_hash(pack_copy: Path, damage: str):
    target = pack_copy / DEFAULT_PACK.dir_name / "fr_feature.onnx"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:1000])
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[5000] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        target.unlink()
    with pytest.raises(PackIntegrityError) as info:
        verify_pack(pack_copy)
    message = str(info.value)
    assert "fr_feature.onnx" in message
    assert DEFAULT_PACK.files["fr_feature.onnx"] in message
    assert ("is missing" in message) == (damage == "delete")
    assert "lfr models pull" in message


def test_damaged_derived_model_is_caught(pack_copy: Path):
    target = pack_copy / DEFAULT_PACK.dir_name / FAST_DIR / "fr_detect.onnx"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(PackIntegrityError, match="fast/fr_detect.onnx"):
        verify_pack(pack_copy)


def test_missing_pack_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(ModelError, match="lfr models pull"):
        verify_pack(tmp_path)


def _fake_tarball(path: Path, truncated: bool) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"not a model" * 1000
        info = tarfile.TarInfo("package/model/fr_feature.onnx")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    path.write_bytes(raw[: len(raw) // 2] if truncated else raw)
    return path


@pytest.mark.parametrize("truncated", [False, True])
def test_wrong_or_truncated_tarball_leaves_nothing_in_the_cache(tmp_path: Path, truncated: bool):
    cache = tmp_path / "cache"
    tarball = _fake_tarball(tmp_path / DEFAULT_PACK.tarball_name, truncated)
    with pytest.raises(PackIntegrityError) as info:
        pull_pack(cache, tarball=tarball)
    assert DEFAULT_PACK.tarball_sha256 in str(info.value)
    assert DEFAULT_PACK.tarball_name in str(info.value)
    assert list(cache.iterdir()) == []  # no pack folder, no temp folder left behind


def test_derived_embedder_keeps_the_embeddings_of_a_real_face(model_pack: Path, pipeline):
    """Denormal flush + symbolic batch: cosine >= 0.9999 to the original, batch == single."""
    from lfr.vision.embed import embedder_input

    faces = []
    for name in ("Barack_Obama/1.jpg", "Joe_Biden/1.jpg", "John_Simm/1.jpg"):
        analysis = pipeline.analyse_image(photo(name), apply_gate=False, subject=True)
        faces.append(analysis.faces[0].crop.copy())
        analysis.forget()
    tensors = embedder_input(np.stack(faces))
    original = make_session(model_pack / "fr_feature.onnx", RuntimeConfig(denormal_as_zero=False))
    fast = make_session(model_pack / FAST_DIR / "fr_feature.onnx", RuntimeConfig())
    batched = fast.run(None, {"input": tensors})[0]
    for i in range(len(faces)):
        ref = original.run(None, {"input": tensors[i : i + 1]})[0][0]
        got = batched[i]
        cosine = float(ref @ got / (np.linalg.norm(ref) * np.linalg.norm(got)))
        assert cosine >= 0.9999


def test_killed_pull_leftovers_are_cleaned(tmp_path: Path):
    import os

    stale = tmp_path / ".pull-old"
    stale.mkdir()
    (stale / "half.onnx").write_bytes(b"x")
    os.utime(stale, (0, 0))
    with pytest.raises(PackIntegrityError):
        pull_pack(tmp_path, tarball=_fake_tarball(tmp_path / "x.tgz", False))
    assert not stale.exists()
