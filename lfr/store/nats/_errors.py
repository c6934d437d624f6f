"""The engine's one translation of nats-py errors into the store's (`_NatsErrors`), the
connection, and the subject and header helpers."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from lfr.store.base import (
    ConcurrencyError,
    StoreError,
    StoreUnavailableError,
    StoreWriteError,
)

# JetStream API error codes (nats-server's errors.json)
_WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF
_STORAGE_FULL = frozenset({10023, 10047})  # insufficient resources, storage exceeded
_STORE_FAILED = 10077  # JSStreamStoreFailedF: the server could not write the message


class _NatsErrors:
    """`with _NatsErrors(where, ...): ...` — the engine's one translation of nats-py errors
    into the store's, the most specific first, chained `from exc`:

        JetStream wrong last sequence        -> ConcurrencyError (another writer appended)
        JetStream out of storage             -> StoreWriteError(full)
        JetStream could not store            -> StoreWriteError
        no server, connection closed/lost,
        timeout, no responders, JetStream
        unavailable, OSError                 -> StoreUnavailableError
        any other JetStream or client error  -> StoreError
    """

    __slots__ = ("count", "expected", "stream", "where")

    def __init__(
        self,
        where: str,
        *,
        stream: str | None = None,
        expected: int | None = None,
        count: int = 0,
    ) -> None:
        self.where = where
        self.stream = stream
        self.expected = expected
        self.count = count

    def __enter__(self) -> _NatsErrors:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or isinstance(exc, StoreError):
            return
        error = self.translate(exc)
        if error is not None:
            raise error from exc

    def translate(self, exc: BaseException) -> StoreError | None:
        import nats.errors
        import nats.js.errors as js_errors

        if isinstance(exc, js_errors.APIError):
            code = exc.err_code
            if code == _WRONG_LAST_SEQUENCE and self.stream is not None:
                expected = -1 if self.expected is None else self.expected
                return ConcurrencyError(self.stream, expected, None)
            if code in _STORAGE_FULL or code == _STORE_FAILED:
                return StoreWriteError(
                    self.where, self.stream, self.count, str(exc), code in _STORAGE_FULL
                )
            if isinstance(exc, js_errors.ServiceUnavailableError):
                return self._unavailable(exc, "JetStream is not enabled or has no leader")
            return StoreError(f"{self.where}: NATS refused the request: {exc}")
        if isinstance(exc, nats.errors.MaxPayloadError):
            return StoreWriteError(
                self.where,
                self.stream,
                self.count,
                f"the batch is larger than the server's max_payload ({exc})",
                False,
            )
        unavailable = (
            nats.errors.NoServersError,
            nats.errors.ConnectionClosedError,
            nats.errors.ConnectionReconnectingError,
            nats.errors.ConnectionDrainingError,
            nats.errors.StaleConnectionError,
            nats.errors.NoRespondersError,
            nats.errors.OutboundBufferLimitError,
            js_errors.NoStreamResponseError,
            TimeoutError,  # nats.errors.TimeoutError is one too
            OSError,
        )
        if isinstance(exc, unavailable):
            return self._unavailable(exc, "is the server up and reachable?")
        if isinstance(exc, nats.errors.Error):
            return StoreError(f"{self.where}: the NATS client failed: {exc!r}")
        return None  # not a driver error: ours, raised as it is

    def _unavailable(self, exc: BaseException, hint: str) -> StoreUnavailableError:
        return StoreUnavailableError(
            self.where, f"{type(exc).__name__}: {exc}", f"{hint} Retry once it is back."
        )


def _subject_token(stream: str) -> str:
    """A subject-safe token for a stream name ('.', '*', '>' and spaces are hex-escaped)."""
    if all(ch not in stream for ch in ".*> \t") and stream:
        return stream
    return "x" + stream.encode().hex()


async def connect(
    url: str,
    *,
    creds: Path | None = None,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
    connect_attempts: int = 3,
) -> Any:
    """A NATS connection (`creds`: a `.creds` file of NATS decentralised auth; else user and
    password, or a token). `url` may list a cluster's servers, comma-separated: the client
    tries each and fails over between them.

    :raises StoreUnavailableError: no NATS server answers at `url`.
    """
    import nats

    options: dict[str, Any] = {}
    if creds is not None:
        options["user_credentials"] = str(creds)
    if user is not None:
        options["user"] = user
        options["password"] = password
    if token is not None:
        options["token"] = token
    servers = [u.strip() for u in url.split(",") if u.strip()]
    with _NatsErrors(url):
        return await nats.connect(
            servers,
            connect_timeout=5,
            max_reconnect_attempts=connect_attempts,
            allow_reconnect=connect_attempts > 0,
            **options,
        )


def _header_int(headers: dict[str, str] | None, name: str) -> int | None:
    if not headers or name not in headers:
        return None
    try:
        return int(headers[name])
    except ValueError:
        return None
