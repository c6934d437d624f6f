"""A dead camera does not flood the log: one source and one backoff for the camera's life, an
outage is one `CameraStreamLost` and, when video returns, one `CameraStreamRecovered` with the
failed retries in between; a camera unreachable for a (simulated) day adds a handful of events,
not one per retry (issue 15: about 170,000 a day before)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

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
from schemas.envelope import Envelope
from tests.actors.harness import FRAME_RANGE, SITE, WATCHLIST, Harness
from tests.actors.invariants import check_log

DAY_S = 24 * 3600.0


async def _wait_all_tasks_blocked() -> None:
    """anyio's test, polled with zero-length sleeps instead of 0.1 s ones: a simulated day
    wakes the camera ~3,000 times, and each wake-up would cost a real 0.1 s."""
    await anyio.lowlevel.checkpoint()
    this = asyncio.current_task()
    while True:
        for task in asyncio.all_tasks():
            if task is this:
                continue
            waiter = task._fut_waiter  # type: ignore[attr-defined]
            if waiter is None or waiter.done():
                await asyncio.sleep(0)
                break
        else:
            return


@pytest.fixture(autouse=True)
def fast_manual_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(anyio, "wait_all_tasks_blocked", _wait_all_tasks_blocked)


class DeadCamera(ScriptedFrameSource):
    """A scripted camera that can go unreachable: every `recv()` while `down` fails at once
    (connection refused), reporting `hint` as its own retry delay (a fresh `RtspSource`'s
    first backoff was 0.5 s, on every attempt)."""

    def __init__(self, *args: object, clock: ManualClock, **kwargs: object) -> None:
        super().__init__(*args, clock=clock, **kwargs)  # type: ignore[arg-type]
        self.manual = clock
        self.down = False
        self.hint: float | None = None
        self.attempts: list[float] = []  # when each refused attempt came (the clock's seconds)
        self.opened = 0

    async def recv(self) -> Frame:
        if self.down:
            self.attempts.append(self.manual.monotonic())
            await anyio.lowlevel.checkpoint()
            raise StreamInterrupted(self.info.url, "connection refused", self.hint)
        return await super().recv()

    def reopen(self) -> DeadCamera:
        self.opened += 1
        super().reopen()
        return self


@asynccontextmanager
async def site_with_dead_cameras() -> AsyncIterator[Harness]:
    """The actor harness's two-zone site, its cameras `DeadCamera`s."""
    cfg = SiteConfig.model_validate(SITE)
    clock = ManualClock()
    store = InMemoryEventStore(clock=clock)
    sources = {
        c.id: DeadCamera(f"scripted://{c.id}", clock=clock, first_index=i * FRAME_RANGE)
        for i, c in enumerate(cfg.cameras)
    }
    recogniser = ScriptedRecogniser()
    watchlists = InMemoryWatchlists()
    watchlists.publish("wl-1", WATCHLIST, published_at=clock.now() - timedelta(hours=1))
    sink = InMemoryAlertSink()
    parts = SiteParts(
        store=store,
        catalog=watchlists,
        source_factory=lambda cam: sources[cam.id].reopen(),
        recognition=lambda cam: shared_recognition(recogniser, cam.id, decider="per_frame"),
        clock=clock,
        sink=sink,
        ask_timeout_s=5.0,
    )
    async with running_site(cfg, parts) as site:
        yield Harness(site, clock, store, sink, sources, recogniser, watchlists)  # type: ignore[arg-type]


def _record(env: Envelope) -> dict[str, object]:
    return {"type": env.type, "payload": env.payload, "occurred_at": env.occurred_at.isoformat()}


async def _unplug(h: Harness, camera: str) -> DeadCamera:
    source = h.sources[camera]
    assert isinstance(source, DeadCamera)
    source.interrupt("camera unplugged")  # the live stream drops...
    source.down = True  # ...and every reconnection is refused from now on
    with anyio.fail_after(5):
        while not source.attempts:  # noqa: ASYNC110 (the first retry, after the first wait)
            await h.clock.advance(0.5)
    return source


