"""How the HTTP API answers lfr's errors: one table keyed by exception class, one handler.

The handler walks the error's MRO, so the most specific class in the table wins and every
subclass a layer adds later inherits its family's answer. What is left is the default:

    4xx  the caller can fix it (validation, a refused command, a missing resource): the
         documented `ErrorBody` with the reason and, for a refused command, its `code`
    503  a dependency cannot serve now (`lfr.errors.UnavailableError`: the log's server or
         lock, the vault; the broker; an actor busy, timing out or stopping; a full disk:
         the write was rolled back whole, and the same request may be retried once space is
         freed), with `Retry-After`
    500  our own fault (a corrupt log, a crashed actor, a wrong config, any `LfrError` not
         listed here): the body still names the error, and it is logged

A refused command answers by its `code` where `CODE_STATUS` names it (an officer not
checked in on the patrol is forbidden, 403), else by its class.

The body says what to do without saying where things are (`public_detail`): lfr's messages
name files for the operator (the vault at /srv/lfr/vault/keys.sqlite), and over HTTP the data
directory reads `<data dir>`, the temp directory `<tmp>`, the home directory `~`, any other
absolute path `<path>/<its last name>`, and a URL loses its credentials. The log keeps the
full message for the operator.

Routes raise lfr's errors and never re-map them; `HTTPException` is for what only HTTP knows.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse

from lfr.api.audit_log import EventNotFoundError, NotProvableError
from lfr.api.auth import AuthError
from lfr.errors import ConfigError, LfrError, UnavailableError
from lfr.kernel.errors import (
    ActorCrashedError,
    ActorStoppedError,
    AskTimeoutError,
    CommandRejected,
    MailboxFullError,
    UnknownActorError,
)
from lfr.projections import ProjectionError
from lfr.store.base import (
    ConcurrencyError,
    CorruptLogError,
    IdempotencyError,
    StoreClosedError,
    StoreWriteError,
)
from lfr.transport.sink import TransportError
from lfr.transport.topics import InvalidTopicError
from lfr.vault import (
    BlobIntegrityError,
    BlobNotFoundError,
    BlobShreddedError,
    VaultCorruptError,
    VaultWriteError,
)
from lfr.video.redact import redact_urls
from lfr.vision.errors import EnrolmentError, ModelError
from lfr.watchlist.errors import (
    DuplicateEntryError,
    EmptyWatchlistError,
    EntryNotFoundError,
    VersionNotFoundError,
    WatchlistError,
    WatchlistNotFoundError,
)
from schemas.errors import ContractError

__all__ = [
    "CODE_STATUS",
    "ERROR_STATUS",
    "handle_lfr_error",
    "places",
    "public_detail",
    "status_for",
]

log = logging.getLogger(__name__)

#: Exception class -> (HTTP status, Retry-After seconds or None). Looked up along the MRO.
ERROR_STATUS: dict[type[BaseException], tuple[int, int | None]] = {
    # the caller can fix it
    AuthError: (401, None),
    CommandRejected: (409, None),
    ConcurrencyError: (409, None),
    IdempotencyError: (409, None),
    NotProvableError: (409, None),
    DuplicateEntryError: (409, None),
    EmptyWatchlistError: (409, None),
    EventNotFoundError: (404, None),
    UnknownActorError: (404, None),
    BlobNotFoundError: (404, None),
    EntryNotFoundError: (404, None),
    VersionNotFoundError: (404, None),
    WatchlistNotFoundError: (404, None),
    BlobShreddedError: (410, None),
    EnrolmentError: (422, None),
    WatchlistError: (422, None),
    InvalidTopicError: (422, None),
    ContractError: (422, None),
    # a dependency cannot serve now: retry later
    UnavailableError: (503, 5),
    StoreWriteError: (503, 60),
    VaultWriteError: (503, 60),
    StoreClosedError: (503, 5),
    TransportError: (503, 5),
    MailboxFullError: (503, 1),
    AskTimeoutError: (503, 2),
    ActorStoppedError: (503, 5),
    ModelError: (503, None),
    # our own fault
    ActorCrashedError: (500, None),
    CorruptLogError: (500, None),
    VaultCorruptError: (500, None),
    BlobIntegrityError: (500, None),
    ProjectionError: (500, None),
    ConfigError: (500, None),
    LfrError: (500, None),
}


#: A refused command's stable `code` -> HTTP status, before the class table.
CODE_STATUS: dict[str, int] = {
    # acknowledging or adjudicating as an officer not checked in on the alert's patrol
    "not_on_patrol": 403,
}


def _entry(exc: BaseException) -> tuple[int, int | None]:
    if isinstance(exc, CommandRejected) and exc.code in CODE_STATUS:
        return CODE_STATUS[exc.code], None
    for cls in type(exc).__mro__:
        entry = ERROR_STATUS.get(cls)
        if entry is not None:
            return entry
    return 500, None


# an absolute path not inside a word, a URL or a placeholder: /srv/lfr/vault, /tmp/x.sqlite
_ABSOLUTE = re.compile(r"(?<![\w.:/~>\]\\-])(?:/[\w.@+%=-]+)+/?")
_ROUTES = ("/api", "/app")  # the API's own paths, named in messages on purpose


def places(data_dir: Path | None, *, also: Iterable[Path] = ()) -> list[tuple[str, str]]:
    """(directory, placeholder) for `public_detail`, longest first (the data directory is
    often under the temp or the home directory); `also` names more directories to show as
    `<data dir>`. Blocking (it resolves links): `create_app` works it out once."""
    named: dict[str, str] = {}
    for path, name in (
        (Path.home(), "~"),
        (Path(tempfile.gettempdir()), "<tmp>"),
        (data_dir, "<data dir>"),
    ):
        if path is None:
            continue
        for form in {str(path), str(path.absolute()), str(path.resolve())}:
            if form not in ("", "/", "."):
                named[form.rstrip("/")] = name
    for path in also:
        if str(path) not in ("", "/", "."):
            named[str(path).rstrip("/")] = "<data dir>"
    return sorted(named.items(), key=lambda item: len(item[0]), reverse=True)


def _short(match: re.Match[str]) -> str:
    path = match.group(0)
    if any(path == r or path.startswith(r + "/") for r in _ROUTES):
        return path
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return f"<path>/{name}"


def public_detail(message: str, named: Iterable[tuple[str, str]] = ()) -> str:
    """`message` fit for an HTTP body: no filesystem path (the directories `named` by their
    placeholders, see `places`; any other absolute path by its last name) and no URL
    credentials."""
    text = redact_urls(message)
    for place, name in named:
        text = re.sub(re.escape(place) + r"(?=/|\b|$)", name, text)
    return _ABSOLUTE.sub(_short, text)


def status_for(exc: BaseException) -> int:
    """The HTTP status the API answers `exc` with."""
    return _entry(exc)[0]


async def handle_lfr_error(request: Request, exc: Exception) -> JSONResponse:
    """The one handler for `LfrError` and `ContractError`: the documented error body."""
    code, retry_after = _entry(exc)
    headers: dict[str, str] = {}
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if code >= 500:
        log.error(
            "%s %s answered %d: %s: %s",
            request.method,
            request.url.path,
            code,
            type(exc).__name__,
            exc,
            exc_info=code == 500,
        )
    detail = public_detail(str(exc), getattr(request.app.state, "error_places", ()))
    body: dict[str, object] = {"detail": detail, "error": type(exc).__name__}
    error_code = getattr(exc, "code", None)
    if isinstance(error_code, str):
        body["code"] = error_code
    return JSONResponse(body, status_code=code, headers=headers or None)
