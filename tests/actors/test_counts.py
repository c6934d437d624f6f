"""Counts an auditor can trust (issue 14): the log's counts equal what the recogniser saw.

Every face the recogniser returned while armed is in the log exactly once, as a `FaceMatched`
or in a `FrameDiscarded`'s `faces_seen`, whichever decider runs; every track started is a
match or a closed track; each `FrameDiscarded` states the threshold it was taken at, and no
batch straddles a threshold change.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from lfr.testing import ScriptedRecogniser
from lfr.vision.types import Frame, FrameAnalysis, Gallery
from tests.actors.harness import SITE, harness

NAMES = ("alice", "bob", "carol", "dave", "lowq:carol", "lowq:alice")


class CountingRecogniser(ScriptedRecogniser):
    """The scripted recogniser, counting the faces it returned (and below quality)."""

    def __init__(self) -> None:
        super().__init__()
        self.faces = 0
        self.below_quality = 0

    def analyse(self, frame: Frame, gallery: Gallery) -> FrameAnalysis:
        analysis = super().analyse(frame, gallery)
        self.faces += analysis.faces_seen
        self.below_quality += analysis.faces_below_quality
        return analysis


frames = st.lists(st.lists(st.sampled_from(NAMES), max_size=3), min_size=1, max_size=12)


@pytest.mark.parametrize("decider", ["tracking", "per_frame"])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=frames, change_at=st.integers(min_value=-1, max_value=12))
async def test_the_logs_counts_equal_what_the_recogniser_saw(
    decider: str, script: list[list[str]], change_at: int
) -> None:
    config = dict(SITE, vision={"recogniser": "scripted", "decider": decider})
    recogniser = CountingRecogniser()
    async with harness(config, recogniser=recogniser) as h:
        deployment = await h.deploy(threshold=0.6)
        await h.site.check_in("p-1", "north-end", ("PC A",))
        for i, who in enumerate(script):
            if i == change_at:
                await h.site.change_threshold(
                    "north-end",
                    deployment.deployment_id,
                    new_threshold=0.7,
                    changed_by="Insp. B. Jones 5678",
                    reason="too many near misses",
                )
            await h.frame("ne-1", *who)
        await h.settle()
    # the site stopped: open tracks are closed and every pending count recorded
    log = await h.store.read_all()
    discarded = [e.payload for e in log if e.type == "FrameDiscarded"]
    matched = [e.payload for e in log if e.type == "FaceMatched"]
    assert recogniser.faces == sum(len(who) for who in script)  # every frame was analysed
    assert sum(p["faces_seen"] for p in discarded) + len(matched) == recogniser.faces
    assert sum(p["faces_below_quality"] for p in discarded) == recogniser.below_quality
    if decider == "tracking":
        started = sum(p["tracks_started"] for p in discarded)
        assert started == sum(p["tracks_closed"] for p in discarded) + len(matched)
    # each batch at one threshold: those taken at the old one all come before the new one's
    thresholds = [p["threshold"] for p in discarded]
    changed = 0 <= change_at < len(script)
    assert thresholds == sorted(thresholds) and set(thresholds) <= (
        {0.6, 0.7} if changed else {0.6}
    )
    before = script[:change_at] if changed else script
    old_frames = sum(p["frames"] for p in discarded if p["threshold"] == 0.6)
    assert old_frames <= len(before)
    if decider == "per_frame":  # no track outlives a frame: each face counted at its own
        old = [p for p in discarded if p["threshold"] == 0.6]
        old_matches = [m for m in matched if m["threshold"] == 0.6]
        assert sum(p["faces_seen"] for p in old) + len(old_matches) == sum(map(len, before))
