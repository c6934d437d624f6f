"""`lfr audit`: the auditor's read-only tools over a site's event log.

Every command opens the log read-only; none of them can change it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

__all__ = ["app", "check_proof", "export", "proof", "public_key_cmd", "replay", "verify"]

if TYPE_CHECKING:
    from lfr.store.sqlite import SqliteLog

app = typer.Typer(
    help="Verify, export, prove and replay the tamper-evident event log (read-only).",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        "-d",
        help="the site's data directory (holds events.sqlite); default: $LFR_DATA_DIR",
    ),
]


def _data_dir(data_dir: Path | None) -> Path:
    if data_dir is not None:
        return data_dir
    from lfr.config import settings

    return settings().data_dir


def _open_log(data_dir: Path | None) -> SqliteLog:
    from lfr.cli._common import fail
    from lfr.store.base import StoreError
    from lfr.store.sqlite import LOG_FILE, SqliteLog

    path = _data_dir(data_dir) / LOG_FILE
    try:
        return SqliteLog(path, read_only=True)
    except StoreError as exc:
        fail(str(exc), code=2)


def _parse_time(value: str, option: str) -> datetime:
    from lfr.cli._common import fail

    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 time, e.g. 2026-11-26T18:00:00Z")
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _load_public_key(path: Path) -> Any:
    from lfr.cli._common import fail
    from lfr.store.base import StoreError
    from lfr.store.checkpoint import load_public_key

    try:
        return load_public_key(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read the public key {path}: {exc.strerror}")
    except StoreError as exc:
        fail(f"{path}: {exc}")


@app.command("verify")
def verify(
    data_dir: DataDir = None,
    public_key: Annotated[
        Path | None,
        typer.Option(help="PEM public key to check signatures with (pins the site's key)"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Check the hash chain, every row and every signed checkpoint.

    Exit 0 when the log is intact; otherwise exit 1 naming the first bad position.
    """
    from rich.progress import Progress

    from lfr.cli._common import err_console, print_json
    from lfr.store.verify import verify_log

    key = _load_public_key(public_key) if public_key is not None else None
    log = _open_log(data_dir)
    try:
        total = log.last_seq()
        with Progress(console=err_console, transient=True, disable=total < 200_000) as bar:
            task = bar.add_task("verifying", total=total)
            result = verify_log(
                log, public_key=key, progress=lambda n: bar.update(task, completed=n)
            )
    finally:
        log.close()
    if json_out:
        print_json(result.to_dict())
    elif result.ok:
        typer.echo(
            f"OK {result.path}: {result.events} events chained, "
            f"{result.checkpoints_verified} signed checkpoints verified "
            f"(key {result.key_id}, {result.key_source})"
        )
        for note in result.notes:
            typer.echo(f"note: {note}")
    else:
        err_console.print(
            f"[bold red]BROKEN[/] {result.path} at seq {result.first_bad_seq}: {result.problem}",
            soft_wrap=True,
        )
        err_console.print(
            f"{result.events} events before it verified; do not trust anything from seq "
            f"{result.first_bad_seq} on. Keep this file as evidence and compare with a backup.",
            soft_wrap=True,
        )
    raise typer.Exit(0 if result.ok else 1)


