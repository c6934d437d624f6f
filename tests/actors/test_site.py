"""`open_site`, the one composition root: a default embedded site starts, arms a zone and
stops in order; `lfr run` with `[mqtt]` runs the sink's late-delivery recorder and the event
relay; the site's one `Views` follows the log and the API and the relay read it; `lfr run`,
`lfr serve --config` and `lfr demo` (tests/demo) all go through it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

import actors.site
from actors.site import LoggingAlertSink, SiteOverrides, open_site
from actors.system import Site
from lfr.api.app import create_app
from lfr.api.auth import AuthConfig, Role, TokenIssuer, TokenVerifier, load_or_create_api_key
from lfr.errors import ConfigError
from lfr.projections import VIEWS_FILE, ViewDb
from lfr.site import SiteConfig
from lfr.store.sqlite import SqliteLog
from lfr.transport.broker import EmbeddedBrokerConfig
from lfr.transport.mqtt import MqttConfig, subscribe
from lfr.transport.services import AlertServicesConfig
from lfr.transport.sink import MqttAlertSink, zone_state_message
from lfr.watchlist import WatchlistEntry, WatchlistStore
from schemas.envelope import NewEvent
from schemas.events import AlertDispatched, AlertRaised
from schemas.messages import ZoneStateMessage

SITE: dict[str, Any] = {
    "name": "smoke",
    "zones": [{"name": "north-end"}],
    "cameras": [{"id": "ne-1", "zone": "north-end", "source": "scripted:,,", "analyse_fps": 5}],
    "patrols": [{"id": "p-1"}],
    "vision": {"recogniser": "scripted", "decider": "per_frame"},
}


def _publish_watchlist(data_dir: Path) -> str:
    store = WatchlistStore(data_dir / "watchlist")
    vec = np.random.default_rng(7).standard_normal(512).astype(np.float32)
    store.add(
        WatchlistEntry(
            "e-1",
            "Case 7",
            "suspect",
            "PACE",
            "custody record 7",
            "manager-1",
            datetime.now(UTC) + timedelta(days=7),
            vec / np.linalg.norm(vec),
        )
    )
    return store.publish("manager-1").version


async def _arm(site: Site, version: str) -> None:
    now = datetime.now(UTC)
    await site.authorise_deployment(
        "north-end",
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        watchlist_version=version,
        threshold=0.6,
        legal_basis="PACE s.24",
        reason="wanted offenders",
        authorised_by="Supt 1",
    )
    await site.check_in("p-1", "north-end", ("PC Khan", "PC Jones"))


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_default_embedded_site_arms_a_zone_and_stops_cleanly(tmp_path: Path) -> None:
    version = await anyio.to_thread.run_sync(_publish_watchlist, tmp_path)
    config = SiteConfig.model_validate(SITE)
    async with open_site(config, SiteOverrides(data_dir=tmp_path)) as site:
        assert site.alerts is None and isinstance(site.parts.sink, LoggingAlertSink)
        assert site.vault is not None and site.parts.vault is site.vault  # crop_vault default
        await _arm(site, version)
        status = await site.zone_status("north-end")
        assert status.armed_deployment is not None and status.patrols_on_duty == ("p-1",)
    # everything it opened is closed: the log reopens and holds the story, in order
    log = SqliteLog(tmp_path / "events.sqlite", read_only=True)
    try:
        types = [e.type for e in log.read_all()]
    finally:
        log.close()
    assert types.index("DeploymentAuthorised") < types.index("DeploymentArmed")
    assert "PatrolCheckedIn" in types
    assert (tmp_path / "vault").is_dir()


@pytest.mark.mosquitto
async def test_lfr_run_with_mqtt_runs_the_late_delivery_recorder_and_the_relay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the same root as `lfr serve`: the zones deliver through the running
    `MqttAlertSink` (its late-delivery recorder up) and the relay publishes zone state."""
    from lfr.cli.run import run_site

    version = await anyio.to_thread.run_sync(_publish_watchlist, tmp_path)
    name = f"t{uuid.uuid4().hex[:10]}"
    config = SiteConfig.model_validate(
        SITE | {"name": name, "mqtt": {"host": "127.0.0.1", "port": 1883, "username": "lfr-test"}}
    )
    opened: list[Site] = []
    real = actors.site.open_site

    @asynccontextmanager
    async def spy(
        config: SiteConfig, overrides: SiteOverrides | None = None
    ) -> AsyncIterator[Site]:
        async with real(config, overrides) as site:
            opened.append(site)
            yield site

    monkeypatch.setattr(actors.site, "open_site", spy)
    device = MqttConfig(port=1883, site=name, username="lfr-test")
    topic = device.topics.zone_state("north-end")
    ready = anyio.Event()
    async with subscribe(device, f"o-{uuid.uuid4().hex[:6]}", [topic], clean=True) as messages:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                partial(run_site, config, data_dir=tmp_path, on_ready=lambda _: ready.set())
            )
            with anyio.fail_after(30):
                await ready.wait()
            (site,) = opened
            assert site.alerts is not None
            sink = site.alerts.sink
            assert isinstance(sink, MqttAlertSink) and sink.running and sink.store is site.store
            assert site.parts.sink is sink
            await _arm(site, version)
            with anyio.fail_after(10):
                async for received in messages:
                    state = received.message
                    if isinstance(state, ZoneStateMessage) and state.armed:
                        break
            assert state.patrols_on_duty == ("p-1",)
            tg.cancel_scope.cancel()
    assert not sink.running  # stopped with the site


