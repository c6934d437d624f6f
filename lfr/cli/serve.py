"""`lfr serve`: the HTTP API, the officer app and the alert transport of one site.

Without a broker configured (`--mqtt-host`, or `[mqtt]` in the site config) it starts the
embedded amqtt broker (TCP + WebSocket, loopback).

With `--config site.toml` it also runs the site's actors, built as `lfr run` builds them,
and the API writes through them: a supervisor authorises a deployment, an officer checks in,
alerts reach officers over MQTT. `--site-factory module:function` replaces that wiring: the
function is called as `factory(store=..., sink=..., vault=..., data_dir=...)` and must return
an async context manager yielding an object with the API's `SiteCommands` methods. With
neither, the API is read-only (commands answer 409).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from lfr.site import SiteConfig


def command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="site TOML (ops/site.example.toml): run its actors so the API can act",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="address the API listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 8080,
    site: Annotated[
        str | None,
        typer.Option(
            help="site id, the MQTT topic prefix lfr/<site>/ (default: the config's name, else lfr)"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="site data directory (default: the config's, else LFR_DATA_DIR)"),
    ] = None,
    mqtt_host: Annotated[
        str | None, typer.Option(help="external broker (Mosquitto); default: embedded amqtt")
    ] = None,
    mqtt_port: Annotated[int, typer.Option(help="external broker port")] = 1883,
    mqtt_username: Annotated[str | None, typer.Option(help="external broker user")] = None,
    mqtt_password_file: Annotated[
        Path | None, typer.Option(help="file holding the external broker password")
    ] = None,
    mqtt_tls: Annotated[bool, typer.Option(help="TLS to the external broker")] = False,
    broker_port: Annotated[int, typer.Option(help="embedded broker TCP port")] = 1883,
    broker_ws_port: Annotated[int, typer.Option(help="embedded broker WebSocket port")] = 8083,
    site_factory: Annotated[
        str | None, typer.Option(help="module:function building the site's actors")
    ] = None,
    oidc_issuer: Annotated[
        str | None, typer.Option(help="accept tokens of this OIDC issuer instead")
    ] = None,
    oidc_jwks_url: Annotated[str | None, typer.Option(help="the OIDC issuer's JWKS URL")] = None,
    oidc_audience: Annotated[str | None, typer.Option(help="expected OIDC audience")] = None,
) -> None:
    """Serve the API, the officer app and MQTT alerts until Ctrl-C."""
    import anyio

    from lfr.cli._common import err_console, fail
    from lfr.config import settings
    from lfr.errors import ANY_LFR_ERROR
    from lfr.site import load_site_config

    try:
        site_config = load_site_config(config) if config is not None else None
    except ANY_LFR_ERROR as exc:
        fail(str(exc))
    if site_config is not None and site_config.store.engine != "sqlite":
        fail(f"{config}: lfr serve keeps the event log in SQLite; set [store] engine = 'sqlite'")
    data = (
        data_dir
        or (site_config.store.data_dir if site_config is not None else None)
        or settings().data_dir
    )
    try:
        anyio.run(
            _serve,
            _Options(
                host=host,
                port=port,
                site=site or (site_config.name if site_config is not None else "lfr"),
                data_dir=Path(data),
                site_config=site_config,
                mqtt_host=mqtt_host,
                mqtt_port=mqtt_port,
                mqtt_username=mqtt_username,
                mqtt_password=(
                    mqtt_password_file.read_text().strip() if mqtt_password_file else None
                ),
                mqtt_protocol="5",
                mqtt_tls=mqtt_tls,
                broker_port=broker_port,
                broker_ws_port=broker_ws_port,
                site_factory=site_factory,
                oidc_issuer=oidc_issuer,
                oidc_jwks_url=oidc_jwks_url,
                oidc_audience=oidc_audience,
            ),
        )
    except KeyboardInterrupt:
        err_console.print("stopped")
    except ANY_LFR_ERROR as exc:
        fail(str(exc))


class _Options:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)

    host: str
    port: int
    site: str
    data_dir: Path
    site_config: SiteConfig | None
    mqtt_host: str | None
    mqtt_port: int
    mqtt_username: str | None
    mqtt_password: str | None
    mqtt_protocol: str
    mqtt_tls: bool
    broker_port: int
    broker_ws_port: int
    site_factory: str | None
    oidc_issuer: str | None
    oidc_jwks_url: str | None
    oidc_audience: str | None


@asynccontextmanager
async def config_site(
    config: SiteConfig, *, store: Any, sink: Any, vault: Any, data_dir: Path
) -> AsyncIterator[Any]:
    """The actors of `config`, built as `lfr run` builds them (`actors.runner.site_parts`:
    cameras through `lfr.video.recognition.camera_recognition`, watchlists from
    `<data_dir>/watchlist`, where the API enrols them, purges shredding their photos in
    `vault`); yields the running `actors.system.Site`.

    `lfr` never imports `actors` (the layers forbid it), so the wiring is loaded by name, as
    `lfr run` does.
    """
    import importlib

    runner = importlib.import_module("actors.runner")
    system = importlib.import_module("actors.system")
    parts = await runner.site_parts(
        config, store=store, sink=sink, vault=vault, watchlist_dir=data_dir / "watchlist"
    )
    async with system.running_site(config, parts) as site:
        yield site


def _mqtt_from_site(config: SiteConfig) -> dict[str, Any]:
    import os

    m = config.mqtt
    assert m is not None
    return {
        "mqtt_host": m.host,
        "mqtt_port": m.port,
        "mqtt_username": m.username,
        "mqtt_password": os.environ.get(m.password_env) if m.password_env else None,
        "mqtt_protocol": m.protocol,
        "mqtt_tls": m.tls,
    }


async def _serve(opt: _Options) -> None:
    import functools
    import importlib

    import anyio
    import anyio.abc

    from lfr.api.app import create_app
    from lfr.api.auth import AuthConfig, TokenVerifier, load_or_create_api_key
    from lfr.api.server import AlertServicesConfig, run_alert_services, serve_http
    from lfr.api.watchlists import StoreWatchlistService
    from lfr.cli._common import err_console
    from lfr.errors import ConfigError
    from lfr.store.sqlite import SqliteEventStore
    from lfr.transport.broker import EmbeddedBrokerConfig
    from lfr.transport.mqtt import MqttConfig
    from lfr.vault import BiometricVault

    opt.data_dir.mkdir(parents=True, exist_ok=True)
    auth = AuthConfig(
        oidc_issuer=opt.oidc_issuer,
        oidc_jwks_url=opt.oidc_jwks_url,
        oidc_audience=opt.oidc_audience,
    )
    key = load_or_create_api_key(opt.data_dir)
    verifier = TokenVerifier(auth, key.public_key())
    if opt.mqtt_host is None and opt.site_config is not None and opt.site_config.mqtt:
        opt.__dict__.update(_mqtt_from_site(opt.site_config))
    mqtt = (
        MqttConfig(
            host=opt.mqtt_host,
            port=opt.mqtt_port,
            protocol="3.1.1" if opt.mqtt_protocol == "3.1.1" else "5",
            username=opt.mqtt_username,
            password=opt.mqtt_password,
            tls=opt.mqtt_tls,
        )
        if opt.mqtt_host
        else None
    )
    store = await SqliteEventStore.open(opt.data_dir / "events.sqlite")
    vault = await BiometricVault.open(opt.data_dir)
    try:
        async with anyio.create_task_group() as tg:
            alerts = await tg.start(
                run_alert_services,
                store,
                AlertServicesConfig(
                    site=opt.site,
                    mqtt=mqtt,
                    embedded=EmbeddedBrokerConfig(
                        tcp_port=opt.broker_port, ws_port=opt.broker_ws_port
                    ),
                ),
            )
            site = None
            factory: Any = None
            if opt.site_factory:
                module, _, name = opt.site_factory.partition(":")
                try:
                    factory = getattr(importlib.import_module(module), name)
                except (ImportError, AttributeError) as exc:
                    raise ConfigError(
                        f"--site-factory {opt.site_factory!r}: {exc}; give module:function"
                    ) from exc
            elif opt.site_config is not None:
                factory = functools.partial(config_site, opt.site_config)
            if factory is not None:
                made = factory(store=store, sink=alerts.sink, vault=vault, data_dir=opt.data_dir)

                async def run_site(*, task_status: anyio.abc.TaskStatus[Any]) -> None:
                    # entered and left in one task: the site's task group nests properly
                    async with made as running:
                        task_status.started(running)
                        await anyio.sleep_forever()

                site = await tg.start(run_site)
            app = create_app(
                store=store,
                verifier=verifier,
                data_dir=opt.data_dir,
                site=site,
                # the same LanceDB folder `lfr watchlist` uses (settings().data_dir/watchlist)
                watchlists_service=StoreWatchlistService(
                    opt.data_dir / "watchlist", store=store, vault=vault
                ),
                vault=vault,
                mqtt=alerts.client_config,
                publisher=alerts.publisher,
            )

            async def http(*, task_status: anyio.abc.TaskStatus[str]) -> None:
                await serve_http(app, opt.host, opt.port, task_status=task_status)
                tg.cancel_scope.cancel()  # uvicorn stopped (SIGINT/SIGTERM): stop the rest

            url = await tg.start(http)
            broker = (
                f"embedded broker mqtt://{opt.host}:{alerts.broker.tcp_port} ws {alerts.ws_url}"
                if alerts.broker
                else f"broker {opt.mqtt_host}:{opt.mqtt_port}"
            )
            err_console.print(
                f"lfr serving {url}/app/ (API {url}/docs), {broker}, topics lfr/{opt.site}/; "
                f"{'read-only: no --config' if site is None else 'site running'}"
            )
    finally:
        vault.close()
        await store.aclose()
