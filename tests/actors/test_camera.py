"""The camera under load keeps only the newest frame and counts drops; a match's crop goes
encrypted to the vault and the event holds only its reference."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import anyio

from lfr.testing import ScriptedRecogniser
from lfr.vault import BiometricVault
from lfr.vision.types import Frame, FrameAnalysis, Gallery
from tests.actors.harness import harness


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
