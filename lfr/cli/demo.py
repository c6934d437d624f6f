"""`lfr demo`: a whole two-zone town centre on embedded defaults, ending with evidence."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["command"]


def command(
    seconds: Annotated[
        float, typer.Option("--seconds", min=20.0, help="how long the cameras run (scenario time)")
    ] = 60.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="where the log, vault, watchlist and report go "
            "(default: a fresh lfr-data/demo-<timestamp>)",
        ),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option(
            "--gallery",
            help="folder of <Identity>/*.jpg|png photos to cast from (default: $LFR_SHARED/faces)",
        ),
    ] = None,
    no_tui: Annotated[
        bool, typer.Option("--no-tui", help="plain log lines instead of the live dashboard")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="end with one JSON line of the results on stdout")
    ] = False,
    otlp: Annotated[
        str | None,
        typer.Option(
            "--otlp",
            help="export traces and metrics to this OTLP/HTTP collector "
            "(e.g. http://127.0.0.1:4318; see ops/otel-collector.yaml)",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="scenario seed (same seed, same street)")] = 7,
    threshold: Annotated[
        float, typer.Option(min=0.05, max=0.99, help="similarity threshold of the deployments")
    ] = 0.6,
    analyse_fps: Annotated[
        float,
        typer.Option(
            "--analyse-fps", min=0.5, max=25.0, help="frames analysed per second per camera"
        ),
    ] = 5.0,
    engine: Annotated[
        str,
        typer.Option(
            help="where the event log is kept: sqlite (in the data directory, no service "
            "needed) or nats (a fresh JetStream stream)"
        ),
    ] = "sqlite",
    nats_url: Annotated[str, typer.Option(help="nats: the server(s)")] = "nats://127.0.0.1:4222",
    stream: Annotated[
        str | None, typer.Option(help="nats: the stream (default: a fresh LFR_DEMO_<time>)")
    ] = None,
    nodes: Annotated[
        int,
        typer.Option(
            help="1: one process; 3: a site of three processes (two camera nodes, one core "
            "node) linked by NATS, appending to one JetStream log (implies --engine nats)"
        ),
    ] = 1,
) -> None:
    """Run the demo: generated street scenes on four RTSP cameras in two zones, a supervisor,
    three patrols, officers on MQTT, a patrol leaving, the deployments ending; then the
    transparency report (report.html) and the log's verification.

    Exits 2 if a check fails: missed subject, false alert, analysis while disarmed, bad log."""
    import time

    import anyio

    from lfr.cli._common import fail, print_json
    from lfr.demo import DemoOptions, PlainUI, RichUI, run_demo
    from lfr.errors import ANY_LFR_ERROR
    from lfr.store.config import StoreConfig

    if engine not in ("sqlite", "nats"):
        fail(f"--engine {engine!r}: sqlite or nats")
    if nodes not in (1, 3):
        fail(f"--nodes {nodes}: 1 (one process) or 3 (two camera nodes and a core node)")
    if nodes == 3 and engine != "nats":
        from lfr.cli._common import err_console

        err_console.print(
            "[dim]--nodes 3: three processes append to one log, so it is kept in JetStream "
            "(--engine nats)[/]"
        )
        engine = "nats"
    store = (
        StoreConfig(
            engine="nats",
            url=nats_url,
            stream=stream or f"LFR_DEMO_{time.strftime('%Y%m%d_%H%M%S')}",
        )
        if engine == "nats"
        else None
    )
    opts = DemoOptions(
        store=store,
        seconds=seconds,
        data_dir=data_dir,
        gallery=gallery,
        otlp=otlp,
        seed=seed,
        threshold=threshold,
        analyse_fps=analyse_fps,
        nodes=nodes,
    )
    _demo_keys()
    tui = not no_tui and sys.stderr.isatty()
    ui = RichUI() if tui else PlainUI()
    try:
        with ui:
            result = anyio.run(run_demo, opts, ui, backend="asyncio")
    except Exception as exc:  # task groups wrap errors; report ours plainly, re-raise the rest
        mine = _lfr_errors(exc, ANY_LFR_ERROR)
        if not mine:
            raise
        fail("; ".join(str(e) for e in mine))
    ok = (
        result["chain_verified"]
        and result["false_alerts"] == 0
        and result["subjects_alerted"] == result["subjects_walked"]
        and result["frames_analysed_while_disarmed"] == 0
    )
    where = (
        f"--engine nats --nats-url {store.url} --stream {store.stream}"
        if store is not None
        else f"--data-dir {result['data_dir']}"
    )
    sys.stderr.write(
        f"\nreport: {result['report']}\nlog verified: {result['chain_verified']} "
        f"({result['events']} events) — check it yourself: lfr audit verify {where}\n"
    )
    if json_out:
        print_json(result)
    if not ok:
        raise typer.Exit(2)


def _lfr_errors(exc: BaseException, kinds: tuple[type[Exception], ...]) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [e for sub in exc.exceptions for e in _lfr_errors(sub, kinds)]
    return [exc] if isinstance(exc, kinds) else []


def _demo_keys() -> None:
    """The demo runs with no setup: without the vault's key-encryption key or the log's
    checkpoint signing key in the environment it uses (creating each once) a file in
    `<config dir>`, outside every data directory, and says so."""
    import os

    from lfr.cli._common import err_console, plain
    from lfr.config import settings
    from lfr.store import checkpoint
    from lfr.vault import KEK_ENV, KEK_FILE_ENV, create_kek_file

    keys = (
        ("vault key-encryption key", KEK_ENV, KEK_FILE_ENV, "vault.kek", create_kek_file),
        (
            "checkpoint signing key",
            checkpoint.KEY_ENV,
            checkpoint.KEY_FILE_ENV,
            "checkpoint_ed25519.pem",
            checkpoint.create_signing_key_file,
        ),
    )
    for what, inline, from_file, name, create in keys:
        if os.environ.get(inline) or os.environ.get(from_file):
            continue
        path = create(settings().config_dir / name)
        os.environ[from_file] = str(path)
        err_console.print(
            f"[dim]{what}: {plain(path)} (outside the data directory; set "
            f"{from_file} or {inline} to use another)[/]"
        )
