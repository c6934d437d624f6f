"""The camera under load keeps only the newest frame and counts drops; a match's crop goes
encrypted to the vault and the event holds only its reference; disarmed frames are only
counted; a lost stream is recorded once, retried, and its recovery recorded; a watchlist that
cannot load keeps the camera disarmed; disarming records what the decider still held."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import anyio

from lfr.testing import ScriptedRecogniser
from lfr.vault import BiometricVault
from lfr.vision.types import Frame, FrameAnalysis, Gallery
from tests.actors.harness import SITE, events, harness


class SlowRecogniser(ScriptedRecogniser):
    """Blocks each analysis until the test lets it go (a camera that cannot keep up)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.seen: list[int] = []

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        self.entered.set()
        self.gate.wait(10)
        self.seen.append(frame.index)
        return super().analyse(frame, gallery)


async def test_overloaded_camera_keeps_newest_frame_and_counts_drops() -> None:
    slow = SlowRecogniser()
    async with harness(recogniser=slow) as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        source = h.sources["ne-1"]
        source.push("carol")
        await anyio.to_thread.run_sync(slow.entered.wait, 10)  # first frame in analysis
        for _ in range(9):
            source.push("carol")
        await source.wait_consumed()
        slow.gate.set()
        status = await h.site.settle_camera("ne-1")
        assert status.frames_received == 10
        assert status.frames_analysed == 2  # the one in flight, then only the newest
        assert status.frames_dropped == 8
        assert slow.seen == [0, 9]


async def test_match_crop_is_stored_encrypted_and_referenced(tmp_path: Path) -> None:
    vault = await BiometricVault.open(tmp_path)
    try:
        async with harness(vault=vault) as h:
            await h.deploy()
            await h.site.check_in("p-1", "north-end", ("PC A",))
            await h.frame("ne-1", "carol", "alice")
            await h.settle()
            log = await h.store.read_all()
            (matched,) = [e for e in log if e.type == "FaceMatched"]
            ref = matched.payload["crop_ref"]
            assert ref["kind"] == "alert_crop"
            retain = datetime.fromisoformat(ref["retain_until"])
            assert retain - h.clock.now() == timedelta(days=31)
            crop = await vault.get(ref["blob_id"])
            assert crop.startswith(b"\x89PNG")
            assert h.sink.notices[0].alert.crop_ref is not None
            assert h.sink.notices[0].alert.crop_ref.blob_id == ref["blob_id"]
    finally:
        await vault.aclose()


async def test_disarmed_frames_are_counted_never_analysed() -> None:
    async with harness() as h:
        await h.frame("ne-1", "alice")
        await h.frame("ne-1", "bob")
        status = await h.site.camera_status("ne-1")
        assert status.frames_received == 2 and status.frames_ignored_disarmed == 2
        assert status.recogniser_calls == 0 and status.frames_analysed == 0
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.frame("ne-1", "alice")
        status = await h.site.camera_status("ne-1")
        assert status.armed_deployment is not None
        assert (status.frames_ignored_disarmed, status.recogniser_calls) == (2, 1)
        assert h.recogniser.calls == 1


async def test_lost_stream_is_recorded_once_and_its_recovery_after_the_wait() -> None:
    async with harness() as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        source = h.sources["ne-1"]
        await h.frame("ne-1", "carol")
        source.interrupt("camera rebooted", retry_in_s=3.0)
        with anyio.fail_after(5):  # (the loss is no frame: Settle does not wait for it)
            while ("camera:ne-1", "CameraStreamLost") not in await events(h.store):  # noqa: ASYNC110
                await anyio.sleep(0.01)
        assert not (await h.site.camera_status("ne-1")).stream_up
        lost = [e for e in await h.store.read_all() if e.type == "CameraStreamLost"]
        assert lost[0].payload["reason"] == "camera rebooted"
        assert lost[0].payload["retry_in_s"] == 3.0
        await h.clock.advance(3.0)  # the camera waits out the retry, then reads its source again
        await h.frame("ne-1", "alice")
        await h.settle()
        camera = [t for s, t in await events(h.store) if s == "camera:ne-1"]
        assert camera == [
            "CameraStreamStarted",
            "CameraStreamLost",
            "CameraStreamRecovered",
            "CameraStreamStarted",
            "FaceMatched",
        ]
        (back,) = [e for e in await h.store.read_all() if e.type == "CameraStreamRecovered"]
        assert back.payload["retries"] == 0  # the first attempt after the wait worked
        assert back.payload["down_s"] == 3.0
        status = await h.site.camera_status("ne-1")
        assert status.stream_up and status.frames_analysed == 2 and status.matches == 1


async def test_camera_that_cannot_load_its_watchlist_stays_disarmed() -> None:
    async with harness() as h:
        h.watchlists.unloadable.add("wl-1")
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        assert (await h.site.zone_status("north-end")).armed_deployment is not None
        await h.frame("ne-1", "alice")
        status = await h.site.camera_status("ne-1")
        assert status.armed_deployment is None
        assert status.recogniser_calls == 0 and status.frames_ignored_disarmed == 1
        assert not [t for s, t in await events(h.store) if t == "FaceMatched"]


async def test_disarm_records_what_the_tracking_decider_still_held() -> None:
    """With the tracking decider, a person still in view when the zone disarms is one
    closed track: counted under the deployment before `DeploymentDisarmed`."""
    config = dict(SITE, vision={"recogniser": "scripted", "decider": "tracking"})
    async with harness(config) as h:
        await h.deploy()
        await h.site.check_in("p-1", "north-end", ("PC A",))
        for _ in range(3):
            await h.frame("ne-1", "carol")
        await h.site.check_out("p-1")
        await h.settle()
        log = await h.store.read_all()
        discarded = [e for e in log if e.type == "FrameDiscarded"]
        assert sum(e.payload["frames"] for e in discarded) == 3
        assert sum(e.payload["tracks_closed"] for e in discarded) == 1
        disarmed = next(e for e in log if e.type == "DeploymentDisarmed")
        assert all(e.seq < disarmed.seq for e in discarded)