@pytest.mark.blocking_ok("the test body reads the log, the views or the watchlist files directly")
async def test_the_api_and_the_relay_read_the_sites_one_views(tmp_path: Path) -> None:
    """A story played on a site with an embedded broker: the views follow the log by
    themselves, and the API's zones and alerts and the relay's last zone state are the
    views'; after the site stops, a rebuild from seq 0 has the same state hash."""
    version = await anyio.to_thread.run_sync(_publish_watchlist, tmp_path)
    config = SiteConfig.model_validate(SITE)
    alerts = AlertServicesConfig(
        site="smoke", embedded=EmbeddedBrokerConfig(tcp_port=0, ws_port=None)
    )
    key = load_or_create_api_key(tmp_path)
    supervisor = {
        "Authorization": "Bearer " + TokenIssuer(key, AuthConfig()).issue("Supt 1", Role.SUPERVISOR)
    }
    async with open_site(config, SiteOverrides(data_dir=tmp_path, alerts=alerts)) as site:
        views = site.views
        assert views is not None and site.alerts is not None
        relay = site.alerts.relay
        assert relay is not None and relay.views is views
        await _arm(site, version)
        deployment = (await views.deployments())[0].deployment_id
        raised = AlertRaised(
            alert_id="al-1",
            match_id="m-1",
            zone="north-end",
            camera="ne-1",
            deployment_id=deployment,
            watchlist_version=version,
            entry_id="e-1",
            subject_label="Case 7",
            category="suspect",
            similarity=0.71,
            threshold=0.6,
            frame_at=datetime.now(UTC),
        )
        await site.store.append(
            "zone:north-end",
            [
                NewEvent(event=raised),
                NewEvent(
                    event=AlertDispatched(alert_id="al-1", zone="north-end", patrol_ids=("p-1",))
                ),
            ],
        )
        with anyio.fail_after(10):  # followed, not caught up by a reader
            await views.wait_for(await site.store.last_seq())
        app = create_app(
            store=site.store,
            verifier=TokenVerifier(AuthConfig(), key.public_key()),
            data_dir=tmp_path,
            site=site,
            views=views,
            web_push_relay=False,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            zones = (await http.get("/api/zones", headers=supervisor)).json()
            listed = (await http.get("/api/alerts", headers=supervisor)).json()
        (zone,) = await views.zones()
        assert zone.armed and zone.patrols_on_duty == ("p-1",)
        (api_zone,) = zones
        assert api_zone["zone"] == zone.zone and api_zone["reason"] == zone.reason
        assert api_zone["armed"] and api_zone["deployment_id"] == zone.deployment_id
        assert datetime.fromisoformat(api_zone["updated_at"]) == zone.updated_at
        assert [a["alert_id"] for a in listed] == [a.alert_id for a in await views.alerts()]
        assert listed[0]["patrol_ids"] == ["p-1"] and listed[0]["status"] == "raised"
        with anyio.fail_after(10):  # the relay publishes on its own task, after the views
            while relay.published.get("north-end") != zone_state_message(zone):  # noqa: ASYNC110
                await anyio.sleep(0.02)
    # the site's views file resumes from its stored position and equals a rebuild from 0
    log = SqliteLog(tmp_path / "events.sqlite", read_only=True)
    rebuilt = ViewDb(":memory:")
    kept = ViewDb(tmp_path / VIEWS_FILE)
    try:
        rebuilt.apply(log.read_records())
        kept.apply(log.read_records(from_seq=kept.position() + 1))
        assert kept.position() == rebuilt.position() == log.last_seq()
        assert kept.state_hash() == rebuilt.state_hash()
    finally:
        log.close()
        rebuilt.close()
        kept.close()


def _spy_raising(monkeypatch: pytest.MonkeyPatch) -> list[tuple[SiteConfig, SiteOverrides]]:
    calls: list[tuple[SiteConfig, SiteOverrides]] = []

    @asynccontextmanager
    async def spy(
        config: SiteConfig, overrides: SiteOverrides | None = None
    ) -> AsyncIterator[Site]:
        calls.append((config, overrides or SiteOverrides()))
        raise ConfigError("opened through open_site")
        yield  # pragma: no cover

    monkeypatch.setattr(actors.site, "open_site", spy)
    return calls


def test_lfr_run_and_serve_open_their_site_with_open_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lfr.cli import app

    calls = _spy_raising(monkeypatch)
    site_toml = tmp_path / "site.toml"
    site_toml.write_text(
        'name = "smoke"\n[vision]\nrecogniser = "scripted"\n[[zones]]\nname = "north-end"\n'
    )
    data = tmp_path / "data"
    r = CliRunner().invoke(app, ["run", "--config", str(site_toml), "--data-dir", str(data)])
    assert r.exit_code == 1 and "opened through open_site" in r.output
    r = CliRunner().invoke(
        app,
        ["serve", "--config", str(site_toml), "--data-dir", str(data), "--port", "0"]
        + ["--broker-port", "0", "--broker-ws-port", "0"],
    )
    assert r.exit_code == 1 and "opened through open_site" in r.output, r.output
    (run_config, run_overrides), (serve_config, serve_overrides) = calls
    assert run_config.name == serve_config.name == "smoke"
    assert run_overrides == SiteOverrides(data_dir=data)
    # serve chooses its broker (embedded here) and lets open_site build everything else
    assert serve_overrides.alerts is not None and serve_overrides.alerts.mqtt is None
    assert serve_overrides.store is None and serve_overrides.sink is None
