"""`lfr eval faces` / `lfr eval calibrate` on the shared photos with the real pipeline."""

import csv
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.config import settings

KEYS = {
    "pairs_genuine",
    "pairs_impostor",
    "failure_to_acquire",
    "tar_at_far_1e-2",
    "tar_at_far_1e-3",
    "eer",
    "threshold_at_far_1e-3",
    "rank1",
    "fnir_at_fpir_1e-2",
    "images_per_second",
}


@pytest.fixture
def env(model_pack: Path, monkeypatch) -> None:
    monkeypatch.setenv("LFR_MODEL_DIR", str(model_pack.parent))
    settings.cache_clear()
    yield
    settings.cache_clear()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout.strip().splitlines()[-1])


def test_eval_faces_on_the_whole_shared_set(env, tmp_path: Path):
    faces = settings().faces_dir
    groups = tmp_path / "groups.csv"
    with groups.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["identity", "group"])
        for i, identity in enumerate(sorted(p.name for p in faces.iterdir() if p.is_dir())):
            if not identity.startswith("_"):
                w.writerow([identity, "a" if i % 2 else "b"])
    plot = tmp_path / "det.png"
    out = _json(
        CliRunner().invoke(
            app,
            ["eval", "faces", str(faces), "--json", "--plot", str(plot), "--groups", str(groups)],
        )
    )
    assert KEYS <= set(out)
    assert out["pairs_genuine"] > 500 and out["pairs_impostor"] == 10_000
    assert out["failure_to_acquire"] == 0.0
    assert out["tar_at_far_1e-3"] >= 0.95
    assert out["eer"] <= 0.02
    assert out["rank1"] >= 0.95
    assert out["fnir_at_fpir_1e-2"] <= 0.1
    assert set(out["groups"]["groups"]) == {"a", "b"}
    assert "max_fmr_ratio" in out["groups"]
    assert plot.stat().st_size > 10_000


def test_eval_faces_with_pairs_and_a_face_that_cannot_be_found(env, tmp_path: Path):
    faces = settings().faces_dir.resolve()
    root = tmp_path / "set"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    (root / "A" / "1.jpg").symlink_to(faces / "Barack_Obama" / "1.jpg")
    (root / "A" / "2.jpg").symlink_to(faces / "Barack_Obama" / "2.jpg")
    (root / "B" / "1.jpg").symlink_to(faces / "Joe_Biden" / "1.jpg")
    (root / "B" / "2.jpg").symlink_to(
        settings().shared.resolve() / "scenes" / "negatives" / "compreface_017_0.jpg"
    )
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "same_person,file1,file2\n1,set/A/1.jpg,set/A/2.jpg\n0,set/A/1.jpg,set/B/1.jpg\n"
        "1,set/B/1.jpg,set/B/2.jpg\n"
    )
    out = _json(
        CliRunner().invoke(app, ["eval", "faces", str(root), "--json", "--pairs", str(pairs)])
    )
    assert out["pairs_genuine"] == 2 and out["pairs_impostor"] == 1
    assert out["failure_to_acquire"] == pytest.approx(0.25)
    assert out["failed_images"] == ["set/B/2.jpg"]
    assert out["tar_at_far_1e-2"] == 0.5  # the unacquired pair is a non-match


def test_calibrate_measures_fpir_and_tpir_on_padded_watchlists(env, tmp_path: Path):
    faces = settings().faces_dir.resolve()
    root = tmp_path / "set"
    for identity in ["Barack_Obama", "Joe_Biden", "John_Simm", "John_Salley", "Kaley_Cuoco"]:
        (root / identity).mkdir(parents=True)
        for photo in sorted((faces / identity).iterdir())[:4]:
            (root / identity / photo.name).symlink_to(photo)
    lfw = settings().shared.resolve() / "calibration" / "lfw_singletons"
    singles = tmp_path / "singles"
    singles.mkdir()
    for photo in sorted(lfw.iterdir())[:60]:
        (singles / photo.name).symlink_to(photo)
    result = CliRunner().invoke(
        app,
        [
            "eval", "calibrate", str(root), "--json", "--impostors", str(singles),
            "--target-fpir", "1e-2", "--watchlist-size", "10", "--watchlist-size", "40",
        ],
    )  # fmt: skip
    out = _json(result)
    assert "calibrate: searches against a watchlist of 40" in result.stderr
    assert out["watchlist_sizes"] == [10, 40] and out["singletons"] == 60
    assert out["nonmated_searches"] == {"10": 60 + 18, "40": 60 + 18}  # Biden has 2 photos
    assert out["impostor_pairs"] > 60 * 59 // 2
    assert 0 < out["threshold"] < 1
    at = out["at_threshold"]
    assert at["fpir_at_40"]["rate"] <= 1e-2
    assert at["tpir_at_40_1_photo"]["rate"] >= 0.5
    assert [row["threshold"] for row in out["sweep"]] == [
        0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8
    ]  # fmt: skip
    assert out["at_default_threshold"]["threshold"] == out["default_threshold"]


def test_eval_faces_missing_folder_is_a_clear_error(env, tmp_path: Path):
    result = CliRunner().invoke(app, ["eval", "faces", str(tmp_path / "nope"), "--json"])
    assert result.exit_code == 1
    assert "is not a folder" in " ".join(result.output.split())
