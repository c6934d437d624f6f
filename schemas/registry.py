"""The base of every event, the registry from type name to model, and upcasting.

An event class registers itself by subclassing `Event`; its `type` is the class name and
`SCHEMA_VERSION` its current version. Older payloads are lifted by pure upcaster functions
keyed by (type, from_version), so a log written years ago still reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from schemas.errors import SchemaVersionError, UnknownEventTypeError

__all__ = ["Event", "decode_event", "upcast", "upcaster"]

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

EVENT_TYPES: dict[str, type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class Event(BaseModel):
    """An immutable domain fact. Payload only: identity, time and chaining live in the envelope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    SCHEMA_VERSION: ClassVar[int] = 1
    #: set in a shared base (not an event type itself) so it is not registered
    ABSTRACT: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("ABSTRACT", False):
            EVENT_TYPES[cls.__name__] = cls

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a pure function lifting a payload of `type_name` from `from_version` by one."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = fn
        return fn

    return register


def upcast(type_name: str, version: int, payload: Payload) -> Payload:
    """Lift `payload` to the current version of `type_name`.

    :raises UnknownEventTypeError: no model is registered for `type_name`.
    :raises SchemaVersionError: the version is newer than the code, or a step is missing.
    """
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventTypeError(type_name)
    current = cls.SCHEMA_VERSION
    if version > current:
        raise SchemaVersionError(type_name, version, current)
    while version < current:
        step = _UPCASTERS.get((type_name, version))
        if step is None:
            raise SchemaVersionError(type_name, version, current)
        payload = step(payload)
        version += 1
    return payload


def decode_event(type_name: str, version: int, payload: Payload) -> Event:
    """Validate a stored payload into its event model, upcasting older versions first."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventTypeError(type_name)
    if version != cls.SCHEMA_VERSION:
        payload = upcast(type_name, version, payload)
    return cls.model_validate(payload)
