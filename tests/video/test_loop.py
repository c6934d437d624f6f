"""`CameraLoop`: newest frame wins under overload, latency stays bounded, matches come out;
a lost stream is retried on the one source the factory opened; disarmed frames are counted,
never analysed."""

from __future__ import annotations

from pathlib import Path

import anyio

from lfr.testing import InMemoryGallery, ScriptedFrameSource
from lfr.testing import ScriptedRecogniser as LabelRecogniser
from lfr.video.backoff import Backoff
from lfr.video.file import FileSource
from lfr.video.loop import (
    CameraLoop,
    FrameDecided,
    LoopOutput,
    StreamLost,
    StreamRecovered,
    StreamStarted,
)
from lfr.video.recognition import PerFrameDecider
from lfr.video.tracker import TrackingDecider
from lfr.vision.types import Frame
from tests.video.fakes import EmptyGallery, ScriptedRecogniser, face


async def run_loop(loop: CameraLoop) -> list[LoopOutput]:
    out: list[LoopOutput] = []

    async def emit(item: LoopOutput) -> None:
        out.append(item)

    with anyio.fail_after(30):
        await loop.run(emit)
    return out


async def test_overload_drops_old_frames_and_keeps_latency_bounded(hamilton: Path) -> None:
    source = FileSource(hamilton, realtime=True)
    slow = ScriptedRecogniser(lambda f: [], delay_s=0.3)  # 3 fps of analysis for 10 fps asked
    loop = CameraLoop(
        source, slow, TrackingDecider(), gallery=EmptyGallery(), threshold=0.5, fps=10
    )
    with anyio.move_on_after(3):
        await run_loop(loop)
    stats = loop.stats
    assert stats.frames_sampled >= 20
    assert stats.drops >= stats.frames_sampled * 0.4
    assert stats.frames_analysed + stats.drops <= stats.frames_sampled
    # One analysis plus at most one frame's wait (and slack for a busy CI box); a queue
    # instead of the slot would reach ~2 s by the end of these 3 s.
    p95 = stats.percentile(95)
    assert p95 is not None and p95 < 700
    await source.aclose()


async def test_offline_lossless_mode_analyses_every_sampled_frame(hamilton: Path) -> None:
    source = FileSource(hamilton)
    rec = ScriptedRecogniser(lambda f: [], delay_s=0.002)
    loop = CameraLoop(
        source, rec, TrackingDecider(), gallery=EmptyGallery(), threshold=0.5, lossless=True
    )
    out = await run_loop(loop)
    assert loop.stats.drops == 0
    assert loop.stats.frames_analysed == loop.stats.frames_sampled == rec.calls
    assert 85 <= rec.calls <= 95  # 9.2 s at 10 fps: the source converted only those
    assert isinstance(out[0], StreamStarted) and out[0].info.codec == "h264"
    assert isinstance(out[-1], StreamLost) and out[-1].retry_in_s is None


async def test_one_match_per_person_and_discard_counts(hamilton: Path) -> None:
    def script(frame: Frame):
        x = 100 + 3 * frame.index
        return [
            face((x, 50, x + 60, 110), person=1, similarity=0.7, entry="wanted"),
            face((500 - x, 200, 560 - x, 260), person=2, similarity=0.1, entry="nobody"),
        ]

    loop = CameraLoop(
        FileSource(hamilton),
        ScriptedRecogniser(script),
        TrackingDecider("c1"),
        gallery=EmptyGallery(),
        threshold=0.5,
        lossless=True,
    )
    out = await run_loop(loop)
    decided = [o for o in out if isinstance(o, FrameDecided)]
    matches = [m for d in decided for m in d.decisions.matches]
    assert [m.candidate.entry_id for m in matches] == ["wanted"]
    assert loop.stats.matches == 1
    tally = [d.decisions.discarded for d in decided]
    assert sum(t.tracks_closed for t in tally) == 1  # the passer-by, closed at the end
    assert sum(t.frames for t in tally) == loop.stats.frames_analysed - 1
    assert loop.stats.percentile(50, matches=True) is not None


async def test_disarmed_camera_reads_but_does_not_analyse(hamilton: Path) -> None:
    rec = ScriptedRecogniser(lambda f: [])
    loop = CameraLoop(
        FileSource(hamilton), rec, TrackingDecider(), gallery=None, threshold=0.5, lossless=True
    )
    await run_loop(loop)
    assert rec.calls == 0 and loop.stats.frames_received > 0


async def test_unreadable_file_is_a_stream_lost_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    loop = CameraLoop(
        FileSource(bad),
        ScriptedRecogniser(lambda f: []),
        TrackingDecider(),
        gallery=EmptyGallery(),
        threshold=0.5,
    )
    out = await run_loop(loop)
    assert len(out) == 1 and isinstance(out[0], StreamLost)
    assert "bad.mp4" in out[0].reason and out[0].retry_in_s is None


