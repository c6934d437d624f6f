# One module past 450 lines on purpose: the auditor's commands share their options and the
# engine-neutral opening of a log; each command is short. A split per command is due if it grows.
"""`lfr audit`: the auditor's read-only tools over a site's event log.

Every command opens the log read-only; none of them can change it. `verify` (and `replay`,
which verifies first) checks the log against itself and, with `--witness FILE`,
`--trusted-checkpoint FILE` or `--min-tree-size N`, against what is held outside it;
`checkpoint` and `consistency` give and check the RFC 9162 proofs between two checkpoints;
`keygen` makes a signing key and `witness serve` runs a witness as its own process.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

__all__ = [
    "app",
    "check_proof",
    "checkpoint_cmd",
    "consistency",
    "export",
    "keygen",
    "proof",
    "public_key_cmd",
    "replay",
    "verify",
    "witness_serve",
]

if TYPE_CHECKING:
    from lfr.store.config import StoreConfig
    from lfr.store.source import AuditSource
    from lfr.store.verify import Anchor, VerifyResult

app = typer.Typer(
    help="Verify, export, prove and replay the tamper-evident event log (read-only).",
    no_args_is_help=True,
)

PublicKey = Annotated[
    Path | None,
    typer.Option(help="PEM public key to check signatures with (pins the site's key)"),
]
Witnesses = Annotated[
    list[Path] | None,
    typer.Option(
        "--witness",
        help="a witness file (repeatable): the log must hold every checkpoint it countersigned "
        "and extend it",
    ),
]
WitnessKey = Annotated[
    Path | None,
    typer.Option(help="PEM public key of the witness (default: the one its file names)"),
]
Trusted = Annotated[
    list[Path] | None,
    typer.Option(
        "--trusted-checkpoint",
        help="a checkpoint kept earlier (`lfr audit checkpoint`, a witness entry, a proof); "
        "repeatable: the log must extend it",
    ),
]
MinTreeSize = Annotated[
    int, typer.Option("--min-tree-size", min=0, help="fail if the log has fewer events")
]

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


EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="where the log is: sqlite (the data directory's events.sqlite) or nats (a "
        "JetStream stream); default: the --config's [store], else sqlite",
    ),
]
NatsUrl = Annotated[
    str | None, typer.Option("--nats-url", help="nats: the server (default nats://127.0.0.1:4222)")
]
StreamOpt = Annotated[
    str | None, typer.Option("--stream", help="nats: the log's stream (default LFR_EVENTS)")
]
Creds = Annotated[Path | None, typer.Option("--creds", help="nats: a .creds file to log in with")]
PartitionOpt = Annotated[
    str | None,
    typer.Option(
        "--partition",
        help="nats: --stream is a partitioned log's base name; verify this partition of it "
        "(its chain and checkpoints, and its heads in the signed heads statements), or 'all' "
        "(every partition and every statement)",
    ),
]
SiteConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="a site TOML: its [store] says where the log is"),
]


def _store_config(
    engine: str | None,
    nats_url: str | None,
    stream: str | None,
    creds: Path | None,
    config: Path | None,
) -> StoreConfig:
    """The `[store]` to read: the site config's, with the options given on top."""
    from pydantic import ValidationError

    from lfr.cli._common import fail
    from lfr.errors import ConfigError
    from lfr.store.config import StoreConfig

    base = StoreConfig()
    if config is not None:
        from lfr.site import load_site_config

        try:
            base = load_site_config(config).store
        except ConfigError as exc:
            fail(str(exc), code=2)
    changes: dict[str, Any] = {}
    if engine is not None:
        changes["engine"] = engine
    elif nats_url is not None or stream is not None:
        changes["engine"] = "nats"
    if nats_url is not None:
        changes["url"] = nats_url
    if stream is not None:
        changes["stream"] = stream
    if creds is not None:
        changes["creds"] = creds
    if not changes:
        return base
    try:
        return StoreConfig.model_validate({**base.model_dump(exclude_unset=True), **changes})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"--engine/--nats-url/--stream: {problems}", code=2)


