"""Actor messages as JSON, for the wire between nodes.

Only types on the codec's allow-list are encoded or decoded (frozen dataclasses by their
fields, pydantic models by `model_dump(mode="json")`): a message from the network can build
nothing else. Datetimes, UUIDs, tuples, sets and dicts with any keys keep their types.
Errors an actor raises for an asker (`CommandRejected`, the kernel's errors) travel as their
type and fields.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from lfr.errors import LfrError
from lfr.kernel import (
    ActorCrashedError,
    ActorStoppedError,
    AskTimeoutError,
    CommandRejected,
    MailboxFullError,
    UnknownActorError,
)

__all__ = ["CodecError", "MessageCodec"]


class CodecError(LfrError):
    """A value the codec does not know (not on its allow-list), or bytes it cannot read."""


class MessageCodec:
    """JSON for the types given (and the plain values they hold)."""

    def __init__(self, types: Iterable[type]) -> None:
        self._types: dict[str, type] = {}
        for t in types:
            if not (dataclasses.is_dataclass(t) or issubclass(t, BaseModel)):
                raise TypeError(f"{t.__name__}: only dataclasses and pydantic models")
            self._types[t.__name__] = t

    # --- values ------------------------------------------------------------------------------

    def encode(self, value: object) -> bytes:
        """:raises CodecError: `value` holds a type not on the allow-list."""
        return json.dumps(self._enc(value), separators=(",", ":")).encode()

    def decode(self, data: bytes) -> Any:
        """:raises CodecError: not JSON this codec wrote, or a type not on the allow-list."""
        try:
            return self._dec(json.loads(data))
        except CodecError:
            raise
        except Exception as exc:
            # the error's kind only: a validation error quotes the message's values, and a
            # match names who it was (the cause stays chained for a debugger, not the log)
            raise CodecError(f"cannot decode a message ({type(exc).__name__})") from exc

    def _enc(self, v: object) -> Any:
        if v is None or isinstance(v, bool | int | float | str):
            return v
        if isinstance(v, datetime):
            return {"$dt": v.isoformat()}
        if isinstance(v, uuid.UUID):
            return {"$uuid": str(v)}
        if isinstance(v, tuple):
            return {"$tuple": [self._enc(x) for x in v]}
        if isinstance(v, list):
            return [self._enc(x) for x in v]
        if isinstance(v, set | frozenset):
            return {"$set": [self._enc(x) for x in v]}
        if isinstance(v, dict):
            return {"$dict": [[self._enc(k), self._enc(x)] for k, x in v.items()]}
        name = type(v).__name__
        if self._types.get(name) is not type(v):
            raise CodecError(f"{name} is not a message type this site sends between nodes")
        if isinstance(v, BaseModel):
            return {"$model": name, "v": v.model_dump(mode="json")}
        assert dataclasses.is_dataclass(v)
        fields = {f.name: self._enc(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}
        return {"$dc": name, "v": fields}

    def _dec(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self._dec(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$dt" in v:
            return datetime.fromisoformat(v["$dt"])
        if "$uuid" in v:
            return uuid.UUID(v["$uuid"])
        if "$tuple" in v:
            return tuple(self._dec(x) for x in v["$tuple"])
        if "$set" in v:
            return frozenset(self._dec(x) for x in v["$set"])
        if "$dict" in v:
            return {self._dec(k): self._dec(x) for k, x in v["$dict"]}
        kind = "$model" if "$model" in v else "$dc"
        cls = self._types.get(v.get(kind, ""))
        if cls is None:
            raise CodecError(f"unknown message type {v.get(kind)!r}")
        if kind == "$model":
            assert issubclass(cls, BaseModel)
            return cls.model_validate(v["v"])
        return cls(**{k: self._dec(x) for k, x in v["v"].items()})

    # --- errors ------------------------------------------------------------------------------

    @staticmethod
    def encode_error(exc: BaseException) -> dict[str, Any]:
        """An error for the asker on another node (unknown kinds as `ActorCrashedError`)."""
        match exc:
            case CommandRejected():
                return {"t": "rejected", "actor": exc.actor, "code": exc.code, "why": exc.reason}
            case ActorStoppedError():
                return {"t": "stopped", "actor": exc.actor}
            case MailboxFullError():
                return {"t": "full", "actor": exc.actor, "capacity": exc.capacity}
            case AskTimeoutError():
                return {"t": "timeout", "actor": exc.actor, "message": exc.message_type,
                        "timeout_s": exc.timeout_s}  # fmt: skip
            case ActorCrashedError():
                return {"t": "crashed", "actor": exc.actor, "error": exc.error_type}
            case UnknownActorError():
                return {"t": "unknown", "actor": exc.name}
        return {"t": "crashed", "actor": "?", "error": type(exc).__name__}

    @staticmethod
    def decode_error(err: dict[str, Any]) -> Exception:
        actor = str(err.get("actor", "?"))
        match err.get("t"):
            case "rejected":
                return CommandRejected(actor, str(err["code"]), str(err["why"]))
            case "stopped":
                return ActorStoppedError(actor)
            case "full":
                return MailboxFullError(actor, int(err["capacity"]))
            case "timeout":
                return AskTimeoutError(actor, str(err["message"]), float(err["timeout_s"]))
            case "unknown":
                return UnknownActorError(actor, [])
        return ActorCrashedError(actor, str(err.get("error", "RemoteError")))