@pytest.mark.parametrize("hint", [None, 0.5], ids=["no-hint", "source-says-0.5s"])
async def test_a_camera_unreachable_for_a_day_adds_a_handful_of_events(
    hint: float | None,
) -> None:
    async with site_with_dead_cameras() as h:
        await h.deploy(hours=30)
        await h.site.check_in("p-1", "north-end", ("PC A",))
        await h.frame("ne-1", "carol")  # (nobody on the list: no alert to follow up)
        await h.frame("ne-1", "carol")
        await h.settle()
        h.sources["ne-1"].hint = hint  # type: ignore[attr-defined]
        before = len(await h.store.read_all())

        dead = await _unplug(h, "ne-1")
        await h.clock.advance(DAY_S)
        await h.settle()
        log = await h.store.read_all()
        during = log[before:]
        # The target: a day down is one event, where a retry every 0.5 s made ~170,000.
        assert [e.type for e in during] == ["CameraStreamLost"]
        assert len(during) <= 3
        assert during[0].payload["reason"] == "camera unplugged"
        assert 0.45 <= during[0].payload["retry_in_s"] <= 0.5
        assert not (await h.site.camera_status("ne-1")).stream_up

        # ...and it kept trying, ever more rarely, up to the 30 s cap (less <= 10 % jitter).
        gaps = [b - a for a, b in zip(dead.attempts, dead.attempts[1:], strict=False)]
        assert gaps[0] < 2.0
        assert all(27.0 <= g <= 30.0 for g in gaps[12:])
        assert max(gaps) <= 30.0
        assert 2_800 <= len(dead.attempts) <= 3_300  # not 172,800
        camera = h.site.camera_actor("ne-1")
        assert camera is not None and camera.loop.backoff.next_s == 30.0
        assert dead.opened == 1  # one source for the camera's life

        # Video comes back: one CameraStreamRecovered with the failed retries, then the stream.
        dead.down = False
        h.sources["ne-1"].push("alice")
        await h.clock.advance(30.0)  # the camera's next attempt finds video
        with anyio.fail_after(5):
            await h.sources["ne-1"].wait_consumed()
        await h.settle()
        log = await h.store.read_all()
        after = [  # (the discard counts from before the loss are flushed with the next batch)
            e for e in log[before + 1 :] if e.stream == "camera:ne-1" and e.type != "FrameDiscarded"
        ]
        assert [e.type for e in after] == [
            "CameraStreamRecovered",
            "CameraStreamStarted",
            "FaceMatched",
        ]
        recovered = after[0].payload
        assert recovered["retries"] == len(dead.attempts) == camera.loop.stats.reconnect_attempts
        assert DAY_S <= recovered["down_s"] <= DAY_S + 31.0
        assert camera.loop.stats.stream_losses == 1
        assert (await h.site.camera_status("ne-1")).stream_up
        assert dead.opened == 1
        check_log(log)  # the arming invariants hold: nothing analysed outside a deployment


async def test_a_dead_camera_is_shown_down_then_up_in_the_camera_view() -> None:
    from lfr.projections.cameras import CameraProjection

    async with site_with_dead_cameras() as h:
        await h.frame("lr-1")
        dead = await _unplug(h, "lr-1")
        await h.clock.advance(3600.0)
        await h.settle()
        view = CameraProjection()
        down = None
        for e in await h.store.read_all():
            if e.stream == "camera:lr-1" and e.type in view.types:
                down = view.fold(down, _record(e))
        assert down is not None and not down.streaming
        dead.down = False
        h.sources["lr-1"].push()
        await h.clock.advance(30.0)
        with anyio.fail_after(5):
            await h.sources["lr-1"].wait_consumed()
        await h.settle()
        (back,) = [e for e in await h.store.read_all() if e.type == "CameraStreamRecovered"]
        up = view.fold(down, _record(back))
        assert up.streaming and up.first_started_at == down.first_started_at