def _open_log(
    data_dir: Path | None,
    engine: str | None = None,
    nats_url: str | None = None,
    stream: str | None = None,
    creds: Path | None = None,
    config: Path | None = None,
) -> AuditSource:
    """The log, read-only, on whichever engine holds it."""
    from lfr.cli._common import fail
    from lfr.store.base import StoreError
    from lfr.store.source import open_audit_source

    store = _store_config(engine, nats_url, stream, creds, config)
    try:
        if store.engine == "sqlite":
            return open_audit_source(store, _data_dir(data_dir or store.data_dir))
        return open_audit_source(store, data_dir)
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


def _read_json(path: Path, what: str) -> Any:
    import orjson

    from lfr.cli._common import fail

    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror}", code=2)
    except orjson.JSONDecodeError as exc:
        fail(f"{what} {path} is not JSON: {exc}", code=2)


def _anchors(
    log: AuditSource, witnesses: list[Path], witness_key: Path | None, trusted: list[Path]
) -> tuple[list[Anchor], str | None]:
    """The checkpoints held outside the log, or what is wrong with a witness (a problem)."""
    from lfr.cli._common import fail
    from lfr.store.verify import Anchor
    from lfr.store.witness import WitnessError, checkpoint_of_document, read_witness_file

    key = _load_public_key(witness_key) if witness_key is not None else None
    anchors: list[Anchor] = []
    for path in witnesses:
        if not path.exists():
            fail(f"no witness file at {path}", code=2)
        try:
            held = read_witness_file(path, key)
        except WitnessError as exc:
            return anchors, str(exc)
        refused = held.refusals_of(log.log_id)
        if refused:
            r = refused[0]
            return anchors, (
                f"the witness {path} holds a checkpoint of this log, signed by its key, that it "
                f"refused at {r.witnessed_at}: {r.refused}"
            )
        entries = held.of_log(log.log_id)
        if not entries:
            return anchors, (
                f"the witness {path} never witnessed this log (id {log.log_id}): it is another "
                "site's witness, or this log was replaced"
            )
        anchors += [
            Anchor(e.checkpoint, f"the witness {path} (countersigned at {e.witnessed_at})")
            for e in entries
        ]
    for path in trusted:
        try:
            cp = checkpoint_of_document(_read_json(path, "the checkpoint"))
        except ValueError as exc:
            fail(f"{path}: {exc}", code=2)
        anchors.append(Anchor(cp, f"the trusted checkpoint {path}"))
    return anchors, None


def _verified(
    log: AuditSource,
    *,
    public_key: Path | None,
    witnesses: list[Path] | None,
    witness_key: Path | None,
    trusted: list[Path] | None,
    min_tree_size: int,
) -> VerifyResult:
    from rich.progress import Progress

    from lfr.cli._common import err_console
    from lfr.store.verify import VerifyResult, verify_log

    key = _load_public_key(public_key) if public_key is not None else None
    anchors, problem = _anchors(log, witnesses or [], witness_key, trusted or [])
    if problem is not None:
        return VerifyResult(path=log.where, first_bad_seq=None, problem=problem)
    total = log.last_seq()
    with Progress(console=err_console, transient=True, disable=total < 200_000) as bar:
        task = bar.add_task("verifying", total=total)
        return verify_log(
            log,
            public_key=key,
            progress=lambda n: bar.update(task, completed=n),
            anchors=anchors,
            min_tree_size=min_tree_size,
        )


def _summary(result: VerifyResult) -> str:
    text = (
        f"{result.events} events chained, {result.checkpoints_verified} signed checkpoints "
        f"verified (key {result.key_id}, {result.key_source})"
    )
    if result.anchors_verified:
        text += (
            f"; {result.anchors_verified} checkpoints held outside the log match it (up to "
            f"tree size {result.anchored_size})"
        )
    return text


def _report_broken(result: VerifyResult) -> None:
    from rich.markup import escape

    from lfr.cli._common import err_console

    where = f" at seq {result.first_bad_seq}" if result.first_bad_seq is not None else ""
    err_console.print(
        f"[bold red]BROKEN[/] {escape(result.path)}{where}: {escape(result.problem or '')}",
        soft_wrap=True,
    )
    since = (
        f"from seq {result.first_bad_seq} on" if result.first_bad_seq is not None else "in this log"
    )
    err_console.print(
        f"{result.events} events before it verified; do not trust anything {since}. Keep "
        "this file as evidence and compare with a backup.",
        soft_wrap=True,
    )


