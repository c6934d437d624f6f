"""`lfr models`: path, verify and pull as an operator runs them."""

import shutil
from pathlib import Path

from typer.testing import CliRunner

from lfr.cli import app
from lfr.vision.pack import DEFAULT_PACK


def _run(*args: str):
    result = CliRunner().invoke(app, ["models", *args])
    return result, " ".join(result.output.split())


def test_path_verify_and_cached_pull(model_pack: Path):
    result, out = _run("path", "--model-dir", str(model_pack.parent))
    assert result.exit_code == 0 and out == str(model_pack)
    result, out = _run("verify", "--model-dir", str(model_pack.parent))
    assert result.exit_code == 0 and "matches its sha256" in out
    result, out = _run("pull", "--model-dir", str(model_pack.parent))
    assert result.exit_code == 0 and "verified" in out


def test_verify_names_the_damaged_file(model_pack: Path, tmp_path: Path):
    shutil.copytree(model_pack, tmp_path / model_pack.name)
    (tmp_path / model_pack.name / "fr_landmark.onnx").write_bytes(b"truncated")
    result, out = _run("verify", "--model-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "fr_landmark.onnx" in out and DEFAULT_PACK.files["fr_landmark.onnx"] in out.replace(
        " ", ""
    )
