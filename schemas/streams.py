"""Stream names: where each kind of event lives in the log, and the name of its actor.

A stream name is part of the contract (an auditor filters the log by it, the projections
route by it), so it is spelled in one place: `kind:id`. An actor owning a stream has the
stream's name, so the same helpers address actors in the kernel's registry.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "IMAGE_VIEWS_STREAM",
    "SUPERVISION_STREAM",
    "StreamKind",
    "camera_stream",
    "patrol_stream",
    "site_stream",
    "split_stream",
    "watchlist_stream",
    "zone_stream",
    "zone_supervisor",
]

StreamKind = Literal["zone", "camera", "patrol", "watchlist", "site"]
_KINDS: tuple[str, ...] = get_args(StreamKind)

#: where restarts of supervised actors are recorded (`ActorRestarted`)
SUPERVISION_STREAM = "site:supervision"

#: where the API records each biometric image of an alert it shows someone (`ImageViewed`);
#: a stream of its own, so the zone's stream (the zone actor's, version-checked) is untouched
IMAGE_VIEWS_STREAM = "site:image-views"


def zone_stream(zone: str) -> str:
    return f"zone:{zone}"


def camera_stream(camera: str) -> str:
    return f"camera:{camera}"


def patrol_stream(patrol_id: str) -> str:
    return f"patrol:{patrol_id}"


def watchlist_stream(watchlist: str) -> str:
    return f"watchlist:{watchlist}"


def site_stream(site: str) -> str:
    return f"site:{site}"


def zone_supervisor(zone: str) -> str:
    """The name of the supervisor of a zone's camera and zone actors (not a stream)."""
    return f"{zone_stream(zone)}/sup"


def split_stream(stream: str) -> tuple[StreamKind, str] | None:
    """(kind, id) of a stream name, or None when it is not one of ours."""
    kind, sep, ident = stream.partition(":")
    if not sep or not ident or kind not in _KINDS:
        return None
    return kind, ident  # type: ignore[return-value]  # checked against the Literal above
