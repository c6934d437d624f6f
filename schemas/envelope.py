"""The envelope every stored event travels in, and the shape of an event about to be appended.

The store fills `seq`, `stream_version`, `recorded_at`, `prev_hash` and `hash`; the writer
fills the rest. `event_id` is a UUIDv7, so ids sort by creation time and retries are idempotent.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.registry import Event, decode_event

__all__ = ["Envelope", "NewEvent", "new_event_id", "utcnow"]


def new_event_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version, variant, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class NewEvent(BaseModel):
    """An event with the metadata its writer knows, before the store records it."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    event: Event
    event_id: uuid.UUID = Field(default_factory=new_event_id)
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    traceparent: str | None = None

    @property
    def type(self) -> str:
        return self.event.type_name()

    @property
    def schema_version(self) -> int:
        return self.event.SCHEMA_VERSION


class Envelope(BaseModel):
    """One recorded event as the log holds it (and as `lfr audit export` prints it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, description="global position in the log, gapless from 1")
    stream: str = Field(description="e.g. zone:north-end, camera:ne-1, patrol:p-7")
    stream_version: int = Field(ge=1, description="position within the stream, gapless from 1")
    event_id: uuid.UUID
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: datetime
    recorded_at: datetime
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    traceparent: str | None = None
    payload: dict[str, Any]
    prev_hash: str = Field(description="hex sha256 of the previous envelope; 64 zeros at seq 1")
    hash: str = Field(description="hex sha256 over prev_hash and this envelope's canonical form")

    def decode(self) -> Event:
        """The typed event, upcast to the current schema version."""
        return decode_event(self.type, self.schema_version, self.payload)
