"""`lfr watch` end to end with the real model pack: the Hamilton clip against its refs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from lfr.video.rtsp_server import RtspClipServer

pytestmark = pytest.mark.models

LIN = "Lin Manuel Miranda"


async def watch(*args: str) -> tuple[int, list[dict], str]:
    cmd = [sys.executable, "-c", "from lfr.cli import main; main()", "watch", *args, "--json"]
    with anyio.fail_after(90):
        done = await anyio.run_process(cmd, check=False)
    lines = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    return done.returncode, lines, done.stderr.decode()


def split(lines: list[dict]) -> tuple[list[dict], dict]:
    assert lines and lines[-1]["type"] == "summary", lines
    assert all(line["type"] == "match" for line in lines[:-1])
    return lines[:-1], lines[-1]


async def test_lin_manuel_miranda_is_matched_in_the_file_once(hamilton: Path) -> None:
    refs = hamilton.parent / "refs"
    rc, lines, err = await watch(str(hamilton), "--watchlist", str(refs), "--no-realtime")
    assert rc == 0, err
    matches, summary = split(lines)
    assert [m["identity"] for m in matches] == [LIN]  # one track, one decision
    assert matches[0]["similarity"] >= 0.5 and matches[0]["track_id"]
    assert summary["frames_decoded"] == 275
    assert 85 <= summary["frames_analysed"] <= 95
    assert summary["matches"] == 1 and summary["faces_seen"] > summary["tracks"] > 0
    assert summary["latency_ms_p95"] is not None


async def test_nobody_outside_the_watchlist_is_matched(hamilton: Path, video_dir: Path) -> None:
    # The shared gallery of 33 people has Obama and Lacamoire but not Lin-Manuel Miranda.
    faces = video_dir.parent / "faces"
    rc, lines, err = await watch(str(hamilton), "--watchlist", str(faces), "--no-realtime")
    assert rc == 0, err
    matches, summary = split(lines)
    assert {m["identity"] for m in matches} <= {"Barack Obama", "Alex Lacamoire"}
    assert summary["faces_seen"] > 100


async def test_lin_manuel_miranda_is_matched_over_rtsp(
    rtsp_server: RtspClipServer, hamilton: Path
) -> None:
    url = rtsp_server.url(hamilton.name)
    refs = str(hamilton.parent / "refs")
    rc, lines, err = await watch(url, "--watchlist", refs, "--seconds", "10")
    assert rc == 0, err
    matches, summary = split(lines)
    assert LIN in {m["identity"] for m in matches}
    assert {m["identity"] for m in matches} <= {LIN, "Barack Obama", "Alex Lacamoire"}
    assert summary["source"] == url
    assert summary["frames_analysed"] >= 60
    assert summary["latency_ms_p95"] < 250


def truncated_copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[:100_000])
    return dst


async def test_unreadable_sources_fail_with_a_clear_error(tmp_path: Path, hamilton: Path) -> None:
    refs = str(hamilton.parent / "refs")
    bad = truncated_copy(hamilton, tmp_path / "broken.mp4")
    rc, lines, err = await watch(str(bad), "--watchlist", refs)
    assert rc == 1, err
    assert lines, err
    assert "broken.mp4" in lines[-1]["error"] and "corrupt" in err
    rc, _, err = await watch(str(tmp_path / "missing.mp4"), "--watchlist", refs)
    assert rc == 1 and "not a file or an rtsp:// URL" in err
