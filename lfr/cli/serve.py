"""`lfr serve`: the HTTP API, the officer app and the alert transport of one site.

Without a broker configured (`--mqtt-host`, or `[mqtt]` in the site config) it starts the
embedded amqtt broker (TCP + WebSocket, loopback), which requires a password of every client:
lfr's own service users' are kept in `<data_dir>/mqtt/service.json` (0600); officers' devices
log in as the users `lfr ops mosquitto --site site.toml --out <data_dir>/mqtt` writes.

With `--config site.toml` it also runs the site's actors, opened by `actors.site.open_site`
as `lfr run` and `lfr demo` open theirs, and the API writes through them: a supervisor
authorises a deployment, an officer checks in, alerts reach officers over MQTT. Without it
the API is read-only (commands answer 409).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

__all__ = ["command"]

if TYPE_CHECKING:
    from lfr.site import SiteConfig
    from lfr.store.base import EventStore
    from lfr.store.config import StoreConfig


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
    oidc_issuer: Annotated[
        str | None, typer.Option(help="accept tokens of this OIDC issuer instead")
    ] = None,
    oidc_jwks_url: Annotated[str | None, typer.Option(help="the OIDC issuer's JWKS URL")] = None,
    oidc_audience: Annotated[str | None, typer.Option(help="expected OIDC audience")] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="where the event log is: sqlite | nats (default: the config's [store], "
            "else sqlite)"
        ),
    ] = None,
    nats_url: Annotated[
        str | None, typer.Option(help="nats: the server(s), e.g. nats://127.0.0.1:4222")
    ] = None,
    stream: Annotated[str | None, typer.Option(help="nats: the log's stream")] = None,
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
    store = _store_config(site_config, engine, nats_url, stream)
    if store.engine == "memory":
        fail("lfr serve needs a durable event log: [store] engine = 'sqlite' or 'nats'")
    if site_config is not None:
        site_config = site_config.model_copy(update={"store": store})
    data = (
        data_dir
        or (site_config.store.data_dir if site_config is not None else None)
        or settings().data_dir
    )
    restore = _sigterm_as_ctrl_c()
    try:
        anyio.run(
            _serve,
            _Options(
                host=host,
                port=port,
                site=site or (site_config.name if site_config is not None else "lfr"),
                data_dir=Path(data),
                site_config=site_config,
                store=store,
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
                oidc_issuer=oidc_issuer,
                oidc_jwks_url=oidc_jwks_url,
                oidc_audience=oidc_audience,
            ),
        )
    except KeyboardInterrupt:
        err_console.print("stopped")
    except ANY_LFR_ERROR as exc:
        fail(str(exc))
    finally:
        restore()


def _store_config(
    site_config: SiteConfig | None, engine: str | None, url: str | None, stream: str | None
) -> StoreConfig:
    """The config's `[store]` with --engine/--nats-url/--stream on top."""
    from pydantic import ValidationError

    from lfr.cli._common import fail
    from lfr.store.config import StoreConfig

    base = site_config.store if site_config is not None else StoreConfig()
    changes: dict[str, object] = {}
    if engine is not None or url is not None or stream is not None:
        changes["engine"] = engine or "nats"
    if url is not None:
        changes["url"] = url
    if stream is not None:
        changes["stream"] = stream
    if not changes:
        return base
    try:
        return StoreConfig.model_validate({**base.model_dump(exclude_unset=True), **changes})
    except ValidationError as exc:
        fail(f"--engine/--nats-url/--stream: {exc.errors()[0]['msg']}")


