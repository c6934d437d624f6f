"""`lfr watchlist`: add, import, list, remove and publish watchlist entries.

Every command goes through `lfr.watchlist.WatchlistService`, as the API does: each change is
recorded in the site's log (`<LFR_DATA_DIR>/events.sqlite`) before LanceDB is written, and
each entry's reference photo is kept in the site's biometric vault. There is no way to
change a list without its audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

__all__ = ["add", "app", "import_", "list_", "publish", "remove"]

if TYPE_CHECKING:
    from lfr.vision.pipeline import FacePipeline
    from lfr.watchlist import WatchlistService

T = TypeVar("T")

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
Expires = Annotated[
    int,
    typer.Option(
        "--expires-in-days",
        help="days until the entry expires (at most LFR_WATCHLIST_MAX_EXPIRY_DAYS, default 31)",
    ),
]


def _expiry(days: int) -> datetime:
    """When an entry given `--expires-in-days` expires; outside 1..the policy's limit the
    command ends saying what is allowed."""
    from lfr.cli._common import fail
    from lfr.watchlist import max_expiry

    limit = max_expiry()
    if not 1 <= days <= limit.days:
        fail(
            f"--expires-in-days {days} is outside the policy: an entry expires 1 to "
            f"{limit.days} days from now (LFR_WATCHLIST_MAX_EXPIRY_DAYS); renew it when "
            "it is still needed"
        )
    return datetime.now(UTC) + timedelta(days=days)


def _with_service(
    store: Path | None,
    use: Callable[[WatchlistService], Awaitable[T]],
    pipeline: FacePipeline | None = None,
) -> T:
    """Run `use` with the site's watchlist service: the LanceDB folder `store`, the log and
    the vault in <LFR_DATA_DIR>. A domain error ends the command with its message."""
    from functools import partial

    import anyio

    from lfr.cli._common import fail
    from lfr.config import settings
    from lfr.errors import LfrError
    from lfr.store.sqlite import open_store
    from lfr.vault import BiometricVault
    from lfr.watchlist import WatchlistService

    async def main() -> T:
        data_dir = settings().data_dir
        await anyio.to_thread.run_sync(partial(data_dir.mkdir, parents=True, exist_ok=True))
        log = await open_store(data_dir)
        try:
            vault = await BiometricVault.open(data_dir)
            try:
                root = store or data_dir / "watchlist"
                return await use(WatchlistService(root, log=log, vault=vault, pipeline=pipeline))
            finally:
                await vault.aclose()
        finally:
            await log.aclose()

    try:
        return anyio.run(main)
    except LfrError as exc:
        fail(str(exc))


def _logged(watchlist: str) -> None:
    from lfr.cli._common import err_console, plain
    from schemas.streams import watchlist_stream

    err_console.print(f"[dim]logged on {plain(watchlist_stream(watchlist))}[/]")


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
) -> None:
    """Enrol one person from every photo that shows them clearly; refused photos are listed.

    The subject of a photo is the face nearest the centre, weighted by size; a photo where
    that is unclear is refused (crop it, or give --box).
    """
    from lfr.cli._common import err_console, face_pipeline, plain
    from lfr.watchlist import Photo

    _check_category(category)
    expires_at = _expiry(expires_in_days)
    subject_box = _parse_box(box)
    pipeline = face_pipeline()
    added = _with_service(
        store,
        lambda service: service.add_person(
            watchlist,
            [Photo.file(p, box=subject_box) for p in photos],
            entry_id=entry_id,
            label=label,
            category=category,
            legal_basis=legal_basis,
            image_source=image_source,
            added_by=by,
            expires_at=expires_at,
        ),
        pipeline,
    )
    for refusal in added.refused:
        err_console.print(f"[yellow]refused:[/] {plain(refusal)}")
    _logged(watchlist)
    err_console.print(f"enrolled from {added.entry.photos} photo(s), {len(added.refused)} refused")
    typer.echo(added.entry.entry_id)


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
) -> None:
    """Enrol one entry per identity folder (refused photos are listed, the rest go in).

    Each entry is logged and stored as it is enrolled, so a failure part way (an id already
    taken) keeps the entries before it, each with its event."""
    from lfr.cli._common import err_console, face_pipeline, plain
    from lfr.vision.errors import EnrolmentError

    _check_category(category)
    expires_at = _expiry(expires_in_days)
    refused: list[EnrolmentError] = []
    pipeline = face_pipeline()
    entries = _with_service(
        store,
        lambda service: service.import_directory(
            watchlist,
            directory,
            category=category,
            legal_basis=legal_basis,
            added_by=by,
            expires_at=expires_at,
            on_refused=refused.append,
            progress=lambda msg: err_console.print(f"[dim]import:[/] {plain(msg)}"),
        ),
        pipeline,
    )
    if entries:
        _logged(watchlist)
    for refusal in refused:
        err_console.print(f"[yellow]refused:[/] {plain(refusal)}")
    err_console.print(
        f"{len(entries)} entries added to {plain(repr(watchlist))}, {len(refused)} photos refused"
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

    if versions:
        rows: list[dict[str, Any]] = [
            {
                "version": p.version,
                "entries": p.entries,
                "published_by": p.published_by,
                "published_at": p.published_at.isoformat(),
                "valid_until": p.valid_until.isoformat(),
            }
            for p in _with_service(store, lambda service: service.publications(watchlist))
        ]
    else:
        now = datetime.now(UTC)
        listed = _with_service(store, lambda service: service.entries(watchlist))
        rows = [e.metadata() | {"expired": e.expired(now)} for e in listed]
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
    from rich.text import Text

    # user text (labels, names) as Text, never markup: a label "[/]" is shown as typed
    table = Table(title=Text(f"watchlist {watchlist!r}" + (" versions" if versions else "")))
    for key in shown:
        table.add_column(key)
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row.values()))
    Console().print(table)


@app.command("remove")
def remove(
    entry_id: Annotated[str, typer.Argument(help="the entry to remove")],
    by: By,
    reason: Annotated[str, typer.Option(help="why it is removed (recorded)")],
    store: Store = None,
    watchlist: Name = "default",
) -> None:
    """Remove an entry from the editable list; publish again to take it off cameras.

    Its photo is shredded at once when no published version still holds it."""
    from lfr.cli._common import err_console, plain

    entry = _with_service(
        store,
        lambda service: service.remove(watchlist, entry_id, removed_by=by, reason=reason),
    )
    _logged(watchlist)
    err_console.print(
        f"removed {plain(entry.entry_id)} ({plain(entry.label)}) by {plain(by)}: {plain(reason)}; "
        "run `lfr watchlist publish` to take it off the armed version"
    )


@app.command("publish")
def publish(
    by: By,
    valid_hours: Annotated[float, typer.Option(help="hours the version stays valid")] = 24.0,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    store: Store = None,
    watchlist: Name = "default",
) -> None:
    """Freeze the unexpired entries as a version named by its content hash; prints it."""
    from lfr.cli._common import err_console, print_json

    p = _with_service(
        store,
        lambda service: service.publish(
            watchlist, published_by=by, valid_for=timedelta(hours=valid_hours)
        ),
    )
    if p.reused:
        err_console.print("[dim]unchanged since that version was published: nothing logged[/]")
    else:
        _logged(watchlist)
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
