"""`RtspSource` against a real RTSP server on loopback: frames, loss, reconnection, time-outs."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import cv2
import pytest

from lfr.video.errors import StreamInterrupted
from lfr.video.loop import CameraLoop, FrameDecided, LoopOutput, StreamLost, StreamStarted
from lfr.video.rtsp import Backoff, RtspSource
from lfr.video.rtsp_server import RtspClipServer, free_port
from lfr.video.tracker import TrackingDecider
from tests.video.fakes import EmptyGallery, ScriptedRecogniser


async def test_frames_arrive_over_rtsp_with_stream_info(rtsp_server: RtspClipServer) -> None:
    async with RtspSource(rtsp_server.url("hamilton_short_clip.mp4"), max_fps=10) as source:
        frames = [await source.recv() for _ in range(5)]
    assert [f.index for f in frames] == [1, 2, 3, 4, 5]
    assert frames[0].image.shape == (360, 640, 3)
    assert source.info.codec == "h264"
    assert source.info.url.startswith("rtsp://127.0.0.1:")


async def test_the_lean_server_serves_the_clip_picture_for_picture(video_dir: Path) -> None:
    import av
    import numpy as np

    clip = video_dir / "hamilton_short_clip.mp4"
    with av.open(str(clip)) as container:
        expected = [
            f.to_ndarray() for _, f in zip(range(8), container.decode(video=0), strict=False)
        ]
    async with (
        RtspClipServer(video_dir, lean=True) as server,
        RtspSource(server.url(clip.name)) as source,
    ):
        frames = [await source.recv() for _ in range(8)]
    assert source.info.codec == "h264" and source.info.width == 640
    later = [f.pts_s for f in frames[1:]]  # FFmpeg gives the very first no timestamp
    assert later == sorted(later) and later[-1] - later[0] == pytest.approx(6 / 29.97, abs=0.01)
    for frame, want in zip(frames, expected, strict=True):
        # the same bitstream decodes to the same picture as the file's
        got = cv2.cvtColor(frame.image, cv2.COLOR_RGB2YUV_I420)
        assert np.abs(got.astype(np.int16) - want.astype(np.int16)).mean() < 2.0


async def test_the_lean_server_answers_404_for_a_missing_clip(video_dir: Path) -> None:
    async with RtspClipServer(video_dir, lean=True) as server:
        source = RtspSource(server.url("nope.mp4"), open_timeout_s=2, read_timeout_s=2)
        with pytest.raises(StreamInterrupted):
            await source.recv()
        await source.aclose()


def test_credentials_never_appear_in_the_source_info() -> None:
    source = RtspSource("rtsp://admin:hunter2@10.0.0.9:554/stream1")
    assert source.info.url == "rtsp://10.0.0.9:554/stream1"
    with pytest.raises(ValueError, match="not an RTSP URL"):
        RtspSource("http://user:pw@host/x")


async def test_camera_reconnects_after_the_server_dies_and_the_gap_is_reported(
    rtsp_server: RtspClipServer,
) -> None:
    source = RtspSource(
        rtsp_server.url("hamilton_short_clip.mp4"),
        read_timeout_s=2,
        open_timeout_s=2,
        backoff=Backoff(first_s=0.2, max_s=1.0),
    )
    loop = CameraLoop(
        source,
        ScriptedRecogniser(lambda f: []),
        TrackingDecider("cam"),
        gallery=EmptyGallery(),
        threshold=0.5,
        fps=5,
    )
    seen: list[LoopOutput] = []
    analysed_after_restart = anyio.Event()
    analysed = anyio.Event()
    lost = anyio.Event()

    async def emit(item: LoopOutput) -> None:
        seen.append(item)
        if loop.stats.frames_analysed >= 3:
            analysed.set()
        if isinstance(item, StreamLost):
            lost.set()
        started = sum(isinstance(s, StreamStarted) for s in seen)
        if started == 2 and isinstance(item, FrameDecided):
            analysed_after_restart.set()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            await tg.start(loop.run, emit)
            await analysed.wait()
            await rtsp_server.kill()
            await lost.wait()
            await anyio.sleep(1.0)  # a few failed reconnects while the camera is down
            await rtsp_server.start()
            await analysed_after_restart.wait()
            tg.cancel_scope.cancel()
    await source.aclose()
    kinds = [type(s).__name__ for s in seen if not isinstance(s, FrameDecided)]
    assert kinds[0] == "StreamStarted"
    assert kinds[-1] == "StreamStarted"
    assert "StreamLost" in kinds
    losses = [s for s in seen if isinstance(s, StreamLost)]
    assert all(s.retry_in_s is not None and s.retry_in_s <= 1.0 for s in losses)
    assert source.connects == 2


async def test_a_url_that_never_answers_times_out_without_blocking_the_loop() -> None:
    async def silent(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep(30)  # accepts, never answers (a hung camera)

    port = free_port()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.05)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, silent)
        tg.start_soon(ticker)
        source = RtspSource(f"rtsp://127.0.0.1:{port}/cam", open_timeout_s=1, read_timeout_s=1)
        start = time.monotonic()
        with pytest.raises(StreamInterrupted) as info:
            await source.recv()
        elapsed = time.monotonic() - start
        tg.cancel_scope.cancel()
    assert elapsed < 5
    assert ticks >= elapsed / 0.05 * 0.5  # the event loop kept running meanwhile
    assert info.value.retry_in_s is not None
    assert 0.45 <= info.value.retry_in_s <= 0.5  # the first backoff, less up to 10 % jitter
    assert "rtsp://127.0.0.1" in str(info.value)


async def test_refused_and_unknown_paths_are_interruptions_with_reasons(
    rtsp_server: RtspClipServer,
) -> None:
    closed = RtspSource(f"rtsp://127.0.0.1:{free_port()}/x", open_timeout_s=2)
    with pytest.raises(StreamInterrupted, match="refused"):
        await closed.recv()
    missing = RtspSource(
        rtsp_server.url("no_such_clip.mp4"), open_timeout_s=2, backoff=Backoff(jitter=0)
    )
    with pytest.raises(StreamInterrupted) as info:
        await missing.recv()
    assert info.value.reason
    # Backoff grows between attempts.
    with pytest.raises(StreamInterrupted) as again:
        await missing.recv()
    assert again.value.retry_in_s == 2 * info.value.retry_in_s


async def test_a_camera_that_hangs_mid_stream_times_out_and_recovers(
    rtsp_server: RtspClipServer,
) -> None:
    import os
    import signal

    source = RtspSource(
        rtsp_server.url("hamilton_short_clip.mp4"),
        read_timeout_s=1.5,
        open_timeout_s=3,
        backoff=Backoff(first_s=0.2),
        max_fps=5,
    )
    with anyio.fail_after(30):
        await source.recv()
        assert rtsp_server.pid is not None
        os.kill(rtsp_server.pid, signal.SIGSTOP)  # the camera freezes: socket open, no data
        try:
            start = time.monotonic()
            with pytest.raises(StreamInterrupted) as info:
                for _ in range(200):  # frames already buffered come first
                    await source.recv()
            assert time.monotonic() - start < 6
            assert "no data" in info.value.reason or "timed out" in info.value.reason.lower()
        finally:
            os.kill(rtsp_server.pid, signal.SIGCONT)
        frame = await source.recv()  # reconnects once the camera answers again
    assert frame.image.shape == (360, 640, 3)
    assert source.connects == 2
    await source.aclose()
