# One module past 450 lines on purpose: the vault's retention and the watchlists' share one
# run, one log stream and one plan an auditor reads in one place.
"""Retention: shred every biometric blob past its `retain_until`, unless evidence holds it.

Planning is pure (`plan_retention`: the vault's expired blobs and the log's `EvidenceHold`s
in, what to shred and what to keep out); `run_retention` reads both, shreds (unless a dry
run) and appends one `BiometricPurged` naming the vault ids it erased, and
`retention_schedule` repeats it every `interval_s` inside a running site. `lfr retention run`
and `open_site` both use these. Nothing here ever reads or logs a biometric value: only vault
ids, kinds and counts.

Given the site's watchlists (a `WatchlistService`), a run first erases what a zone should
have and did not (`run_watchlist_retention`): every published copy whose deployment is over
(its `DeploymentEnded` logged, or its window closed while the site was down) or whose
`valid_until` has passed, unless a deployment still running holds it; and every live entry
past its expiry. Each erasure appends a `BiometricPurged` counting exactly what left the disk.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import anyio
from anyio.abc import TaskStatus

from lfr.clock import Clock, SystemClock
from lfr.errors import LfrError
from lfr.store.base import EventStore
from lfr.vault import BiometricVault
from lfr.watchlist.service import WatchlistService
from lfr.watchlist.store import Erased
from schemas.envelope import Envelope, NewEvent
from schemas.events import BiometricPurged, EvidenceHold

__all__ = [
    "END_GRACE",
    "EVIDENCE_HOLD_MAX",
    "RETENTION_STREAM",
    "DeploymentLedger",
    "RetentionPlan",
    "RetentionResult",
    "WatchlistExpiry",
    "WatchlistPurge",
    "WatchlistRetention",
    "active_holds",
    "erasure_event",
    "hold_evidence",
    "plan_retention",
    "retention_schedule",
    "run_retention",
    "run_watchlist_retention",
]

log = logging.getLogger("lfr.retention")

#: the longest one evidence hold may run (a case's life); a longer one is renewed
EVIDENCE_HOLD_MAX = timedelta(days=3653)

#: where evidence holds and retention purges are recorded
RETENTION_STREAM = "site:retention"

Expired = tuple[str, str]  # (blob id, kind)


@dataclass(frozen=True)
class RetentionPlan:
    """What one retention run shreds, and the expired blobs it keeps under a hold."""

    cutoff: datetime
    shred: tuple[Expired, ...]
    held: tuple[str, ...]


@dataclass(frozen=True)
class WatchlistPurge:
    """A published copy a run purged (or, on a dry run, would purge), and why."""

    watchlist: str
    version: str
    deployment_id: str | None
    reason: str
    erased: Erased = Erased()
    photos: tuple[str, ...] = ()  # vault ids shredded
    event_seq: int | None = None


@dataclass(frozen=True)
class WatchlistExpiry:
    """The live entries of one watchlist a run expired (or would expire)."""

    watchlist: str
    entries: tuple[str, ...]
    erased: Erased = Erased()
    photos: tuple[str, ...] = ()
    event_seq: int | None = None


@dataclass(frozen=True)
class WatchlistRetention:
    purges: tuple[WatchlistPurge, ...] = ()
    expiries: tuple[WatchlistExpiry, ...] = ()

    @property
    def steps(self) -> list[WatchlistPurge | WatchlistExpiry]:
        return [*self.purges, *self.expiries]

    @property
    def erased(self) -> Erased:
        """What the whole run took off the disk for good."""
        total = Erased()
        for step in self.steps:
            total += step.erased
        return total

    def summary(self) -> dict[str, object]:
        erased = self.erased
        return {
            "versions": [
                {
                    "watchlist": p.watchlist,
                    "version": p.version,
                    "deployment_id": p.deployment_id,
                    "reason": p.reason,
                    "entries": p.erased.entries,
                    "templates": p.erased.templates,
                    "photos": p.erased.photos,
                    "event_seq": p.event_seq,
                }
                for p in self.purges
            ],
            "expired_entries": sum(len(e.entries) for e in self.expiries),
            "entries_erased": erased.entries,
            "templates_erased": erased.templates,
            "photos_shredded": erased.photos,
            "photo_refs": [r for step in self.steps for r in step.photos],
            "event_seqs": [s.event_seq for s in self.steps if s.event_seq is not None],
        }


@dataclass(frozen=True)
class RetentionResult:
    plan: RetentionPlan
    shredded: tuple[str, ...]
    dry_run: bool
    event_seq: int | None = None
    watchlists: WatchlistRetention = field(default_factory=WatchlistRetention)

    def summary(self) -> dict[str, object]:
        """The run as `lfr retention run --json` prints it (ids and counts only); the
        watchlist copies and entries under "watchlists"."""
        kinds = dict(self.plan.shred)
        return {
            "cutoff": self.plan.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "due": len(self.plan.shred),
            "shredded": len(self.shredded),
            "crops": sum(1 for i in self.shredded if kinds.get(i) == "alert_crop"),
            "images": sum(1 for i in self.shredded if kinds.get(i) == "watchlist_image"),
            "sealed_field_keys": sum(1 for i in self.shredded if kinds.get(i) == "field_key"),
            "held": list(self.plan.held),
            "refs": list(self.shredded if not self.dry_run else (i for i, _ in self.plan.shred)),
            "event_seq": self.event_seq,
            "watchlists": self.watchlists.summary(),
        }


def active_holds(holds: Iterable[EvidenceHold], now: datetime) -> frozenset[str]:
    """Blob ids under a hold that has not expired at `now`."""
    return frozenset(h.blob_id for h in holds if h.until > now)


def plan_retention(
    expired: Sequence[Expired], holds: Iterable[EvidenceHold], now: datetime
) -> RetentionPlan:
    """Split the expired blobs into those to shred and those an unexpired hold keeps."""
    held = active_holds(holds, now)
    return RetentionPlan(
        cutoff=now,
        shred=tuple(e for e in expired if e[0] not in held),
        held=tuple(i for i, _ in expired if i in held),
    )


async def _holds(store: EventStore) -> list[EvidenceHold]:
    out: list[EvidenceHold] = []
    for envelope in await store.read_stream(RETENTION_STREAM):
        if envelope.type == "EvidenceHold":
            event = envelope.decode()
            assert isinstance(event, EvidenceHold)
            out.append(event)
    return out


async def hold_evidence(store: EventStore, hold: EvidenceHold) -> int:
    """Record `hold` in the log; return its seq. Retention keeps the blob until `hold.until`."""
    [envelope] = await store.append(RETENTION_STREAM, [NewEvent(event=hold)])
    return envelope.seq


async def run_retention(
    store: EventStore,
    vault: BiometricVault,
    now: datetime,
    *,
    dry_run: bool = False,
    by: str = "system",
    watchlists: WatchlistService | None = None,
    ledger: DeploymentLedger | None = None,
) -> RetentionResult:
    """Erase the `watchlists`' copies and entries due at `now` (`run_watchlist_retention`),
    then shred every blob due at `now` and not held and append one `BiometricPurged` (none
    when nothing was shredded, and never on a dry run). `ledger` carries what the log said
    of deployments from one run to the next (a schedule's runs read only the new events).

    :raises VaultError: the vault failed; blobs shredded before it are named in the log only
        by the next run's event, so run again.
    :raises WatchlistError: a watchlist could not be erased; the vault's blobs were still
        shredded, and what was erased before is logged.
    """
    wl = WatchlistRetention()
    wl_error: Exception | None = None
    if watchlists is not None:
        try:
            wl = await run_watchlist_retention(
                store, watchlists, now, dry_run=dry_run, by=by, ledger=ledger
            )
        except LfrError as exc:
            wl_error = exc  # the vault's own retention still runs
    result = await _run_vault_retention(store, vault, now, dry_run=dry_run, by=by)
    if wl_error is not None:
        raise wl_error
    return dataclasses.replace(result, watchlists=wl)


async def _run_vault_retention(
    store: EventStore, vault: BiometricVault, now: datetime, *, dry_run: bool, by: str
) -> RetentionResult:
    plan = plan_retention(await vault.expired(now), await _holds(store), now)
    if dry_run or not plan.shred:
        return RetentionResult(plan, (), dry_run)
    shredded: list[str] = []
    try:
        for blob_id, _ in plan.shred:
            if await vault.shred(blob_id, reason="retention expired"):
                shredded.append(blob_id)
    finally:
        # what was shredded is logged even if a later shred failed
        seq = await _record(store, plan, shredded, by) if shredded else None
    return RetentionResult(plan, tuple(shredded), dry_run, seq)


async def _record(store: EventStore, plan: RetentionPlan, shredded: list[str], by: str) -> int:
    kinds = dict(plan.shred)
    keys = sum(1 for i in shredded if kinds[i] == "field_key")
    event = BiometricPurged(
        scope="retention",
        reason="retention expired",
        refs_purged=len(shredded) - keys,
        purged_by=by,
        refs=tuple(shredded),
        crops_purged=sum(1 for i in shredded if kinds[i] == "alert_crop"),
        images_purged=sum(1 for i in shredded if kinds[i] == "watchlist_image"),
        keys_purged=keys,
        refs_held=plan.held,
        retention_cutoff=plan.cutoff,
    )
    with anyio.CancelScope(shield=True):
        [envelope] = await store.append(RETENTION_STREAM, [NewEvent(event=event)])
    return envelope.seq


#: a deployment counts as over this long after its end (logged, or its window's close), so
#: a run never races the zone purging it
END_GRACE = timedelta(minutes=5)

_LEDGER_TYPES = frozenset({"DeploymentAuthorised", "DeploymentEnded", "BiometricPurged"})


@dataclass
class _Deployment:
    version: str
    ends_at: datetime
    ended_at: datetime | None = None
    purged: bool = False

    def over(self, now: datetime) -> bool:
        end = self.ended_at if self.ended_at is not None else self.ends_at
        return end + END_GRACE <= now


@dataclass
class DeploymentLedger:
    """What the log says of deployments and their watchlist purges, folded from the log's
    `DeploymentAuthorised`, `DeploymentEnded` and `BiometricPurged` events; `update` reads
    only what was appended since the last one."""

    deployments: dict[str, _Deployment] = field(default_factory=dict)
    next_seq: int = 1

    async def update(self, store: EventStore, batch: int = 10_000) -> None:
        while True:
            envelopes = await store.read_all(from_seq=self.next_seq, limit=batch)
            for env in envelopes:
                if env.type in _LEDGER_TYPES:
                    self._fold(env)
            if not envelopes:
                return
            self.next_seq = envelopes[-1].seq + 1
            if len(envelopes) < batch:
                return

    def _fold(self, env: Envelope) -> None:
        p = env.payload
        dep_id = p.get("deployment_id")
        if not isinstance(dep_id, str):
            return
        if env.type == "DeploymentAuthorised":
            ends_at = datetime.fromisoformat(p["ends_at"])
            self.deployments[dep_id] = _Deployment(p["watchlist_version"], ends_at)
            return
        dep = self.deployments.get(dep_id)
        if dep is None:
            return
        if env.type == "DeploymentEnded":
            dep.ended_at = env.occurred_at
        elif p.get("scope") == "deployment_watchlist":
            dep.purged = True

    def due(self, version: str, valid_until: datetime, now: datetime) -> tuple[str | None, str]:
        """Whether the published `version` is due for erasure at `now`: (the deployment it
        is erased for, or None, and why); ("", "") when it is not due: a deployment not
        over holds it, or it is still valid and no deployment with it is over."""
        mine = [(d_id, d) for d_id, d in self.deployments.items() if d.version == version]
        if any(not d.over(now) for _, d in mine):
            return "", ""
        missed = [d_id for d_id, d in mine if not d.purged]
        if missed:
            return missed[-1], "deployment over; its watchlist was never purged"
        if mine:
            return mine[-1][0], "deployment over; its watchlist copy was still on disk"
        if valid_until <= now:
            return None, f"publication expired at {valid_until.isoformat()}"
        return "", ""


async def run_watchlist_retention(
    store: EventStore,
    watchlists: WatchlistService,
    now: datetime,
    *,
    dry_run: bool = False,
    by: str = "system",
    ledger: DeploymentLedger | None = None,
) -> WatchlistRetention:
    """Purge every published copy due at `now` (`DeploymentLedger.due`) and expire every
    live entry past its `expires_at`, in each watchlist of `watchlists`; append one
    `BiometricPurged` per purged version (`scope="deployment_watchlist"`) and per watchlist
    with expired entries (`scope="watchlist_entry"`), each counting exactly what left the
    disk (`refs_purged` = templates + photos, `images_purged` = photos). A dry run changes
    and logs nothing; what it reports as due carries no counts.
    """
    ledger = ledger or DeploymentLedger()
    await ledger.update(store)
    purges: list[WatchlistPurge] = []
    expiries: list[WatchlistExpiry] = []
    for name in await watchlists.watchlists():
        for pub in await watchlists.publications(name):
            dep_id, reason = ledger.due(pub.version, pub.valid_until, now)
            if dep_id == "":
                continue
            due = WatchlistPurge(name, pub.version, dep_id, reason)
            if not dry_run:
                done = await watchlists.purge_version(name, pub.version, reason=reason)
                due = dataclasses.replace(due, erased=done.erased, photos=done.photos)
                seq = await _append(
                    store,
                    erasure_event(
                        "deployment_watchlist",
                        f"retention: {reason}",
                        done.erased,
                        deployment_id=dep_id,
                        watchlist_version=pub.version,
                        purged_by=by,
                        refs=done.photos,
                        retention_cutoff=now,
                    ),
                )
                due = dataclasses.replace(due, event_seq=seq)
            purges.append(due)
        if dry_run:
            expired = [e.entry_id for e in await watchlists.entries(name) if e.expired(now)]
            if expired:
                expiries.append(WatchlistExpiry(name, tuple(expired)))
            continue
        gone = await watchlists.erase_expired(name, now)
        if not gone.entries:
            continue
        seq = await _append(
            store,
            erasure_event(
                "watchlist_entry",
                f"retention: {len(gone.entries)} entries of watchlist {name!r} expired",
                gone.erased,
                purged_by=by,
                refs=gone.photos,
                retention_cutoff=now,
            ),
        )
        ids = tuple(e.entry_id for e in gone.entries)
        expiries.append(WatchlistExpiry(name, ids, gone.erased, gone.photos, seq))
    return WatchlistRetention(tuple(purges), tuple(expiries))


def erasure_event(
    scope: Literal["deployment_watchlist", "watchlist_entry"],
    reason: str,
    erased: Erased,
    **fields: Any,
) -> BiometricPurged:
    """The `BiometricPurged` of a watchlist erasure, its counts taken from `erased` (the
    zone's purge at a deployment's end and retention's both record it so)."""
    return BiometricPurged(
        scope=scope,
        reason=reason,
        refs_purged=erased.refs,  # templates + photos
        images_purged=erased.photos,
        templates_purged=erased.templates,
        entries_purged=erased.entries,
        **fields,
    )


async def _append(store: EventStore, event: BiometricPurged) -> int:
    with anyio.CancelScope(shield=True):
        [envelope] = await store.append(RETENTION_STREAM, [NewEvent(event=event)])
    return envelope.seq


async def retention_schedule(
    store: EventStore,
    vault: BiometricVault,
    interval_s: float,
    clock: Clock | None = None,
    watchlist_dir: Path | None = None,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run retention now and then every `interval_s` until cancelled, over the vault and
    (given `watchlist_dir`, the site's LanceDB directory) its watchlists. A failed run is
    logged and retried at the next tick, so a busy vault or store never stops the site."""
    clock = clock or SystemClock()
    watchlists = (
        WatchlistService(watchlist_dir, log=store, vault=vault)
        if watchlist_dir is not None
        else None
    )
    ledger = DeploymentLedger()
    task_status.started()
    while True:
        try:
            result = await run_retention(
                store, vault, clock.now(), watchlists=watchlists, ledger=ledger
            )
        except LfrError as exc:
            log.error("retention run failed (%s); retrying in %.0f s", exc, interval_s)
        except Exception:  # a LanceDB or OS error must not take the site down
            log.exception("retention run failed; retrying in %.0f s", interval_s)
        else:
            erased = result.watchlists.erased
            if result.shredded or result.plan.held or erased.refs or erased.entries:
                log.info(
                    "retention: %d blob(s) shredded, %d held; %d watchlist cop(ies) purged, "
                    "%d entries expired (%d templates, %d photos erased)",
                    len(result.shredded),
                    len(result.plan.held),
                    len(result.watchlists.purges),
                    sum(len(e.entries) for e in result.watchlists.expiries),
                    erased.templates,
                    erased.photos,
                )
        await anyio.sleep(interval_s)
