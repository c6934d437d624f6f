"""Audit: export the log, verify its hash chain, prove one event's inclusion, and the
transparency report. Read-only; auditors (and supervisors for the report)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from lfr.api.auth import Principal, Role, require
from lfr.api.context import ctx_of
from lfr.api.models import ERROR_RESPONSES, AuditReport, InclusionProof, VerifyResult
from lfr.store import hashchain
from schemas.envelope import Envelope

router = APIRouter(prefix="/api/audit", tags=["audit"], responses=ERROR_RESPONSES)

Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
ReportReader = Annotated[Principal, Depends(require(Role.AUDITOR, Role.SUPERVISOR))]


async def _all(request: Request) -> list[Envelope]:
    return await ctx_of(request).store.read_all()


@router.get("/export", summary="Envelopes of the log in seq order (page with from_seq/limit)")
async def export(
    request: Request,
    _: Auditor,
    from_seq: Annotated[int, Query(ge=1, le=2**62)] = 1,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[Envelope]:
    return await ctx_of(request).store.read_all(from_seq=from_seq, limit=limit)


def _verify(envelopes: list[Envelope]) -> VerifyResult:
    prev = hashchain.GENESIS_HASH
    for i, env in enumerate(envelopes, start=1):
        if env.seq != i:
            return VerifyResult(
                ok=False, events=i - 1, last_hash=prev, problem="gap in seq", first_bad_seq=i
            )
        if env.prev_hash != prev:
            return VerifyResult(
                ok=False,
                events=i - 1,
                last_hash=prev,
                problem="prev_hash does not link to the previous event",
                first_bad_seq=env.seq,
            )
        body = hashchain.canonical_body(hashchain.record_of_envelope(env))
        if hashchain.body_hash(body) != env.hash:
            return VerifyResult(
                ok=False,
                events=i - 1,
                last_hash=prev,
                problem="hash does not match the envelope's content",
                first_bad_seq=env.seq,
            )
        prev = env.hash
    return VerifyResult(ok=True, events=len(envelopes), last_hash=prev)


@router.get("/verify", summary="Recompute the hash chain from the first event")
async def verify(request: Request, _: Auditor) -> VerifyResult:
    envelopes = await _all(request)
    return await anyio.to_thread.run_sync(_verify, envelopes)


@router.get("/proof/{seq}", summary="RFC 9162 inclusion proof of one event in the whole log")
async def proof(
    request: Request, seq: Annotated[int, Path(ge=1, le=2**62)], _: Auditor
) -> InclusionProof:
    envelopes = await _all(request)
    if seq > len(envelopes):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"no event {seq}: the log holds {len(envelopes)}"
        )

    def build() -> InclusionProof:
        leaves = [hashchain.leaf_hash(e.hash) for e in envelopes]
        path = hashchain.inclusion_path(leaves, seq - 1)
        return InclusionProof(
            seq=seq,
            event_hash=envelopes[seq - 1].hash,
            tree_size=len(leaves),
            root=hashchain.merkle_root(leaves).hex(),
            path=[p.hex() for p in path],
        )

    return await anyio.to_thread.run_sync(build)


@router.get("/report", summary="Transparency report: deployments, discards, alerts, outcomes")
async def report(request: Request, _: ReportReader) -> AuditReport:
    envelopes = await _all(request)
    by_type = Counter(e.type for e in envelopes)
    frames = faces = confirmed = false = 0
    for e in envelopes:
        if e.type == "FrameDiscarded":
            frames += int(e.payload.get("frames", 1))
            faces += int(e.payload.get("faces_seen", 0))
        elif e.type == "AlertAdjudicated":
            if e.payload.get("verdict") == "confirmed":
                confirmed += 1
            else:
                false += 1
    return AuditReport(
        events=len(envelopes),
        by_type=dict(sorted(by_type.items())),
        deployments=by_type["DeploymentAuthorised"],
        frames_discarded=frames,
        faces_discarded=faces,
        alerts=by_type["AlertRaised"],
        confirmed_alerts=confirmed,
        false_alerts=false,
        engagements=by_type["EngagementRecorded"],
    )