def _sigterm_as_ctrl_c() -> Callable[[], None]:
    """SIGTERM stops the server as Ctrl-C does (uvicorn re-raises the signal it caught once it
    has stopped: with the default handler the process would die before the event log signs
    its tail and publishes it to the witnesses). Returns what puts the old handler back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))

    def restore() -> None:
        signal.signal(signal.SIGTERM, old)

    return restore


class _Options:
    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)

    host: str
    port: int
    site: str
    data_dir: Path
    site_config: SiteConfig | None
    store: StoreConfig
    mqtt_host: str | None
    mqtt_port: int
    mqtt_username: str | None
    mqtt_password: str | None
    mqtt_protocol: str
    mqtt_tls: bool
    broker_port: int
    broker_ws_port: int
    oidc_issuer: str | None
    oidc_jwks_url: str | None
    oidc_audience: str | None


async def _serve(opt: _Options) -> None:
    from functools import partial

    import anyio
    import anyio.abc

    from actors import site as composition
    from actors.system import Site
    from lfr.api.app import create_app
    from lfr.api.auth import AuthConfig, TokenVerifier, load_or_create_api_key
    from lfr.api.server import serve_http
    from lfr.api.users import UserStore
    from lfr.api.watchlists import StoreWatchlistService
    from lfr.cli._common import err_console
    from lfr.projections import Views
    from lfr.sealing import Sealer
    from lfr.store import open_configured_store
    from lfr.transport.broker import EmbeddedBrokerConfig
    from lfr.transport.mqtt import MqttConfig
    from lfr.transport.services import (
        AlertServices,
        AlertServicesConfig,
        mqtt_config,
        run_alert_services,
    )
    from lfr.vault import BiometricVault

    await anyio.to_thread.run_sync(partial(opt.data_dir.mkdir, parents=True, exist_ok=True))
    auth = AuthConfig(
        oidc_issuer=opt.oidc_issuer,
        oidc_jwks_url=opt.oidc_jwks_url,
        oidc_audience=opt.oidc_audience,
    )
    key = await anyio.to_thread.run_sync(load_or_create_api_key, opt.data_dir)
    users = await anyio.to_thread.run_sync(UserStore.for_data_dir, opt.data_dir)
    verifier = TokenVerifier(auth, key.public_key(), users=users)  # removal bites at once
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
        else (mqtt_config(opt.site_config) if opt.site_config is not None else None)
    )
    alerts_config = AlertServicesConfig(
        site=opt.site,
        mqtt=mqtt,
        # the embedded broker's service passwords (and officers' device users, written by
        # `lfr ops mosquitto --out <data_dir>/mqtt`) live in the data directory
        embedded=EmbeddedBrokerConfig(
            tcp_port=opt.broker_port, ws_port=opt.broker_ws_port, auth_dir=opt.data_dir / "mqtt"
        ),
    )

    async def serve(
        site: Site | None,
        store: EventStore,
        vault: BiometricVault,
        alerts: AlertServices,
        views: Views,
    ) -> None:
        app = await anyio.to_thread.run_sync(  # loads keys and files: off the loop
            lambda: create_app(
                store=store,
                verifier=verifier,
                data_dir=opt.data_dir,
                site=site,
                # the folder `open_site` reads the site's watchlists from
                watchlists_service=StoreWatchlistService(
                    opt.data_dir / composition.WATCHLIST_DIR, store=store, vault=vault
                ),
                vault=vault,
                mqtt=alerts.client_config,
                publisher=alerts.publisher,
                views=views,
            )
        )
        async with anyio.create_task_group() as tg:

            async def http(*, task_status: anyio.abc.TaskStatus[str]) -> None:
                await serve_http(app, opt.host, opt.port, task_status=task_status)
                tg.cancel_scope.cancel()  # uvicorn stopped (SIGINT/SIGTERM): stop the rest

            url = await tg.start(http)
            broker = (
                f"embedded broker mqtt://{opt.host}:{alerts.broker.tcp_port} ws {alerts.ws_url}"
                if alerts.broker
                else f"broker {mqtt.host}:{mqtt.port}"
                if mqtt is not None
                else "broker"
            )
            err_console.print(
                f"lfr serving {url}/app/ (API {url}/docs), {broker}, topics lfr/{opt.site}/; "
                f"{'read-only: no --config' if site is None else 'site running'}"
            )

    if opt.site_config is not None:
        overrides = composition.SiteOverrides(data_dir=opt.data_dir, alerts=alerts_config)
        async with composition.open_site(opt.site_config, overrides) as running:
            # (overrides.alerts; open_site always builds the views)
            assert running.alerts is not None and running.vault is not None
            assert running.views is not None
            await serve(running, running.store, running.vault, running.alerts, running.views)
        return
    # read-only: the log, its views, the vault and the alert services, no actors
    store = await open_configured_store(opt.store, data_dir=opt.data_dir)
    vault = await BiometricVault.open(opt.data_dir)
    views = await Views.open(opt.data_dir, Sealer(vault))
    try:
        async with anyio.create_task_group() as services:
            await services.start(views.run, store)
            alerts = await services.start(
                partial(run_alert_services, store, alerts_config, views=views)
            )
            await serve(None, store, vault, alerts, views)
            services.cancel_scope.cancel()
    finally:
        await views.aclose()
        await vault.aclose()
        await store.aclose()
