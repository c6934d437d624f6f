"""A site across two nodes in one test process (real NATS on 127.0.0.1:4222, a fresh site
name, so fresh subjects, per test): the camera runs on an edge node, its zone and patrol on
a core node, each node with its own data dir and SQLite log (each actor's events go to its
node's log); both read one watchlist.

A match on the edge's camera reaches the core's zone and raises an alert; when the core
stops, the edge's camera stops analysing within the arming bound: lease + a quarter second
check (+ the frame in flight), and analyses nothing after it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from actors.site import SiteOverrides, open_site
from actors.system import Site
from lfr.alerts import InMemoryAlertSink
from lfr.catalog import WatchlistStoreCatalog
from lfr.nodes import RemoteRef
from lfr.site import SiteConfig
from lfr.testing.gallery import identity_vector
from lfr.watchlist import WatchlistEntry, WatchlistStore

LEASE_S = 1.5
BOUND_S = LEASE_S + 0.25 + 0.5  # lease, the watchdog's check, a frame in flight + scheduling


def _config(name: str) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "name": name,
            "zones": [{"name": "north-end"}],
            "cameras": [
                {"id": "ne-1", "zone": "north-end", "source": "scripted:alice", "analyse_fps": 20}
            ],
            "patrols": [{"id": "p-1"}],
            "vision": {"recogniser": "scripted", "decider": "per_frame", "crop_vault": False},
            "retention": {"enabled": False},
            "nodes": [
                {"name": "edge-1", "cameras": ["ne-1"]},
                {"name": "core", "zones": ["north-end"], "patrols": ["p-1"]},
            ],
            "cluster": {"arming_lease_s": LEASE_S, "request_timeout_s": 0.5},
        }
    )


def _publish(data_dir: Path) -> tuple[WatchlistStore, str]:
    vector = identity_vector("alice")
    store = WatchlistStore(data_dir / "watchlist", dim=len(vector))
    store.add(
        WatchlistEntry(
            "entry-alice-7",
            "Alice Example",
            "suspect",
            "PACE",
            "custody record 7",
            "manager-1",
            datetime.now(UTC) + timedelta(days=7),
            vector,
        )
    )
    return store, store.publish("manager-1").version


@asynccontextmanager
async def _two_nodes(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    config = _config(f"t{uuid.uuid4().hex[:10]}")
    watchlists, version = await anyio.to_thread.run_sync(_publish, tmp_path)
    catalog = WatchlistStoreCatalog(watchlists)  # one watchlist, read by both nodes
    sink = InMemoryAlertSink()
    stack = AsyncExitStack()
    async with stack:

        def node(name: str, sink: InMemoryAlertSink) -> Any:
            overrides = SiteOverrides(
                data_dir=tmp_path / name, catalog=catalog, sink=sink, node=name, ask_timeout_s=5
            )
            return open_site(config, overrides)

        edge = await stack.enter_async_context(node("edge-1", InMemoryAlertSink()))
        core_stack = await stack.enter_async_context(AsyncExitStack())
        core = await core_stack.enter_async_context(node("core", sink))
        yield {"edge": edge, "core": core, "core_stack": core_stack, "sink": sink, "v": version}


async def _arm(core: Site, version: str) -> None:
    now = datetime.now(UTC)
    await core.authorise_deployment(
        "north-end",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        watchlist_version=version,
        threshold=0.6,
        legal_basis="PACE s.24",
        reason="wanted offenders",
        authorised_by="Supt 1",
    )
    await core.check_in("p-1", "north-end", ("PC Khan", "PC Jones"))


@pytest.mark.blocking_ok("LanceDB watchlist opened by the test's catalog")
async def test_a_match_on_the_edge_raises_an_alert_in_the_core(tmp_path: Path) -> None:
    async with _two_nodes(tmp_path) as n:
        edge, core = n["edge"], n["core"]
        assert isinstance(core.ref("camera:ne-1"), RemoteRef)
        assert isinstance(edge.ref("zone:north-end"), RemoteRef)
        assert edge.camera_actor("ne-1") is not None and "ne-1" not in core._camera_cells
        await _arm(core, n["v"])
        # armed across nodes: the core asks the edge's camera
        status = await core.camera_status("ne-1")
        assert status.armed_deployment is not None
        with anyio.fail_after(10):
            (notice,) = await n["sink"].wait_for(1)
        assert notice.alert.camera == "ne-1" and notice.alert.zone == "north-end"
        assert core.server is not None and core.server.handled >= 1


@pytest.mark.blocking_ok("LanceDB watchlist opened by the test's catalog")
async def test_the_edge_camera_disarms_within_the_bound_when_the_core_stops(
    tmp_path: Path,
) -> None:
    async with _two_nodes(tmp_path) as n:
        edge, core = n["edge"], n["core"]
        await _arm(core, n["v"])
        with anyio.fail_after(10):
            await n["sink"].wait_for(1)
        # the lease is renewed: armed well past one lease
        await anyio.sleep(LEASE_S * 2)
        before = await edge.camera_status("ne-1")
        assert before.armed_deployment is not None and before.frames_analysed > 0
        await n["core_stack"].aclose()  # the core node stops (zone, patrol, its server)
        stopped = time.monotonic()
        camera = edge.camera_actor("ne-1")
        assert camera is not None
        while camera.status().armed_deployment is not None:
            assert time.monotonic() - stopped < BOUND_S, "still armed past the bound"
            await anyio.sleep(0.02)
        disarmed_after = time.monotonic() - stopped
        await anyio.sleep(max(0.0, BOUND_S - disarmed_after))
        at_bound = (await edge.camera_status("ne-1")).frames_analysed
        await anyio.sleep(1.0)
        after = await edge.camera_status("ne-1")
        assert after.frames_analysed == at_bound  # 0 frames analysed after the bound
        assert after.frames_received > before.frames_received  # video still read, not analysed
        assert camera.lease_disarms == 1
        print(f"disarmed {disarmed_after:.2f} s after the core stopped (bound {BOUND_S} s)")
