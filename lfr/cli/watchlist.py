"""`lfr watchlist`: add, import, list, remove and publish watchlist entries (LanceDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    help="Manage watchlists and publish the version cameras arm with.", no_args_is_help=True
)

Store = Annotated[
    Path | None, typer.Option("--store", help="LanceDB folder (default: <LFR_DATA_DIR>/watchlist)")
]
Name = Annotated[str, typer.Option("--watchlist", "-w", help="watchlist name")]
By = Annotated[str, typer.Option("--by", help="who is doing this (recorded)")]
Category = Annotated[
    str,
    typer.Option(
        help="wanted_by_police | wanted_by_courts | suspect | missing_person | "
        "vulnerable_person | risk_to_self_or_others"
    ),
]
LegalBasis = Annotated[str, typer.Option("--legal-basis", help="the lawful basis for inclusion")]
Expires = Annotated[int, typer.Option("--expires-in-days", help="days until the entry expires")]
Log = Annotated[
    bool,
    typer.Option(
        "--log/--no-log",
        help="record the change as an event in <LFR_DATA_DIR>/events.sqlite",
    ),
]


def _journal(log: bool, watchlist: str, events: list[Any]) -> None:
    """Record watchlist changes in the site's event log (the audit trail)."""
    if not log or not events:
        return
    from lfr.cli._common import err_console, fail
    from lfr.config import settings
    from lfr.errors import LfrError
    from lfr.watchlist.journal import record

    try:
        seq = record(settings().data_dir, watchlist, events)
    except LfrError as exc:
        fail(f"the change is stored but could not be logged: {exc}")
    err_console.print(f"[dim]logged {len(events)} event(s) on watchlist:{watchlist}, seq {seq}[/]")


def _store(store: Path | None, name: str) -> Any:
    from lfr.cli._common import fail
    from lfr.watchlist import WatchlistError, WatchlistStore

    try:
        return WatchlistStore(store, name)
    except WatchlistError as exc:
        fail(str(exc))


def _pipeline() -> Any:
    from lfr.cli._common import fail
    from lfr.vision.errors import ModelError
    from lfr.vision.pipeline import FacePipeline

    try:
        return FacePipeline.from_pack(FacePipeline.config_from_env())
    except ModelError as exc:
        fail(str(exc))


def _check_category(category: str) -> None:
    from lfr.cli._common import fail
    from lfr.watchlist import CATEGORIES

    if category not in CATEGORIES:
        fail(f"--category {category!r} is not one of: {', '.join(CATEGORIES)}")


@app.command("add")
def add(
    photos: Annotated[list[Path], typer.Argument(help="one or more photos of the person")],
    label: Annotated[str, typer.Option(help="name or case reference shown to officers")],
    category: Category,
    legal_basis: LegalBasis,
    by: By,
    image_source: Annotated[
        str | None, typer.Option(help="where the force lawfully holds the image")
    ] = None,
    entry_id: Annotated[
        str | None, typer.Option("--id", help="entry id (default: generated)")
    ] = None,
    box: Annotated[
        str | None,
        typer.Option(
            help="the person's face box x1,y1,x2,y2 in pixels, for a photo with several "
            "people (applies to every photo given)"
        ),
    ] = None,
    expires_in_days: Expires = 28,
    store: Store = None,
    watchlist: Name = "default",
    log: Log = True,
) -> None:
    """Enrol one person from every photo that shows them clearly; refused photos are listed.

    The subject of a photo is the face nearest the centre, weighted by size; a photo where
    that is unclear is refused (crop it, or give --box).
    """
    import uuid

    from lfr.cli._common import err_console, fail
    from lfr.vision.errors import EnrolmentError
    from lfr.watchlist import WatchlistError
    from lfr.watchlist.enrol import embed_photos

    _check_category(category)
    subject_box = _parse_box(box)
    enrolled = embed_photos(_pipeline(), photos, boxes=[subject_box] * len(photos))
    if not enrolled.vectors:
        fail(str(enrolled.error()))
    for refusal in enrolled.refused:
        err_console.print(f"[yellow]refused:[/] {refusal}")
    try:
        entry = enrolled.entry(
            entry_id=entry_id or f"wl-{uuid.uuid4().hex[:12]}",
            label=label,
            category=category,
            legal_basis=legal_basis,
            image_source=image_source or ", ".join(enrolled.sources),
            added_by=by,
            expires_at=datetime.now(UTC) + timedelta(days=expires_in_days),
        )
    except EnrolmentError as exc:
        fail(str(exc))
    finally:
        enrolled.forget()
    try:
        _store(store, watchlist).add(entry)
    except WatchlistError as exc:
        fail(str(exc))
    from lfr.watchlist.journal import added

    _journal(log, watchlist, [added(watchlist, entry)])
    err_console.print(f"enrolled from {entry.photos} photo(s), {len(enrolled.refused)} refused")
    typer.echo(entry.entry_id)


