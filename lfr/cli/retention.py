"""`lfr retention`: shred biometric blobs past their retention, and hold evidence.

`run` does what a running site does every hour (`lfr.retention.run_retention`): every watchlist
copy whose deployment is over (or whose `valid_until` passed) and every live watchlist entry
past its expiry are erased, then every blob in the vault whose `retain_until` has passed is
shredded unless an `EvidenceHold` keeps it; each erasure appends a `BiometricPurged` counting
what went. `hold` records such a hold. Only vault ids and counts
are printed, never an image.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from lfr.store.base import EventStore
    from lfr.vault import BiometricVault

__all__ = ["app", "hold", "run"]

T = TypeVar("T")

app = typer.Typer(
    help="Shred biometric blobs past their retention; hold evidence.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", "-d", help="the site's data directory (log and vault); default: $LFR_DATA_DIR"
    ),
]


def _time(value: str | None, option: str) -> datetime:
    from lfr.cli._common import fail

    if value is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(value)
        # in UTC here, so a time at the calendar's edge fails now, not in a comparison later
        return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        fail(f"{option} {value!r} is not a usable ISO 8601 time, e.g. 2026-12-31T18:00:00Z")


def _with_site(
    data_dir: Path | None, use: Callable[[EventStore, BiometricVault, Path], Awaitable[T]]
) -> T:
    """Run `use` with the site's log, vault and data directory; a domain error ends the
    command with it."""
    import anyio

    from lfr.cli._common import fail
    from lfr.config import settings
    from lfr.errors import LfrError
    from lfr.store.sqlite import LOG_FILE, open_store
    from lfr.vault import BiometricVault

    root = data_dir or settings().data_dir

    async def main() -> T:
        if not await anyio.Path(root / LOG_FILE).exists():
            fail(f"{root}: no event log here; give the site's --data-dir or set LFR_DATA_DIR")
        store = await open_store(root)
        try:
            vault = await BiometricVault.open(root)
            try:
                return await use(store, vault, root)
            finally:
                await vault.aclose()
        finally:
            await store.aclose()

    try:
        return anyio.run(main)
    except LfrError as exc:
        fail(str(exc))


@app.command("run")
def run(
    data_dir: DataDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="say what is due; shred and log nothing")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON line on stdout")] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="ISO 8601 time to judge expiry at (default: now)"),
    ] = None,
) -> None:
    """Erase every watchlist copy whose deployment is over and every expired watchlist
    entry, then shred every biometric blob whose retention has passed (unless held as
    evidence); each erasure is logged as a BiometricPurged counting what went."""
    from actors.site import WATCHLIST_DIR
    from lfr.cli._common import err_console, print_json
    from lfr.retention import RetentionResult, run_retention
    from lfr.watchlist.service import WatchlistService

    at = _time(now, "--now")

    async def use(store: EventStore, vault: BiometricVault, root: Path) -> RetentionResult:
        watchlists = WatchlistService(root / WATCHLIST_DIR, log=store, vault=vault)
        return await run_retention(
            store, vault, at, dry_run=dry_run, by="lfr retention run", watchlists=watchlists
        )

    result = _with_site(data_dir, use)
    summary = result.summary()
    if json_out:
        print_json(summary)
        return
    verb = "would shred" if dry_run else "shredded"
    count = summary["due"] if dry_run else summary["shredded"]
    err_console.print(
        f"retention at {summary['cutoff']}: {verb} {count} blob(s) "
        f"({summary['crops']} crops, {summary['images']} watchlist photos); "
        f"{len(result.plan.held)} kept under evidence hold"
    )
    wl = result.watchlists
    erased = wl.erased
    verb = "would purge" if dry_run else "purged"
    expired = sum(len(e.entries) for e in wl.expiries)
    err_console.print(
        f"watchlists: {verb} {len(wl.purges)} published cop(ies), "
        f"{'would expire' if dry_run else 'expired'} {expired} entr(ies)"
        + (
            ""
            if dry_run
            else f"; erased {erased.entries} entries, {erased.templates} templates, "
            f"{erased.photos} photos"
        )
    )
    seqs = [s for s in (result.event_seq, *(s.event_seq for s in wl.steps)) if s is not None]
    if seqs:
        err_console.print(f"[dim]logged BiometricPurged at seq {', '.join(map(str, seqs))}[/]")


@app.command("hold")
def hold(
    blob_id: Annotated[str, typer.Argument(help="the vault id of the crop (BiometricRef)")],
    held_by: Annotated[str, typer.Option("--by", help="the supervisor (rank, collar number)")],
    reason: Annotated[str, typer.Option("--reason", help="case or crime reference, order")],
    until: Annotated[str, typer.Option("--until", help="ISO 8601 time the hold ends")],
    alert_id: Annotated[str | None, typer.Option("--alert", help="the alert it belongs to")] = None,
    data_dir: DataDir = None,
) -> None:
    """Keep a blob (a match crop that became evidence) past its retention, until --until;
    logged as an EvidenceHold."""
    from datetime import UTC, datetime

    from lfr.cli._common import err_console, fail, plain
    from lfr.retention import EVIDENCE_HOLD_MAX, hold_evidence
    from schemas.events import EvidenceHold

    end = _time(until, "--until")
    if not datetime.now(UTC) < end <= datetime.now(UTC) + EVIDENCE_HOLD_MAX:
        fail("--until must be in the future and at most 10 years on (renew a hold for longer)")
    event = EvidenceHold(
        blob_id=blob_id,
        held_by=held_by,
        reason=reason,
        until=end,
        alert_id=alert_id,
    )

    async def use(store: EventStore, vault: BiometricVault, _root: Path) -> int:
        if not await vault.exists(blob_id):
            fail(f"blob {blob_id!r} is not readable in this vault (unknown or shredded)")
        return await hold_evidence(store, event)

    seq = _with_site(data_dir, use)
    err_console.print(
        f"held {plain(blob_id)} until {event.until.isoformat()} (EvidenceHold, seq {seq})"
    )
