"""`FileSource` on the shared clip and on damaged files: frames, or a clear error."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import pytest

from lfr.video.errors import EndOfStream, SourceOpenError
from lfr.video.file import FileSource
from lfr.video.synthetic import write_clip
from lfr.vision.types import FrameSource


async def drain(source: FileSource, limit: int = 10_000) -> list[float]:
    pts: list[float] = []
    with pytest.raises(EndOfStream):
        for _ in range(limit):
            frame = await source.recv()
            assert frame.image.shape == (360, 640, 3)
            pts.append(frame.pts_s)
    return pts


async def test_decodes_every_frame_of_the_clip(hamilton: Path) -> None:
    source = FileSource(hamilton)
    assert isinstance(source, FrameSource)
    pts = await drain(source)
    assert len(pts) == 275 == source.frames_decoded
    assert pts == sorted(pts)
    assert source.info.codec == "h264" and source.info.width == 640
    assert source.info.fps == pytest.approx(29.97, abs=0.01)
    await source.aclose()


async def test_max_fps_converts_only_the_sampled_frames(hamilton: Path) -> None:
    async with FileSource(hamilton, max_fps=10) as source:
        pts = await drain(source)
    assert source.frames_decoded == 275
    assert 85 <= len(pts) <= 95  # 9.2 s at 10 fps


async def test_frames_are_the_picture_ffmpeg_converts(hamilton: Path) -> None:
    import av
    import numpy as np

    with av.open(str(hamilton)) as container:
        expected = [
            f.to_ndarray(format="rgb24")
            for _, f in zip(range(5), container.decode(video=0), strict=False)
        ]
    async with FileSource(hamilton) as source:
        for want in expected:
            got = (await source.recv()).image
            assert got.shape == want.shape and got.dtype == np.uint8
            diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
            assert diff.mean() < 2.0 and np.percentile(diff, 99.9) <= 8  # rounding only


async def test_loop_restarts_with_increasing_time(hamilton: Path) -> None:
    async with FileSource(hamilton, loop=True, max_fps=5) as source:
        pts = [(await source.recv()).pts_s for _ in range(100)]
    assert pts == sorted(pts) and pts[-1] > 15.0  # went round at least once
    assert source.frames_decoded > 275


async def test_realtime_paces_frames_at_their_presentation_time(hamilton: Path) -> None:
    async with FileSource(hamilton, realtime=True, max_fps=10) as source:
        first = await source.recv()  # opening the file is not part of the pacing
        start = time.monotonic()
        for _ in range(10):
            last = await source.recv()
        elapsed = time.monotonic() - start
    assert elapsed == pytest.approx(last.pts_s - first.pts_s, abs=0.1)
    assert elapsed > 0.9


def _damaged(tmp_path: Path, hamilton: Path) -> dict[str, Path]:
    data = hamilton.read_bytes()
    files = {
        "missing": tmp_path / "nope.mp4",
        "random": tmp_path / "random.mp4",
        "truncated": tmp_path / "truncated.mp4",
        "wrong codec": tmp_path / "wrong_codec.mp4",
        "audio only": tmp_path / "audio.wav",
    }
    files["random"].write_bytes(bytes(range(256)) * 200)
    files["truncated"].write_bytes(data[: len(data) // 2])  # index (moov) is at the end: lost
    files["wrong codec"].write_bytes(data.replace(b"avc1", b"zzzz"))
    with wave.open(str(files["audio only"]), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    return files


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("missing", "no such file"),
        ("random", "Invalid data"),
        ("truncated", "Invalid data"),
        ("wrong codec", "codec"),
        ("audio only", "no video stream"),
    ],
)
async def test_unreadable_files_raise_a_clear_error(
    tmp_path: Path, hamilton: Path, kind: str, says: str
) -> None:
    path = _damaged(tmp_path, hamilton)[kind]
    source = FileSource(path)
    with pytest.raises(SourceOpenError) as info:
        await source.recv()
    assert says in str(info.value)
    assert str(path) in str(info.value)
    await source.aclose()


async def test_a_file_cut_mid_stream_gives_its_frames_then_ends(tmp_path: Path) -> None:
    faces = sorted((Path(__file__).parent).glob("*.nothing"))  # no faces needed here
    clip = write_clip(tmp_path / "clip.mp4", faces, width=320, height=240, seconds=2, gop=10)
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # faststart: index first, media cut short
    async with FileSource(cut) as source:
        n = 0
        with pytest.raises((EndOfStream, SourceOpenError)):
            for _ in range(100):
                await source.recv()
                n += 1
    assert 0 < n < 50