def _parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    from lfr.cli._common import fail

    if text is None:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"--box {text!r} must be four numbers x1,y1,x2,y2 (pixels)")
    if not (x2 > x1 and y2 > y1):
        fail(f"--box {text!r} must have x2 > x1 and y2 > y1")
    return x1, y1, x2, y2


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(help="folder of <identity>/<image> sub-folders")],
    category: Category,
    legal_basis: LegalBasis,
    by: By,
    expires_in_days: Expires = 28,
    store: Store = None,
    watchlist: Name = "default",
    log: Log = True,
) -> None:
    """Enrol one entry per identity folder (refused photos are listed, the rest go in)."""
    from lfr.cli._common import err_console, fail
    from lfr.vision.errors import EnrolmentError
    from lfr.watchlist import WatchlistError
    from lfr.watchlist.enrol import entries_from_directory

    _check_category(category)
    refused: list[EnrolmentError] = []
    target = _store(store, watchlist)
    try:
        entries = entries_from_directory(
            _pipeline(),
            directory,
            category=category,
            legal_basis=legal_basis,
            added_by=by,
            expires_at=datetime.now(UTC) + timedelta(days=expires_in_days),
            on_refused=refused.append,
            progress=lambda msg: err_console.print(f"[dim]import:[/] {msg}"),
        )
        for entry in entries:
            target.add(entry)
    except (EnrolmentError, WatchlistError) as exc:
        fail(str(exc))
    from lfr.watchlist.journal import added

    _journal(log, watchlist, [added(watchlist, e) for e in entries])
    for refusal in refused:
        err_console.print(f"[yellow]refused:[/] {refusal}")
    err_console.print(
        f"{len(entries)} entries added to {watchlist!r}, {len(refused)} photos refused"
    )


@app.command("list")
def list_(
    versions: Annotated[bool, typer.Option("--versions", help="list published versions")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    store: Store = None,
    watchlist: Name = "default",
) -> None:
    """List entries (metadata only, never embeddings) or published versions."""
    from lfr.cli._common import print_json

    target = _store(store, watchlist)
    if versions:
        rows: list[dict[str, Any]] = [
            {
                "version": p.version,
                "entries": p.entries,
                "published_by": p.published_by,
                "published_at": p.published_at.isoformat(),
                "valid_until": p.valid_until.isoformat(),
            }
            for p in target.publications()
        ]
    else:
        now = datetime.now(UTC)
        rows = [e.metadata() | {"expired": e.expired(now)} for e in target.entries()]
    if json_out:
        print_json({"watchlist": watchlist, "versions" if versions else "entries": rows})
        return
    shown = (
        ("version", "entries", "published_at")
        if versions
        else ("entry_id", "label", "category", "expires_at", "expired")
    )
    rows = [{k: row[k] for k in shown} for row in rows]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"watchlist {watchlist!r}" + (" versions" if versions else ""))
    for key in shown:
        table.add_column(key)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)


@app.command("remove")
def remove(
    entry_id: Annotated[str, typer.Argument(help="the entry to remove")],
    by: By,
    reason: Annotated[str, typer.Option(help="why it is removed (recorded)")],
    store: Store = None,
    watchlist: Name = "default",
    log: Log = True,
) -> None:
    """Remove an entry from the editable list; publish again to take it off cameras."""
    from lfr.cli._common import err_console, fail
    from lfr.watchlist import WatchlistError

    try:
        entry = _store(store, watchlist).remove(entry_id)
    except WatchlistError as exc:
        fail(str(exc))
    from lfr.watchlist.journal import removed

    _journal(log, watchlist, [removed(watchlist, entry.entry_id, by, reason)])
    err_console.print(
        f"removed {entry.entry_id} ({entry.label}) by {by}: {reason}; "
        "run `lfr watchlist publish` to take it off the armed version"
    )


@app.command("publish")
def publish(
    by: By,
    valid_hours: Annotated[float, typer.Option(help="hours the version stays valid")] = 24.0,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    store: Store = None,
    watchlist: Name = "default",
    log: Log = True,
) -> None:
    """Freeze the unexpired entries as a version named by its content hash; prints it."""
    from lfr.cli._common import err_console, fail, print_json
    from lfr.watchlist import WatchlistError

    try:
        p = _store(store, watchlist).publish(by, timedelta(hours=valid_hours))
    except WatchlistError as exc:
        fail(str(exc))
    from lfr.watchlist.journal import published

    if p.reused:
        err_console.print("[dim]unchanged since that version was published: nothing logged[/]")
    else:
        _journal(log, watchlist, [published(p)])
    if json_out:
        print_json(
            {
                "watchlist": p.watchlist,
                "version": p.version,
                "entries": p.entries,
                "published_by": p.published_by,
                "published_at": p.published_at.isoformat(),
                "valid_until": p.valid_until.isoformat(),
            }
        )
    else:
        typer.echo(p.version)
