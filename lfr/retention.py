"""Retention: shred every biometric blob past its `retain_until`, unless evidence holds it.

Planning is pure (`plan_retention`: the vault's expired blobs and the log's `EvidenceHold`s
in, what to shred and what to keep out); `run_retention` reads both, shreds (unless a dry
run) and appends one `BiometricPurged` naming the vault ids it erased, and
`retention_schedule` repeats it every `interval_s` inside a running site. `lfr retention run`
and `open_site` both use these. Nothing here ever reads or logs a biometric value: only vault
ids, kinds and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import anyio
from anyio.abc import TaskStatus

from lfr.clock import Clock, SystemClock
from lfr.errors import LfrError
from lfr.store.base import EventStore
from lfr.vault import BiometricVault
from schemas.envelope import NewEvent
from schemas.events import BiometricPurged, EvidenceHold

__all__ = [
    "RETENTION_STREAM",
    "RetentionPlan",
    "RetentionResult",
    "active_holds",
    "hold_evidence",
    "plan_retention",
    "retention_schedule",
    "run_retention",
]

log = logging.getLogger("lfr.retention")

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
class RetentionResult:
    plan: RetentionPlan
    shredded: tuple[str, ...]
    dry_run: bool
    event_seq: int | None = None

    def summary(self) -> dict[str, object]:
        """The run as `lfr retention run --json` prints it (ids and counts only)."""
        kinds = dict(self.plan.shred)
        return {
            "cutoff": self.plan.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "due": len(self.plan.shred),
            "shredded": len(self.shredded),
            "crops": sum(1 for i in self.shredded if kinds.get(i) == "alert_crop"),
            "images": sum(1 for i in self.shredded if kinds.get(i) == "watchlist_image"),
            "held": list(self.plan.held),
            "refs": list(self.shredded if not self.dry_run else (i for i, _ in self.plan.shred)),
            "event_seq": self.event_seq,
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
) -> RetentionResult:
    """Shred every blob due at `now` and not held, then append one `BiometricPurged` (none
    when nothing was shredded, and never on a dry run).

    :raises VaultError: the vault failed; blobs shredded before it are named in the log only
        by the next run's event, so run again.
    """
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
    event = BiometricPurged(
        scope="retention",
        reason="retention expired",
        refs_purged=len(shredded),
        purged_by=by,
        refs=tuple(shredded),
        crops_purged=sum(1 for i in shredded if kinds[i] == "alert_crop"),
        images_purged=sum(1 for i in shredded if kinds[i] == "watchlist_image"),
        refs_held=plan.held,
        retention_cutoff=plan.cutoff,
    )
    with anyio.CancelScope(shield=True):
        [envelope] = await store.append(RETENTION_STREAM, [NewEvent(event=event)])
    return envelope.seq


async def retention_schedule(
    store: EventStore,
    vault: BiometricVault,
    interval_s: float,
    clock: Clock | None = None,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run retention now and then every `interval_s` until cancelled. A failed run is logged
    and retried at the next tick, so a busy vault never stops the site."""
    clock = clock or SystemClock()
    task_status.started()
    while True:
        try:
            result = await run_retention(store, vault, clock.now())
        except LfrError as exc:
            log.error("retention run failed (%s); retrying in %.0f s", exc, interval_s)
        else:
            if result.shredded or result.plan.held:
                log.info(
                    "retention: %d blob(s) shredded, %d held",
                    len(result.shredded),
                    len(result.plan.held),
                )
        await anyio.sleep(interval_s)
