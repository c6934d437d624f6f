"""Forgetting that holds: a non-matching face's crop and embedding buffers, as the tracking
decider keeps them, are zero within `max_gap_s` of stream time after the face leaves, once the
stream is lost, and once the camera actor stops (issue 14).

The recogniser is scripted; the loop, the decider and the actor are the real ones. The test
holds references to the very arrays the decider keeps, so "wiped" means overwritten, not
merely dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import numpy as np
import pytest

from lfr.testing import ScriptedFrameSource
from lfr.testing import ScriptedRecogniser as LabelRecogniser
from lfr.video.loop import CameraLoop, FrameDecided, LoopOutput, StreamLost
from lfr.video.tracker import TrackingDecider
from lfr.vision.types import Frame
from tests.actors.harness import SITE, harness
from tests.video.fakes import EmptyGallery, ScriptedRecogniser, face

FPS = 10.0  # the scripted source's frame rate (stream clock)


def carol(frame: Frame):
    if "carol" not in frame.truth:
        return []
    return [face((100, 50, 160, 110), person=3, similarity=0.1, entry="nobody")]


def held(decider: TrackingDecider) -> list[np.ndarray]:
    """The biometric buffers the decider holds right now (crops, embeddings, sums)."""
    out: list[np.ndarray] = []
    for track in decider._tracks:
        out += [v for v in (track.embedding, track.total) if v is not None]
        out += [e.crop for e in track.evidence.values() if e.crop is not None]
    return out


def all_zero(buffers: list[np.ndarray]) -> bool:
    return all(not b.any() for b in buffers)


class Running:
    def __init__(self, loop: CameraLoop, source: ScriptedFrameSource) -> None:
        self.loop = loop
        self.source = source
        self.out: list[LoopOutput] = []

    async def emit(self, item: LoopOutput) -> None:
        self.out.append(item)

    async def frames(self, *truth: tuple[str, ...]) -> None:
        for who in truth:
            self.source.push(*who)
        with anyio.fail_after(5):
            await self.source.wait_consumed()
            await anyio.lowlevel.checkpoint()  # the last frame reaches the slot
            await self.loop.wait_idle()


@pytest.fixture
async def running(request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    fps = getattr(request, "param", None)
    source = ScriptedFrameSource(fps=FPS)
    decider = TrackingDecider("c1")
    loop = CameraLoop(
        source, ScriptedRecogniser(carol), decider, gallery=EmptyGallery(), threshold=0.5, fps=fps
    )
    r = Running(loop, source)
    async with anyio.create_task_group() as tg:
        await tg.start(loop.run, r.emit)
        yield r
        tg.cancel_scope.cancel()


@pytest.mark.parametrize(
    "running",
    [None, 0.4],  # every frame analysed; or one in 2.5 s (the track ages on frames only read)
    indirect=True,
    ids=["analysed", "sampled"],
)
async def test_buffers_are_zero_within_max_gap_after_the_face_leaves(running: Running) -> None:
    decider = running.loop.decider
    assert isinstance(decider, TrackingDecider)
    await running.frames(("carol",), ("carol",), ("carol",))
    buffers = held(decider)
    assert len(buffers) >= 3 and not all_zero(buffers)  # embedding, sum and the best crop
    gap = decider.config.max_gap_s
    frames_in_gap = int(gap * FPS)  # still within max_gap_s of the last sighting: kept
    await running.frames(*[()] * (frames_in_gap - 3))
    assert decider.open_tracks == 1 and not all_zero(buffers)
    await running.frames((), (), (), ())  # now past it (stream time, no analysis needed)
    assert decider.open_tracks == 0
    assert all_zero(buffers)
    decided = [o for o in running.out if isinstance(o, FrameDecided)]
    assert sum(o.decisions.discarded.tracks_closed for o in decided) == 1


async def test_stream_loss_flushes_and_wipes_the_decider(running: Running) -> None:
    decider = running.loop.decider
    assert isinstance(decider, TrackingDecider)
    await running.frames(("carol",), ("carol",))
    buffers = held(decider)
    assert buffers and not all_zero(buffers)
    running.source.interrupt("camera rebooted")
    with anyio.fail_after(5):
        while not any(isinstance(o, StreamLost) for o in running.out):  # noqa: ASYNC110
            await anyio.sleep(0.01)
    assert decider.open_tracks == 0 and all_zero(buffers)
    lost = next(i for i, o in enumerate(running.out) if isinstance(o, StreamLost))
    flushed = running.out[lost - 1]  # the closed track is recorded before the loss
    assert isinstance(flushed, FrameDecided) and flushed.frame_index == -1
    assert flushed.decisions.discarded.tracks_closed == 1


async def test_a_stopped_camera_actor_leaves_nothing_of_its_tracks() -> None:
    config = dict(SITE, vision={"recogniser": "scripted", "decider": "tracking"})
    recogniser = LabelRecogniser(similarity={"carol": 0.1})  # nobody on the list
    async with harness(config, recogniser=recogniser) as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        for _ in range(3):
            await h.frame("ne-1", "carol")
        camera = h.site.camera_actor("ne-1")
        assert camera is not None
        decider = camera.loop.decider
        assert isinstance(decider, TrackingDecider)
        buffers = held(decider)
        assert len(buffers) >= 3 and not all_zero(buffers)
    # the site stopped: the loop's `finally` and the actor's `on_stop` flushed the decider
    assert decider.open_tracks == 0
    assert all_zero(buffers)
    log = await h.store.read_all()
    assert sum(e.payload["tracks_closed"] for e in log if e.type == "FrameDiscarded") == 1
