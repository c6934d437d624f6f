"""A camera that hangs, sends garbage or changes resolution, on a running site (the real actors
and camera loop, a scripted recogniser), and a corrupt video file through the real decoder.

- The live camera hangs (no data until the source's read timeout, as `RtspSource` reports it),
  then sends garbage (undecodable data, as PyAV reports it): one outage, recorded once as
  `CameraStreamLost`; when video returns, one `CameraStreamRecovered` counting the failed
  retry; its resolution then changes mid-stream and every frame is still analysed; the site
  never stops (the other cameras keep working) and the arming invariants hold on the log.
- A clip from the shared videos with its bytes overwritten and truncated is read by the
  camera loop through `FileSource`: whatever the decoder makes of it, the loop ends cleanly
  with at most one `StreamLost`, last, and raises nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from actors.system import SiteParts, running_site
from lfr.alerts import InMemoryAlertSink
from lfr.clock import ManualClock
from lfr.site import SiteConfig
from lfr.store.memory import InMemoryEventStore
from lfr.testing import InMemoryWatchlists, ScriptedFrameSource, ScriptedRecogniser
from lfr.video.errors import StreamInterrupted
from lfr.video.recognition import shared_recognition
from lfr.vision.types import Frame
from tests.actors.harness import FRAME_RANGE, SITE, WATCHLIST, Harness
from tests.actors.invariants import check_log

pytestmark = pytest.mark.faults

READ_TIMEOUT_S = 5.0


class FaultyCamera(ScriptedFrameSource):
    """A scripted live camera that can hang (nothing until the read timeout) or send garbage
    (undecodable data), each reported as `RtspSource` reports it, and change resolution."""

    def __init__(self, *args: object, clock: ManualClock, **kwargs: object) -> None:
        super().__init__(*args, clock=clock, **kwargs)  # type: ignore[arg-type]
        self.manual = clock
        self.faults: list[str] = []  # "hang" | "garbage", taken one per recv()
        self.sizes: set[tuple[int, int]] = set()

    def resize(self, height: int, width: int) -> None:
        self._size = (height, width)

    async def recv(self) -> Frame:
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "hang":
                await self.manual.sleep(READ_TIMEOUT_S)
                raise StreamInterrupted(self.info.url, f"no data for {READ_TIMEOUT_S:.0f} s", None)
            raise StreamInterrupted(self.info.url, "Invalid data found when processing input", None)
        frame = await super().recv()
        self.sizes.add(frame.image.shape[:2])
        return frame

    def reopen(self) -> FaultyCamera:
        super().reopen()
        return self


@asynccontextmanager
async def site() -> AsyncIterator[Harness]:
    cfg = SiteConfig.model_validate(SITE)
    clock = ManualClock()
    store = InMemoryEventStore(clock=clock)
    sources = {
        c.id: FaultyCamera(f"scripted://{c.id}", clock=clock, first_index=i * FRAME_RANGE)
        for i, c in enumerate(cfg.cameras)
    }
    recogniser = ScriptedRecogniser()
    watchlists = InMemoryWatchlists()
    watchlists.publish("wl-1", WATCHLIST, published_at=clock.now() - timedelta(hours=1))
    parts = SiteParts(
        store=store,
        catalog=watchlists,
        source_factory=lambda cam: sources[cam.id].reopen(),
        recognition=lambda cam: shared_recognition(recogniser, cam.id, decider="per_frame"),
        clock=clock,
        sink=InMemoryAlertSink(),
        ask_timeout_s=5.0,
    )
    async with running_site(cfg, parts) as running:
        yield Harness(running, clock, store, parts.sink, sources, recogniser, watchlists)  # type: ignore[arg-type]


async def test_a_camera_that_hangs_sends_garbage_and_changes_resolution() -> None:
    async with site() as h:
        await h.deploy(hours=4)
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.frame("ne-1", "carol")
        await h.settle()
        before = len(await h.store.read_all())
        cam = h.sources["ne-1"]
        assert isinstance(cam, FaultyCamera)

        cam.faults += ["hang", "garbage"]  # after the next frame it hangs, then sends garbage
        await h.frame("ne-1", "carol")
        with anyio.fail_after(10):
            while cam.faults:  # noqa: ASYNC110 (the read timeout, then the garbage)
                await h.clock.advance(1.0)
        await h.clock.advance(5.0)  # the camera's wait before it reads again
        await h.settle()
        await h.frame("ne-2", "carol")  # the site kept going: another camera still analyses

        cam.resize(720, 1280)  # mid-stream, as a camera reconfigured on the fly
        await h.frame("ne-1", "carol")
        cam.resize(1080, 1920)
        await h.frame("ne-1", "alice")
        await h.settle()

        log = await h.store.read_all()
        ne1 = [e for e in log[before:] if e.stream == "camera:ne-1" and e.type != "FrameDiscarded"]
        assert [e.type for e in ne1] == [
            "CameraStreamLost",
            "CameraStreamRecovered",
            "CameraStreamStarted",
            "FaceMatched",
        ]
        lost, recovered = ne1[0].payload, ne1[1].payload
        assert lost["reason"] == f"no data for {READ_TIMEOUT_S:.0f} s"
        assert recovered["retries"] == 1  # the garbage: a failed retry, not another loss
        assert cam.sizes == {(48, 64), (720, 1280), (1080, 1920)}
        status = await h.site.camera_status("ne-1")
        assert status.stream_up and status.frames_analysed == 4 and status.matches == 1
        camera = h.site.camera_actor("ne-1")
        assert camera is not None and camera.loop.stats.stream_losses == 1
        assert (await h.site.camera_status("ne-2")).frames_analysed == 1
        check_log(log)


def _corrupt_clip(tmp_path: Path) -> Path:
    from lfr.config import settings

    clip = settings().shared / "video" / "debate_trump_biden.mp4"  # LFR_SHARED
    data = bytearray(clip.read_bytes())
    third = len(data) // 3
    data[third : third + 65536] = bytes(range(256)) * 256  # garbage in the middle
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data[: 2 * third]))  # and cut off
    return bad


@pytest.mark.blocking_ok("writes the corrupt copy of the clip")
async def test_a_corrupt_video_file_ends_the_loop_cleanly(tmp_path: Path) -> None:
    from lfr.video.file import FileSource
    from lfr.video.loop import CameraLoop, FrameDecided, LoopOutput, StreamLost, StreamStarted
    from lfr.video.recognition import PerFrameDecider
    from tests.video.fakes import EmptyGallery
    from tests.video.fakes import ScriptedRecogniser as NoFaces

    outputs: list[LoopOutput] = []

    async def emit(item: LoopOutput) -> None:
        outputs.append(item)

    loop = CameraLoop(
        FileSource(_corrupt_clip(tmp_path)),
        NoFaces(lambda f: []),
        PerFrameDecider(),
        gallery=EmptyGallery(),
        threshold=0.6,
        fps=5.0,
        lossless=True,
    )
    with anyio.fail_after(60):
        await loop.run(emit)
    kinds = [type(o) for o in outputs]
    lost = [o for o in outputs if isinstance(o, StreamLost)]
    print(f"\ncorrupt clip: {kinds.count(FrameDecided)} frames analysed, then {lost}")
    assert kinds[0] is StreamStarted
    assert kinds.count(StreamLost) <= 1 and (StreamLost not in kinds or kinds[-1] is StreamLost)
    assert kinds.count(FrameDecided) >= 5  # the frames before the damage were analysed
