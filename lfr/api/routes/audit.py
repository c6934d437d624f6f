"""Audit: export the log, verify it, prove one event's inclusion, and the audit report.

Verification, proofs and the report run the same code as `lfr audit verify`, `lfr audit
proof` and `lfr audit replay`, so what an auditor fetches here checks offline with the CLI.
Read-only; auditors (and supervisors for the report).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from lfr.api.audit_log import AuditLog, replay_report
from lfr.api.auth import Principal, Role, require
from lfr.api.context import ctx_of
from lfr.api.models import ERROR_RESPONSES, InclusionProof, VerifyResult
from schemas.envelope import Envelope
from schemas.views import AuditReport

__all__ = [
    "export",
    "proof",
    "report",
    "router",
    "verify",
]

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=ERROR_RESPONSES)


def _audit_log(request: Request) -> AuditLog:
    """The site's audit log: the one the app was given, else the live store's own (SQLite
    or NATS); a store without signed checkpoints (memory) is a 409."""
    ctx = ctx_of(request)
    if ctx.audit_log is None:
        ctx.audit_log = AuditLog.of_store(ctx.store)
    return ctx.require_audit_log()


Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
ReportReader = Annotated[Principal, Depends(require(Role.AUDITOR, Role.SUPERVISOR))]


@router.get("/export", summary="Envelopes of the log in seq order (page with from_seq/limit)")
async def export(
    request: Request,
    _: Auditor,
    from_seq: Annotated[int, Query(ge=1, le=2**62)] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[Envelope]:
    return await ctx_of(request).store.read_all(from_seq=from_seq, limit=limit)


@router.get(
    "/verify", summary="Check the hash chain, every row and every signed checkpoint (CLI's code)"
)
async def verify(request: Request, _: Auditor) -> VerifyResult:
    result = await _audit_log(request).verify()
    body = result.to_dict()
    body.pop("path")  # the server's file system is none of the caller's business
    return VerifyResult.model_validate(body)


@router.get(
    "/proof/{event_id}",
    summary="Inclusion proof of one event against a signed checkpoint (as `lfr audit proof`)",
)
async def proof(
    request: Request, event_id: Annotated[uuid.UUID, Path()], _: Auditor
) -> InclusionProof:
    # no such event: 404; not yet under a signed checkpoint: 409 (lfr.api.errors)
    doc = await _audit_log(request).proof(str(event_id))
    return InclusionProof.model_validate(doc)


_ISO_TIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"


@router.get("/report", summary="The audit view rebuilt from the log (as `lfr audit replay`)")
async def report(
    request: Request,
    _: ReportReader,
    until: Annotated[
        str | None,
        Query(
            pattern=_ISO_TIME,
            max_length=40,
            description="the view as it stood at this ISO 8601 time, e.g. 2026-11-26T18:00Z "
            "(no zone: UTC; default: now)",
        ),
    ] = None,
) -> AuditReport:
    cutoff: datetime | None = None
    if until is not None:
        try:
            t = datetime.fromisoformat(until)
            cutoff = t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
        except (ValueError, OverflowError) as exc:
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", "until"),
                        "msg": f"{until!r} is not a valid ISO 8601 time ({exc})",
                        "type": "value_error",
                        "input": until,
                    }
                ]
            ) from exc
    return await replay_report(ctx_of(request).store, until=cutoff)
