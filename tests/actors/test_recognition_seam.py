"""One camera hot path: `lfr watch`, `lfr bench cameras`, `lfr run` / `lfr serve --config`
(`open_site`) and `lfr demo` build every camera through `camera_recognition`, so each runs
a `TrackingRecogniser` that follows the `TrackingDecider` its loop decides with."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from lfr.testing import InMemoryGallery, ScriptedFrameSource
from lfr.video import recognition
from lfr.video.focus import TrackingRecogniser
from lfr.video.loop import CameraLoop
from lfr.video.tracker import TrackingDecider

SITE = {
    "name": "seam",
    "zones": [{"name": "north-end"}],
    "cameras": [
        {"id": "ne-1", "zone": "north-end", "source": "scripted:"},
        {"id": "ne-2", "zone": "north-end", "source": "scripted:"},
    ],
    "store": {"engine": "memory"},
    "vision": {"recogniser": "pipeline", "decider": "tracking", "crop_vault": False},
}


@pytest.fixture
def pipeline() -> Any:
    """Stands in for the face models: the tracking recogniser only keeps references to them
    until a frame is analysed, and nothing here is armed."""
    return SimpleNamespace(models=object(), gate=object())


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, pipeline: Any) -> list[str]:
    """Cameras built through `camera_recognition` (their ids), with the real function."""
    cameras: list[str] = []
    real = recognition.camera_recognition

    def spy(pipe: Any, camera_id: str, **kw: Any) -> recognition.CameraRecognition:
        assert pipe is pipeline
        cameras.append(camera_id)
        return real(pipe, camera_id, **kw)

    monkeypatch.setattr(recognition, "camera_recognition", spy)
    return cameras


def assert_deployed_pair(recogniser: object, decider: object) -> None:
    assert type(recogniser) is TrackingRecogniser
    assert type(decider) is TrackingDecider
    assert recogniser.decider is decider  # it plans its detector work from these tracks


def test_camera_recognition_pairs_a_tracking_recogniser_with_its_deciders(pipeline) -> None:
    chosen = recognition.camera_recognition(pipeline, "ne-1")
    first = chosen.new_decider()
    assert_deployed_pair(chosen.recogniser, first)
    second = chosen.new_decider()  # a new deployment: fresh tracks, followed from now on
    assert second is not first
    assert_deployed_pair(chosen.recogniser, second)


def test_watch_runs_the_deployed_recognition(built, pipeline) -> None:
    from lfr.cli.watch import watch_loop

    loop = watch_loop(
        pipeline, ScriptedFrameSource(), InMemoryGallery("v", {}), 0.5, 10.0, lossless=True
    )
    assert built == ["watch"]
    assert_deployed_pair(loop.recogniser, loop.decider)


def test_bench_cameras_runs_the_deployed_recognition(built, pipeline) -> None:
    from lfr.bench.cameras import bench_loop

    loops = [
        bench_loop(
            pipeline,
            ScriptedFrameSource(),
            f"bench-{i}",
            InMemoryGallery("v", {}),
            10.0,
            anyio.CapacityLimiter(2),
            True,
        )
        for i in range(2)
    ]
    assert built == ["bench-0", "bench-1"]
    for loop in loops:
        assert_deployed_pair(loop.recogniser, loop.decider)
    assert loops[0].recogniser is not loops[1].recogniser  # one per camera


def _no_models(monkeypatch: pytest.MonkeyPatch, pipeline: Any) -> None:
    from lfr.vision.pipeline import FacePipeline

    monkeypatch.setattr(FacePipeline, "shared", classmethod(lambda cls, config=None: pipeline))


def _camera_loops(site: Any) -> list[CameraLoop]:
    actors = [site.camera_actor(c) for c in ("ne-1", "ne-2")]
    assert all(a is not None for a in actors)
    return [a.loop for a in actors]


async def test_open_site_cameras_run_the_deployed_recognition(
    built, pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`lfr run`, `lfr serve --config` and the benches open their site with `open_site`,
    which builds each camera through `camera_recognition` (a pair per camera)."""
    from actors.site import SiteOverrides, open_site
    from lfr.alerts import InMemoryAlertSink
    from lfr.site import SiteConfig
    from lfr.store.memory import InMemoryEventStore

    _no_models(monkeypatch, pipeline)
    config = SiteConfig.model_validate(SITE)
    overrides = SiteOverrides(
        data_dir=tmp_path, store=InMemoryEventStore(), sink=InMemoryAlertSink()
    )
    async with open_site(config, overrides) as site:
        loops = _camera_loops(site)
    assert sorted(built) == ["ne-1", "ne-2"]
    for loop in loops:
        assert_deployed_pair(loop.recogniser, loop.decider)
    assert loops[0].recogniser is not loops[1].recogniser


def test_demo_cameras_run_the_deployed_recognition_behind_its_adapters(built, pipeline) -> None:
    from lfr.demo.parts import FrameSpans, TimedRecogniser
    from lfr.demo.site import Observations, observed_recognition
    from lfr.site import CameraConfig

    observations = Observations()
    factory = observed_recognition(pipeline, observations)
    chosen = factory(CameraConfig(id="ne-1", zone="north-end", source="rtsp://x/ne-1"))
    decider = chosen.new_decider()
    assert built == ["ne-1"]
    assert isinstance(chosen.recogniser, TimedRecogniser)
    assert observations.timers == [chosen.recogniser]
    assert isinstance(decider, FrameSpans)
    assert_deployed_pair(chosen.recogniser.inner, decider.inner)
    assert decider.decided_at is observations.decided_at