async def test_rearm_swaps_gallery_and_decider_between_frames(hamilton: Path) -> None:
    def script(frame: Frame):
        x = 100 + 3 * frame.index
        return [face((x, 50, x + 60, 110), person=1, similarity=0.3, entry="someone")]

    rec = ScriptedRecogniser(script)
    loop = CameraLoop(
        FileSource(hamilton, realtime=True, loop=True),
        rec,
        TrackingDecider("a"),
        gallery=None,
        threshold=0.5,
    )
    decided: list[FrameDecided] = []

    async def emit(item: LoopOutput) -> None:
        if isinstance(item, FrameDecided):
            decided.append(item)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            await tg.start(loop.run, emit)
            await anyio.sleep(0.5)
            assert rec.calls == 0  # disarmed: frames read, never analysed
            rest = await loop.rearm(EmptyGallery(), 0.5, TrackingDecider("b"))
            assert rest.matches == [] and rest.discarded.tracks_closed == 0
            await anyio.sleep(0.6)
            assert rec.calls >= 3
            rest = await loop.rearm(None, 0.5)  # disarm: the open track ends as a count
            assert rest.discarded.tracks_closed == 1
            calls, seen = rec.calls, len(decided)
            await anyio.sleep(0.4)
            assert rec.calls == calls and len(decided) == seen  # nothing after disarm
            tg.cancel_scope.cancel()


class CountingSource(ScriptedFrameSource):
    closed = 0

    async def aclose(self) -> None:
        CountingSource.closed += 1
        await super().aclose()


async def test_source_factory_opens_once_and_a_lost_stream_is_retried_on_it() -> None:
    source = CountingSource("scripted://a")
    source.push("alice")
    source.interrupt("connection reset")  # no retry given: the loop's backoff
    source.interrupt("connection refused")  # the first retry fails too
    source.push("alice")
    source.end()
    opened: list[CountingSource] = []

    def factory() -> CountingSource:
        opened.append(source)
        return source

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    CountingSource.closed = 0
    rec = LabelRecogniser()
    loop = CameraLoop(
        factory,
        rec,
        PerFrameDecider(),
        gallery=InMemoryGallery("v1", {"alice": "Alice"}),
        threshold=0.5,
        fps=None,
        lossless=True,  # (each frame analysed: the count below is exact)
        backoff=Backoff(1.5, max_s=10.0, jitter=0),
        sleep=sleep,
    )
    out = await run_loop(loop)
    health = [o for o in out if not isinstance(o, FrameDecided)]
    assert [type(o).__name__ for o in health] == [
        "StreamStarted",
        "StreamLost",  # once for the outage, not once per failed attempt
        "StreamRecovered",
        "StreamStarted",
        "StreamLost",
    ]
    assert isinstance(health[1], StreamLost) and health[1].retry_in_s == 1.5
    assert isinstance(health[2], StreamRecovered)
    assert health[2].retries == 1 and health[2].reason == "connection reset"
    assert isinstance(out[-1], StreamLost) and out[-1].retry_in_s is None  # ended for good
    assert waits == [1.5, 3.0]  # one backoff across the outage
    assert len(opened) == 1 and CountingSource.closed == 1  # one source for the loop's life
    assert loop.stats.stream_losses == 1 and loop.stats.reconnect_attempts == 1
    assert rec.calls == 2 and sum(isinstance(o, FrameDecided) for o in out) == 2


async def test_disarmed_frames_are_counted_and_decisions_carry_their_setting() -> None:
    source = ScriptedFrameSource()
    rec = LabelRecogniser()
    loop = CameraLoop(source, rec, PerFrameDecider(), gallery=None, threshold=0.5, fps=None)
    decided: list[FrameDecided] = []

    async def emit(item: LoopOutput) -> None:
        if isinstance(item, FrameDecided):
            decided.append(item)

    async def show(*who: str) -> None:
        source.push(*who)
        await source.wait_consumed()
        await loop.wait_idle()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(loop.run, emit)
            await show("alice")
            await show("bob")
            assert loop.stats.frames_ignored == 2 and rec.calls == 0
            await loop.rearm(InMemoryGallery("v1", {"alice": "Alice"}), 0.5, tag="deployment-1")
            await show("alice")
            rest = await loop.rearm(None)  # disarm: no tag, nothing analysed after
            await show("alice")
            tg.cancel_scope.cancel()
    assert rest.matches == []
    assert [(d.tag, len(d.decisions.matches)) for d in decided] == [("deployment-1", 1)]
    assert decided[0].faces_seen == 1
    assert loop.stats.frames_ignored == 3 and rec.calls == loop.stats.recogniser_calls == 1
    assert loop.stats.frames_received == 4
