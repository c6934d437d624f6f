"""Reconnection backoff: capped, jittered, kept across an outage and across a camera that
drops right after each reconnection, reset once video flows again; an outage comes out of
the loop as one `StreamLost` and one `StreamRecovered`, however many retries it took."""

from __future__ import annotations

import itertools

import anyio
import pytest

from lfr.testing import ScriptedFrameSource
from lfr.testing import ScriptedRecogniser as LabelRecogniser
from lfr.video.backoff import Backoff
from lfr.video.errors import StreamInterrupted
from lfr.video.loop import (
    CameraLoop,
    FrameDecided,
    LoopOutput,
    StreamLost,
    StreamRecovered,
)
from lfr.video.recognition import PerFrameDecider
from lfr.video.rtsp import RtspSource
from lfr.video.rtsp_server import free_port
from lfr.vision.types import Frame

DAY_S = 24 * 3600.0


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, max_s=30.0, jitter=0)
    delays = [backoff.step() for _ in range(10)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    assert backoff.steps == 10
    backoff.reset()
    assert backoff.step() == 0.5 and backoff.steps == 1


def test_jitter_only_shortens_and_never_exceeds_the_cap() -> None:
    draws = itertools.cycle([0.0, 0.5, 0.999])
    backoff = Backoff(1.0, max_s=4.0, jitter=0.2, rand=lambda: next(draws))
    delays = [backoff.step() for _ in range(6)]
    assert delays == pytest.approx([1.0, 1.8, 4 * (1 - 0.2 * 0.999), 4.0, 3.6, 4 * 0.8002])
    assert all(0.8 * min(4.0, 2**i) <= d <= min(4.0, 2**i) for i, d in enumerate(delays))
    with pytest.raises(ValueError):
        Backoff(0.5, jitter=1.0)
    with pytest.raises(ValueError):
        Backoff(0.0)


class FakeTime:
    """A clock for the loop alone: `sleep` returns at once and moves time on."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    def monotonic(self) -> float:
        return self.now


class Camera(ScriptedFrameSource):
    """Refuses every connection while `time.now` is inside one of `outages` (start, end)."""

    def __init__(self, time: FakeTime, outages: list[tuple[float, float]]) -> None:
        super().__init__("scripted://cam")
        self.time = time
        self.outages = outages
        self.refused = 0

    async def recv(self) -> Frame:
        if any(a <= self.time.now < b for a, b in self.outages):
            self.refused += 1
            await anyio.lowlevel.checkpoint()
            raise StreamInterrupted(self.info.url, "connection refused", None)
        return await super().recv()


def loop_for(source: object, time: FakeTime, **kw: object) -> CameraLoop:
    return CameraLoop(
        lambda: source,  # type: ignore[arg-type,return-value]
        LabelRecogniser(),
        PerFrameDecider(),
        gallery=None,
        threshold=0.5,
        fps=None,
        sleep=time.sleep,
        monotonic=time.monotonic,
        **kw,  # type: ignore[arg-type]
    )


async def test_a_day_unreachable_is_one_loss_and_one_recovery() -> None:
    time = FakeTime()
    camera = Camera(time, [(0.0, DAY_S)])
    camera.push()  # the first frame once the camera answers
    camera.end()
    loop = loop_for(camera, time, backoff=Backoff(0.5, max_s=30.0, jitter=0.1))
    out: list[LoopOutput] = []

    async def emit(item: LoopOutput) -> None:
        out.append(item)

    with anyio.fail_after(30):
        await loop.run(emit)
    health = [o for o in out if not isinstance(o, FrameDecided)]
    assert [type(o).__name__ for o in health] == [
        "StreamLost",
        "StreamRecovered",
        "StreamStarted",
        "StreamLost",  # the script's end: not retried
    ]
    lost, back = health[0], health[1]
    assert isinstance(lost, StreamLost) and 0.45 <= (lost.retry_in_s or 0) <= 0.5
    assert isinstance(back, StreamRecovered)
    assert back.retries == camera.refused - 1 == loop.stats.reconnect_attempts
    assert DAY_S <= back.down_s <= DAY_S + 30.0
    assert 2_800 <= camera.refused <= 3_300  # every ~30 s, not every 0.5 s (172,800)
    # the waits grew to the cap and stayed there
    assert time.waits[:6] == pytest.approx([0.5, 1, 2, 4, 8, 16], rel=0.1)
    assert all(27.0 <= w <= 30.0 for w in time.waits[6:])
    assert loop.stats.stream_losses == 1


async def test_a_camera_dropping_after_each_reconnection_keeps_backing_off() -> None:
    """A flapping camera (one frame, then gone again) is not retried at once each time: the
    backoff is reset only after `stable_s` of video."""
    time = FakeTime()
    camera = ScriptedFrameSource("scripted://flap")
    for _ in range(6):
        camera.push()
        camera.interrupt("reset by peer")
    camera.end()
    loop = loop_for(camera, time, backoff=Backoff(1.0, max_s=8.0, jitter=0), stable_s=60.0)
    out: list[LoopOutput] = []

    async def emit(item: LoopOutput) -> None:
        out.append(item)

    with anyio.fail_after(10):
        await loop.run(emit)
    assert time.waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # not 1, 1, 1, ...
    lost = [o for o in out if isinstance(o, StreamLost) and o.retry_in_s is not None]
    recovered = [o for o in out if isinstance(o, StreamRecovered)]
    assert len(lost) == 6 and len(recovered) == 5  # each flap: one loss, one recovery
    assert all(r.retries == 0 for r in recovered)


async def test_the_backoff_resets_once_video_has_flowed_for_stable_s() -> None:
    time = FakeTime()

    class Steady(ScriptedFrameSource):
        async def recv(self) -> Frame:
            frame = await super().recv()
            time.now += 1.0  # a frame a second
            return frame

    camera = Steady("scripted://steady")
    camera.interrupt("refused")
    camera.interrupt("refused")
    for _ in range(5):
        camera.push()
    camera.interrupt("reset")
    camera.push()
    camera.end()
    loop = loop_for(camera, time, backoff=Backoff(1.0, max_s=8.0, jitter=0), stable_s=3.0)
    out: list[LoopOutput] = []

    async def emit(item: LoopOutput) -> None:
        out.append(item)

    with anyio.fail_after(10):
        await loop.run(emit)
    assert time.waits == [1.0, 2.0, 1.0]  # after 3 s of video the next outage starts afresh
    recovered = [o for o in out if isinstance(o, StreamRecovered)]
    assert [r.retries for r in recovered] == [1, 0]


async def test_a_refused_rtsp_camera_is_one_loss_on_one_source() -> None:
    """The site's path with the real `RtspSource`: one source from the factory, one
    `StreamLost`, however many refused connections follow."""
    opened: list[RtspSource] = []

    def factory() -> RtspSource:
        source = RtspSource(
            f"rtsp://127.0.0.1:{free_port()}/cam",
            open_timeout_s=1,
            backoff=Backoff(0.01, max_s=0.01),  # its own hint: less than the loop's backoff
        )
        opened.append(source)
        return source

    loop = CameraLoop(
        factory,
        LabelRecogniser(),
        PerFrameDecider(),
        gallery=None,
        threshold=0.5,
        backoff=Backoff(0.05, max_s=0.2, jitter=0),
    )
    out: list[LoopOutput] = []

    async def emit(item: LoopOutput) -> None:
        out.append(item)

    with anyio.move_on_after(1.5):
        await loop.run(emit)
    assert len(opened) == 1 and opened[0].connects == 0
    assert [type(o).__name__ for o in out] == ["StreamLost"]
    assert isinstance(out[0], StreamLost) and "refused" in out[0].reason
    assert loop.stats.reconnect_attempts >= 3  # retried every 0.05-0.2 s, on the same source
