import anyio
import pytest

from lfr.video.errors import EndOfStream
from lfr.video.latest import LatestSlot, RateSampler


async def test_newest_item_wins_and_drops_are_counted() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is None
    assert slot.put(2) == 1
    assert slot.put(3) == 2
    assert await slot.get() == 3
    assert slot.drops == 2
    slot.put(4)
    assert await slot.get() == 4
    assert slot.drops == 2


async def test_get_waits_for_a_put_and_ends_when_closed() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got: list[str] = []

    async def consumer() -> None:
        while True:
            try:
                got.append(await slot.get())
            except EndOfStream:
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        await anyio.sleep(0.01)
        slot.put("a")
        await slot.wait_empty()
        slot.put("b")
        await slot.wait_empty()
        slot.close()
    assert got == ["a", "b"]
    with pytest.raises(anyio.ClosedResourceError):
        slot.put("c")


@pytest.mark.parametrize(("src_fps", "want_fps"), [(25.0, 10.0), (29.97, 10.0), (10.0, 10.0)])
def test_sampler_keeps_the_analysis_rate(src_fps: float, want_fps: float) -> None:
    sampler = RateSampler(want_fps)
    seconds = 20
    kept = sum(sampler.due(i / src_fps) for i in range(int(seconds * src_fps)))
    assert abs(kept / seconds - min(src_fps, want_fps)) <= 0.6


def test_sampler_restarts_when_time_jumps_back() -> None:
    sampler = RateSampler(10)
    for i in range(100):
        sampler.due(i / 25)
    # A reconnected camera starts again at pts 0: its frames must not be skipped for 4 s.
    assert sampler.due(0.0)
    assert sampler.due(0.12)


def test_sampler_without_rate_keeps_everything() -> None:
    sampler = RateSampler(None)
    assert all(sampler.due(i / 100) for i in range(50))
