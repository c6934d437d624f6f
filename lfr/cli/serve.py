"""`lfr serve`: the HTTP API, the officer app and the alert transport of one site.

Without `--mqtt-host` it starts the embedded amqtt broker (TCP + WebSocket, loopback). With
`--site-factory module:function` it also runs the site's actors: the function is called as
`factory(store=..., sink=..., vault=..., data_dir=...)` and must return an async context
manager yielding an object with the API's `SiteCommands` methods (e.g. a wrapper around
`actors.system.running_site`). Without it the API is read-only (commands answer 409).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    host: Annotated[str, typer.Option(help="address the API listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port (0: any free port)")] = 8080,
    site: Annotated[str, typer.Option(help="site id, the MQTT topic prefix lfr/<site>/")] = "lfr",
    data_dir: Annotated[
        Path | None, typer.Option(help="site data directory (default: LFR_DATA_DIR)")
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

    data = data_dir or settings().data_dir
    try:
        anyio.run(
            _serve,
            _Options(
                host=host,
                port=port,
                site=site,
                data_dir=Path(data),
                mqtt_host=mqtt_host,
                mqtt_port=mqtt_port,
                mqtt_username=mqtt_username,
                mqtt_password=(
                    mqtt_password_file.read_text().strip() if mqtt_password_file else None
                ),
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
    mqtt_host: str | None
    mqtt_port: int
    mqtt_username: str | None
    mqtt_password: str | None
    mqtt_tls: bool
    broker_port: int
    broker_ws_port: int
    site_factory: str | None
    oidc_issuer: str | None
    oidc_jwks_url: str | None
    oidc_audience: str | None


async def _serve(opt: _Options) -> None:
    import importlib
    from contextlib import AsyncExitStack

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
    mqtt = (
        MqttConfig(
            host=opt.mqtt_host,
            port=opt.mqtt_port,
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
        async with AsyncExitStack() as stack, anyio.create_task_group() as tg:
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
            if opt.site_factory:
                module, _, name = opt.site_factory.partition(":")
                try:
                    factory = getattr(importlib.import_module(module), name)
                except (ImportError, AttributeError) as exc:
                    raise ConfigError(
                        f"--site-factory {opt.site_factory!r}: {exc}; give module:function"
                    ) from exc
                site = await stack.enter_async_context(
                    factory(store=store, sink=alerts.sink, vault=vault, data_dir=opt.data_dir)
                )
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
                f"{'read-only: no --site-factory' if site is None else 'site running'}"
            )
    finally:
        vault.close()
        await store.aclose()
