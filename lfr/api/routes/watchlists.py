"""Watchlists: add, list, publish and remove entries (watchlist managers; supervisors read)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, status

from lfr.api.auth import Principal, Role, require
from lfr.api.context import ctx_of
from lfr.api.models import (
    ERROR_RESPONSES,
    PublishedWatchlist,
    RemoveEntryRequest,
    WatchlistEntryRequest,
)
from lfr.api.ports import WatchlistEntryInfo, WatchlistService

__all__ = [
    "add_entry",
    "list_entries",
    "publish",
    "remove_entry",
    "router",
]

router = APIRouter(prefix="/api/watchlists", tags=["watchlists"], responses=ERROR_RESPONSES)

Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
EntryId = Annotated[str, Path(min_length=1, max_length=64)]
Manager = Annotated[Principal, Depends(require(Role.WATCHLIST_MANAGER))]
Reader = Annotated[Principal, Depends(require(Role.WATCHLIST_MANAGER, Role.SUPERVISOR))]


def _service(request: Request) -> WatchlistService:
    svc = ctx_of(request).watchlists
    if svc is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="no watchlist store configured for this API: start it with `lfr serve`",
        )
    return svc


@router.get("/{watchlist}/entries", summary="Entries of a watchlist (no images)")
async def list_entries(request: Request, watchlist: Name, _: Reader) -> list[WatchlistEntryInfo]:
    return await _service(request).list_entries(watchlist)


@router.post("/{watchlist}/entries", status_code=201, summary="Put a person on a watchlist")
async def add_entry(
    request: Request, watchlist: Name, body: WatchlistEntryRequest, who: Manager
) -> WatchlistEntryInfo:
    images: list[bytes] = []
    for i, text in enumerate(body.images_base64):
        try:
            images.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {
                        "loc": ["body", "images_base64", i],
                        "msg": f"not base64: {exc}",
                        "type": "value_error",
                    }
                ],
            ) from exc
    return await _service(request).add_entry(
        watchlist,
        label=body.label,
        category=body.category,
        legal_basis=body.legal_basis,
        image_source=body.image_source,
        added_by=who.name,
        expires_at=body.expires_at,
        images=images,
    )


@router.post("/{watchlist}/publish", summary="Freeze the list into a version to deploy with")
async def publish(request: Request, watchlist: Name, who: Manager) -> PublishedWatchlist:
    version = await _service(request).publish(watchlist, published_by=who.name)
    return PublishedWatchlist(watchlist=watchlist, watchlist_version=version)


@router.delete(
    "/{watchlist}/entries/{entry_id}", status_code=204, summary="Take a person off a watchlist"
)
async def remove_entry(
    request: Request,
    watchlist: Name,
    entry_id: EntryId,
    body: RemoveEntryRequest,
    who: Manager,
) -> None:
    await _service(request).remove_entry(
        watchlist, entry_id, removed_by=who.name, reason=body.reason
    )
