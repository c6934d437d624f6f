"""Request bodies are bounded before anything reads them, authentication included.

An unauthenticated client could otherwise make the server buffer any amount (a 200 MB body
cost 385 MB of RSS). `BodyLimit` is plain ASGI around the whole app: a declared
`Content-Length` over the limit is answered 413 at once; a body without one (chunked) is
counted as it streams and cut off with 413 when it passes the limit. Photo uploads (the
watchlist routes) get a larger limit than everything else.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_LIMIT", "IMAGE_LIMIT", "BodyLimit"]

#: any request body (JSON commands are a few kB)
DEFAULT_LIMIT = 10 * 1024 * 1024
#: watchlist requests, which carry photos as base64
IMAGE_LIMIT = 20 * 1024 * 1024


class _TooLarge(BaseException):
    """Raised out of `receive` (a BaseException, so no route's `except Exception` turns it
    into a 400 or 500 on its way out)."""


class BodyLimit:
    """ASGI middleware: 413 for a body over `default` bytes (`image` on `image_prefixes`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int = DEFAULT_LIMIT,
        image: int = IMAGE_LIMIT,
        image_prefixes: Sequence[str] = ("/api/watchlists",),
    ) -> None:
        self.app = app
        self.default = default
        self.image = image
        self.image_prefixes = tuple(image_prefixes)

    def _limit(self, path: str) -> int:
        return self.image if path.startswith(self.image_prefixes) else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server rejects a malformed length itself
            if too_large:
                await _refuse(send, limit)
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {"detail": f"request body larger than {limit // (1024 * 1024)} MB; send less"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