@app.command("export")
def export(
    data_dir: DataDir = None,
    from_seq: Annotated[int, typer.Option("--from", min=1, help="first seq to export")] = 1,
    until: Annotated[
        str | None,
        typer.Option(help="only events recorded at or before this ISO 8601 time"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Print the log as NDJSON, one envelope per line, exactly as hashed (plus `hash`).

    An event whose sealed personal fields retention has erased also carries
    `"erased": {"at": ..., "fields": [...]}` (read from the vault's tombstones, no key
    needed). Each line re-hashes with: sha256 of the compact, key-sorted JSON of the line
    without its `hash` and `erased` fields.
    """
    import orjson

    from lfr.cli._common import err_console
    from lfr.store.hashchain import format_time
    from lfr.vault import BiometricVault

    limit = format_time(_parse_time(until, "--until")) if until else None
    log = _open_log(data_dir)
    erased = BiometricVault.tombstones(_data_dir(data_dir))
    marked = 0
    out = output.open("wb") if output is not None else sys.stdout.buffer
    try:
        for _seq, body, h in log.iter_rows(from_seq=from_seq):
            rec = orjson.loads(body)
            if limit is not None and rec["recorded_at"] > limit:
                continue
            rec["hash"] = h
            sealed = rec["payload"].get("sealed")
            if sealed and sealed.get("key_ref") in erased:
                rec["erased"] = {"at": erased[sealed["key_ref"]], "fields": sealed["fields"]}
                marked += 1
            out.write(orjson.dumps(rec, option=orjson.OPT_SORT_KEYS) + b"\n")
    except BrokenPipeError:
        pass
    finally:
        log.close()
        if output is not None:
            out.close()
        else:
            out.flush()
    if marked:
        err_console.print(f"{marked} event(s) with personal fields erased by retention")


@app.command("proof")
def proof(
    event_id: Annotated[str, typer.Argument(help="the event's id (UUID)")],
    data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here")] = None,
) -> None:
    """Write an inclusion proof of one event against a signed checkpoint (JSON)."""
    import orjson

    from lfr.cli._common import fail
    from lfr.store.base import StoreError
    from lfr.store.proof import make_proof

    log = _open_log(data_dir)
    try:
        doc = make_proof(log, event_id)
    except StoreError as exc:
        fail(str(exc))
    finally:
        log.close()
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if output is not None:
        output.write_bytes(data)
        typer.echo(f"proof of seq {doc['envelope']['seq']} written to {output}", err=True)
    else:
        sys.stdout.buffer.write(data)


@app.command("check-proof")
def check_proof(
    file: Annotated[Path, typer.Argument(help="a proof written by `lfr audit proof`")],
    public_key: Annotated[
        Path, typer.Option(help="the site's PEM public key (`lfr audit public-key`)")
    ],
) -> None:
    """Check an inclusion proof with nothing but the proof and the public key."""
    import orjson

    from lfr.cli._common import fail
    from lfr.store.proof import check_proof as check

    key = _load_public_key(public_key)
    try:
        doc = orjson.loads(file.read_bytes())
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    except orjson.JSONDecodeError as exc:
        fail(f"{file} is not JSON: {exc}")
    if not isinstance(doc, dict):
        fail(f"{file} is not an lfr inclusion proof")
    ok, message = check(doc, key)
    if ok:
        typer.echo(f"VALID: {message}")
    else:
        fail(f"INVALID proof {file}: {message}")


@app.command("replay")
def replay(
    data_dir: DataDir = None,
    until: Annotated[
        str | None,
        typer.Option(help="the audit view as it stood at this ISO 8601 time (default: now)"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Rebuild the audit view from the log alone (in memory) and print it.

    With --until, only events recorded at or before that time count.
    """
    from lfr.cli._common import fail, print_json
    from lfr.projections import ProjectionError, ViewDb
    from lfr.store.hashchain import format_time

    cutoff = _parse_time(until, "--until") if until else None
    limit = format_time(cutoff) if cutoff else None
    log = _open_log(data_dir)
    views = ViewDb(":memory:", source=str(log.path))
    try:
        pos = 0
        while records := log.read_records(from_seq=pos + 1, limit=20_000, with_hash=False):
            if limit is not None and records[-1]["recorded_at"] > limit:
                # the log as it stood then: the prefix recorded by `until` (one writer
                # records in seq order)
                records = [r for r in records if r["recorded_at"] <= limit]
                views.apply(records)
                break
            pos = views.apply(records)
        report = views.report(as_of=cutoff)
    except ProjectionError as exc:
        fail(str(exc), code=2)
    finally:
        log.close()
        views.close()
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    typer.echo(f"audit view at seq {report.as_of_seq}" + (f", {until}" if until else ""))
    for dep in report.deployments:
        c = dep.counts
        typer.echo(
            f"\n{dep.deployment_id} {dep.zone} [{dep.status}] authorised by {dep.authorised_by} "
            f"({dep.legal_basis}), {dep.starts_at:%Y-%m-%d %H:%M} to {dep.ends_at:%H:%M}"
        )
        typer.echo(
            f"  frames analysed {c.frames_analysed}, discarded {c.frames_discarded}, faces seen "
            f"{c.faces_seen}, matches {c.matches}, alerts {c.alerts} (true {c.true_alerts}, "
            f"false {c.false_alerts}), engagements {c.engagements}"
        )
        for entry in dep.timeline:
            typer.echo(f"  {entry.at:%H:%M:%S} #{entry.seq} {entry.summary}")
    for dep_id, c in report.unattributed.items():
        typer.echo(
            f"\nWARNING: {c.frames_analysed} frames analysed under {dep_id}, which the log "
            "never authorised"
        )


@app.command("public-key")
def public_key_cmd(
    data_dir: DataDir = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here")] = None,
) -> None:
    """Print the site's checkpoint public key (PEM), for auditors to pin."""
    from lfr.cli._common import fail

    log = _open_log(data_dir)
    try:
        pem = log.public_key_pem()
    finally:
        log.close()
    if not pem:
        fail("this log has no signing key recorded")
    if output is not None:
        output.write_text(pem)
        typer.echo(f"public key written to {output}", err=True)
    else:
        typer.echo(pem, nl=False)
