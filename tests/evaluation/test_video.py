"""`lfr eval video`: real clips through the camera path, judged against their truth files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from lfr.cli import app
from lfr.config import settings
from lfr.evaluation.video import (
    TruthInterval,
    build_gallery,
    clips_with_truth,
    evaluate_clip,
    read_truth,
)
from lfr.vision.pipeline import FacePipeline, PipelineConfig
from lfr.vision.threshold import DEFAULT_THRESHOLD
from lfr.watchlist.armed import ArmedWatchlist


@pytest.fixture(scope="module")
def pipeline(model_pack: Path) -> FacePipeline:
    return FacePipeline.from_pack(PipelineConfig(model_dir=model_pack.parent))


@pytest.fixture(scope="module")
def video_dir() -> Path:
    path = settings().video_dir
    assert (path / "refs").is_dir(), f"shared clips missing in {path} (set LFR_SHARED)"
    return path


@pytest.fixture(scope="module")
def watchlist(pipeline: FacePipeline, video_dir: Path) -> tuple[ArmedWatchlist, list[str]]:
    """The clips' reference photos plus 40 other people (LFW singletons) as distractors."""
    others = settings().shared / "calibration" / "lfw_singletons"
    return build_gallery(pipeline, video_dir / "refs", others, distractor_limit=40)


def test_truth_files_are_read_and_bad_rows_named(tmp_path: Path) -> None:
    good = tmp_path / "a.truth.csv"
    good.write_text("start_s,end_s,person\n0.0,2.5,Joe_Biden\n1,3,unknown\n")
    assert read_truth(good) == [
        TruthInterval(0.0, 2.5, "Joe_Biden"),
        TruthInterval(1.0, 3.0, "unknown"),
    ]
    header = tmp_path / "b.truth.csv"
    header.write_text("from,to,who\n0,1,x\n")
    with pytest.raises(ValueError, match="start_s,end_s,person"):
        read_truth(header)
    row = tmp_path / "c.truth.csv"
    row.write_text("start_s,end_s,person\n0,1,x\nsoon,2,y\n")
    with pytest.raises(ValueError, match=r"c\.truth\.csv:3"):
        read_truth(row)


def test_clips_are_paired_with_their_truth_files(tmp_path: Path) -> None:
    for name in ("a.mp4", "a.truth.csv", "b.gif", "b.truth.csv", "c.truth.csv", "d.mp4"):
        (tmp_path / name).write_text("")
    pairs = clips_with_truth(tmp_path)
    assert [(c.name, t.name) for c, t in pairs] == [
        ("a.mp4", "a.truth.csv"),
        ("b.gif", "b.truth.csv"),
    ]


async def test_a_watchlisted_person_is_found_and_a_bystander_never_alerts(
    pipeline: FacePipeline, video_dir: Path, watchlist: tuple[ArmedWatchlist, list[str]]
) -> None:
    gallery, listed = watchlist
    clip = video_dir / "debate_trump_biden.mp4"
    truth = read_truth(video_dir / "debate_trump_biden.truth.csv")
    result = await evaluate_clip(
        clip, truth, pipeline, gallery, listed, threshold=DEFAULT_THRESHOLD
    )
    row = result.as_dict()
    persons = {p["person"]: p for p in row["persons"]}
    assert persons["Joe_Biden"]["found"] and persons["Joe_Biden"]["on_watchlist"]
    assert persons["Joe_Biden"]["alert_similarity"] >= DEFAULT_THRESHOLD
    assert persons["Joe_Biden"]["time_to_first_alert_s"] < 5.0
    assert not persons["Donald_Trump"]["on_watchlist"] and not persons["Donald_Trump"]["found"]
    assert row["wrong_alerts"] == 0 and row["missed"] == []
    assert row["frames_decoded"] > 400 and 0 < row["frames_analysed"] < row["frames_decoded"]
    assert row["faces_seen"] >= row["faces_embedded"] > 0 and row["tracks"] >= 2


async def test_an_alert_for_someone_the_truth_does_not_name_is_false(
    pipeline: FacePipeline, video_dir: Path, watchlist: tuple[ArmedWatchlist, list[str]]
) -> None:
    """Obama is on the watchlist; a truth file that names nobody makes his alert a false one."""
    gallery, listed = watchlist
    clip = video_dir / "obama_nasa_speech.mp4"
    result = await evaluate_clip(
        clip,
        [TruthInterval(0.0, 9.8, "unknown")],
        pipeline,
        gallery,
        listed,
        threshold=DEFAULT_THRESHOLD,
    )
    assert result.persons == []
    assert [w["entry_id"] for w in result.wrong] == ["Barack_Obama"]
    assert result.wrong[0]["in_clip"] is False


def test_cli_judges_one_clip_and_reports_json(model_pack: Path, video_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["eval", "video", str(video_dir / "obama_whcd.mp4"), "--no-distractors", "--json"],
        env={"LFR_MODEL_DIR": str(model_pack.parent)},
    )
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout.strip().splitlines()[-1])
    assert out["summary"]["threshold"] == DEFAULT_THRESHOLD
    assert out["summary"]["watchlist_size"] == len(list((video_dir / "refs").iterdir()))
    (clip,) = out["clips"]
    assert clip["clip"] == "obama_whcd.mp4" and clip["watchlisted"] == 1
    assert clip["wrong_alerts"] == 0


def test_cli_says_what_to_give_when_the_input_is_wrong(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "video", str(tmp_path / "nope.mp4")])
    assert missing.exit_code == 1 and "is not a file" in _said(missing)
    both = runner.invoke(app, ["eval", "video", str(tmp_path / "x.mp4"), "--all"])
    assert both.exit_code == 1 and "--all" in _said(both)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not a video")
    bad = tmp_path / "clip.truth.csv"
    bad.write_text("who,when\n")
    truth = runner.invoke(app, ["eval", "video", str(clip), "--watchlist", str(tmp_path)])
    assert truth.exit_code == 1 and "start_s,end_s,person" in _said(truth)


def test_cli_names_a_corrupt_clip(model_pack: Path, video_dir: Path, tmp_path: Path) -> None:
    clip = tmp_path / "broken.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    result = CliRunner().invoke(
        app,
        ["eval", "video", str(clip), "--watchlist", str(video_dir / "refs"), "--no-distractors"],
        env={"LFR_MODEL_DIR": str(model_pack.parent)},
    )
    assert result.exit_code == 1
    assert "broken.mp4" in _said(result) and "error:" in _said(result)


def _said(result) -> str:  # type: ignore[no-untyped-def]
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())