@app.command("verify")
def verify(
    data_dir: DataDir = None,
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
    public_key: PublicKey = None,
    witness: Witnesses = None,
    witness_key: WitnessKey = None,
    trusted_checkpoint: Trusted = None,
    min_tree_size: MinTreeSize = 0,
    partition: PartitionOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Check the hash chain, every row and every signed checkpoint, and (with --witness,
    --trusted-checkpoint, --min-tree-size) that the log still holds and extends what was
    witnessed: a log rewritten and re-signed with its own key, truncated, or stripped of its
    checkpoints fails. With --partition, a partitioned log: each partition so, and the signed
    statements of every partition's head (a Merkle tree of heads) against them.

    Exit 0 when the log is intact; otherwise exit 1 naming the first bad position.
    """
    from lfr.cli._common import print_json

    if partition is not None:
        _verify_partitions(
            _store_config(engine, nats_url, stream, creds, config),
            partition,
            public_key=public_key,
            json_out=json_out,
        )
    log = _open_log(data_dir, engine, nats_url, stream, creds, config)
    try:
        result = _verified(
            log,
            public_key=public_key,
            witnesses=witness,
            witness_key=witness_key,
            trusted=trusted_checkpoint,
            min_tree_size=min_tree_size,
        )
    finally:
        log.close()
    if json_out:
        print_json(result.to_dict())
    elif result.ok:
        typer.echo(f"OK {result.path}: {_summary(result)}")
        for note in result.notes:
            typer.echo(f"note: {note}")
    else:
        _report_broken(result)
    raise typer.Exit(0 if result.ok else 1)


def _verify_partitions(
    store: StoreConfig, partition: str, *, public_key: Path | None, json_out: bool
) -> NoReturn:
    from rich.markup import escape

    from lfr.cli._common import err_console, fail, print_json
    from lfr.store.base import StoreError

    if store.engine != "nats":
        fail("--partition: only a NATS log is partitioned (give --engine nats)", code=2)
    from lfr.store.partitions import verify_partitions

    key = _load_public_key(public_key) if public_key is not None else None
    try:
        result = verify_partitions(
            store.url,
            store.stream,
            only=None if partition == "all" else partition,
            public_key=key,
            creds=store.creds,
            user=store.user,
            password=store.secret(store.password_env),
            token=store.secret(store.token_env),
        )
    except StoreError as exc:
        fail(str(exc), code=2)
    if json_out:
        print_json(result.to_dict())
    else:
        for name, r in result.partitions.items():
            if r.ok:
                typer.echo(f"OK partition {name} ({r.path}): {_summary(r)}")
            else:
                _report_broken(r)
        for problem in result.problems:
            err_console.print(f"[bold red]BROKEN[/] {escape(problem)}", soft_wrap=True)
        if result.ok:
            typer.echo(
                f"OK {result.log}: {len(result.partitions)} partition(s), {result.events} "
                f"events; {result.statements} signed heads statements hold (newest root "
                f"{result.heads_root}, heads {result.newest_heads})"
            )
    raise typer.Exit(0 if result.ok else 1)


@app.command("export")
def export(
    data_dir: DataDir = None,
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
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
    log = _open_log(data_dir, engine, nats_url, stream, creds, config)
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
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here")] = None,
) -> None:
    """Write an inclusion proof of one event against a signed checkpoint (JSON)."""
    import orjson

    from lfr.cli._common import fail
    from lfr.store.base import StoreError
    from lfr.store.proof import make_proof

    log = _open_log(data_dir, engine, nats_url, stream, creds, config)
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
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
    until: Annotated[
        str | None,
        typer.Option(help="the audit view as it stood at this ISO 8601 time (default: now)"),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    public_key: PublicKey = None,
    witness: Witnesses = None,
    witness_key: WitnessKey = None,
    no_verify: Annotated[
        bool,
        typer.Option("--no-verify", help="replay without verifying the log first (says so)"),
    ] = False,
) -> None:
    """Verify the log (as `lfr audit verify`), then rebuild the audit view from it alone (in
    memory) and print it; a log that does not verify is not replayed (exit 1).

    With --until, only events recorded at or before that time count.
    """
    from lfr.cli._common import err_console, fail, print_json
    from lfr.projections import ProjectionError, ViewDb
    from lfr.store.hashchain import format_time

    cutoff = _parse_time(until, "--until") if until else None
    limit = format_time(cutoff) if cutoff else None
    log = _open_log(data_dir, engine, nats_url, stream, creds, config)
    if no_verify:
        err_console.print(
            "[bold yellow]WARNING: NOT VERIFIED[/] (--no-verify): this replay trusts the log "
            "as it is; run `lfr audit verify` before relying on it",
            soft_wrap=True,
        )
    else:
        try:
            checked = _verified(
                log,
                public_key=public_key,
                witnesses=witness,
                witness_key=witness_key,
                trusted=None,
                min_tree_size=0,
            )
        except BaseException:
            log.close()
            raise
        if not checked.ok:
            log.close()
            _report_broken(checked)
            err_console.print("not replayed: the log does not verify (--no-verify to force)")
            raise typer.Exit(1)
        err_console.print(f"verified: {_summary(checked)}", soft_wrap=True, markup=False)
    views = ViewDb(":memory:", source=log.where)
    try:
        for records in log.iter_records(chunk=20_000):
            if limit is not None and records[-1]["recorded_at"] > limit:
                # the log as it stood then: the prefix recorded by `until` (one writer
                # records in seq order)
                views.apply([r for r in records if r["recorded_at"] <= limit])
                break
            views.apply(records)
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
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here")] = None,
) -> None:
    """Print the site's checkpoint public key (PEM), for auditors to pin."""
    from lfr.cli._common import fail

    log = _open_log(data_dir, engine, nats_url, stream, creds, config)
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


@app.command("checkpoint")
def checkpoint_cmd(
    data_dir: DataDir = None,
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
    tree_size: Annotated[
        int | None, typer.Option(min=0, help="the checkpoint of this tree size (default: newest)")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here")] = None,
) -> None:
    """Print a signed checkpoint of the log (JSON): keep it, and later hold the log to it with
    `verify --trusted-checkpoint` or `consistency`."""
    import orjson

    from lfr.cli._common import fail

    log = _open_log(data_dir, engine, nats_url, stream, creds, config)
    try:
        checkpoints = log.checkpoints()
    finally:
        log.close()
    if tree_size is not None:
        checkpoints = [c for c in checkpoints if c.tree_size == tree_size]
    if not checkpoints:
        fail("no signed checkpoint" + (f" of tree size {tree_size}" if tree_size else ""))
    data = orjson.dumps(checkpoints[-1].to_dict(), option=orjson.OPT_SORT_KEYS) + b"\n"
    if output is not None:
        output.write_bytes(data)
        typer.echo(f"checkpoint of tree size {checkpoints[-1].tree_size} written to {output}")
    else:
        sys.stdout.buffer.write(data)


CONSISTENCY_FORMAT = "lfr.consistency-proof.v1"


@app.command("consistency")
def consistency(
    old: Annotated[Path, typer.Argument(help="the older checkpoint (JSON, or a witness entry)")],
    new: Annotated[Path, typer.Argument(help="the newer checkpoint")],
    data_dir: DataDir = None,
    engine: EngineOpt = None,
    nats_url: NatsUrl = None,
    stream: StreamOpt = None,
    creds: Creds = None,
    config: SiteConfigOpt = None,
    public_key: PublicKey = None,
    proof_file: Annotated[
        Path | None,
        typer.Option("--proof", help="check this proof (`-o` of an earlier run), without the log"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the proof here (JSON)")
    ] = None,
) -> None:
    """Prove (from the log) or check (--proof) that the tree of OLD is a prefix of the tree of
    NEW: RFC 9162 consistency. Both must be signed by the site's key (--public-key, else the
    one the log records). Exit 1 when they are not consistent."""
    import orjson

    from lfr.cli._common import fail
    from lfr.store import checkpoint as ckpt
    from lfr.store.base import StoreError
    from lfr.store.merkle import verify_consistency
    from lfr.store.witness import checkpoint_of_document

    try:
        a = checkpoint_of_document(_read_json(old, "the checkpoint"))
        b = checkpoint_of_document(_read_json(new, "the checkpoint"))
    except ValueError as exc:
        fail(str(exc), code=2)
    if a.log_id != b.log_id:
        fail(f"INCONSISTENT: {old} is of log {a.log_id}, {new} of log {b.log_id}")
    if a.tree_size > b.tree_size:
        a, b, old, new = b, a, new, old
    key = _load_public_key(public_key) if public_key is not None else None
    nodes: list[bytes]
    if proof_file is not None:
        doc = _read_json(proof_file, "the proof")
        try:
            if doc.get("format") != CONSISTENCY_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            nodes = [bytes.fromhex(h) for h in doc["proof"]]
            sizes = (int(doc["old_size"]), int(doc["new_size"]))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            fail(f"{proof_file} is not an lfr consistency proof ({exc})", code=2)
        if sizes != (a.tree_size, b.tree_size):
            fail(f"INCONSISTENT: {proof_file} proves tree sizes {sizes}, not these")
    else:
        log = _open_log(data_dir, engine, nats_url, stream, creds, config)
        try:
            if key is None and log.public_key_pem():
                key = ckpt.load_public_key(log.public_key_pem())
            nodes = log.consistency_proof(a.tree_size, b.tree_size)
        except StoreError as exc:
            fail(f"INCONSISTENT: the log cannot prove it: {exc}")
        finally:
            log.close()
    if key is None:
        fail("give the site's public key (--public-key) to check the signatures", code=2)
    for path, cp in ((old, a), (new, b)):
        if cp.key_id != ckpt.key_id(key) or not cp.verify(key):
            fail(f"INCONSISTENT: {path} is not signed by the key given (key {cp.key_id})")
    ok = verify_consistency(
        a.tree_size, b.tree_size, bytes.fromhex(a.root), bytes.fromhex(b.root), nodes
    )
    if output is not None:
        doc = {
            "format": CONSISTENCY_FORMAT,
            "log_id": a.log_id,
            "old_size": a.tree_size,
            "new_size": b.tree_size,
            "old_root": a.root,
            "new_root": b.root,
            "proof": [n.hex() for n in nodes],
        }
        output.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    if not ok:
        fail(
            f"INCONSISTENT: the tree of {a.tree_size} events ({old}) is not a prefix of the "
            f"tree of {b.tree_size} ({new}): the log was rewritten in between"
        )
    typer.echo(
        f"CONSISTENT: log {a.log_id}, tree size {a.tree_size} (root {a.root[:16]}…, signed "
        f"{a.signed_at}) is a prefix of tree size {b.tree_size} (root {b.root[:16]}…, signed "
        f"{b.signed_at}); proof of {len(nodes)} hashes"
    )


@app.command("keygen")
def keygen(
    file: Annotated[Path, typer.Argument(help="where to write the new key (PEM, mode 0600)")],
) -> None:
    """Make an Ed25519 signing key (a site's checkpoint key, or a witness's key) and print
    its public half. Keep it outside every data directory; back it up apart from the data."""
    from lfr.cli._common import fail
    from lfr.store import checkpoint as ckpt

    if file.exists():
        fail(f"{file} exists: a key is never overwritten")
    ckpt.create_signing_key_file(file)
    key = ckpt.load_or_create_signing_key(file, create=False)
    typer.echo(
        f"key {ckpt.key_id(key.public_key())} written to {file}; for the site: "
        f"export {ckpt.KEY_FILE_ENV}={file.resolve()}",
        err=True,
    )
    typer.echo(ckpt.public_key_pem(key.public_key()), nl=False)


witness_app = typer.Typer(
    help="Run a witness: an append-only record of a log's checkpoints, outside its storage.",
    no_args_is_help=True,
)
app.add_typer(witness_app, name="witness")


@witness_app.command("serve")
def witness_serve(
    file: Annotated[Path, typer.Argument(help="the witness file (created when absent)")],
    key: Annotated[
        Path | None, typer.Option(help="the witness's own key (default: <file>.key)")
    ] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0: any free port)")] = 8099,
) -> None:
    """Serve a file witness over HTTP for sites (`[log] witness = "http://host:port"`):
    `GET /latest/<log_id>`, `POST /checkpoints`. Runs until Ctrl-C."""
    from lfr.cli._common import err_console
    from lfr.store.witness import FileWitness, serve_witness

    server = serve_witness(FileWitness(file, key), host, port)
    bound = server.server_address[1]
    err_console.print(f"witness {file} on http://{host}:{bound}", markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err_console.print("stopped")
    finally:
        server.server_close()
