"""The engine-neutral tamper evidence: the canonical record, its bytes, the hash chain.

Every engine stores the same thing: an envelope's *canonical body* — compact JSON with sorted
keys of every envelope field except `hash` (so `prev_hash` is inside it) — and
`hash = sha256(body)`. Anyone can recompute the chain from an export with a JSON library and
sha256; nothing here depends on SQLite or NATS.

This module is the record's one definition: engines encode new events with `encode_new`,
decode stored bodies with `decode_record`, check a re-sent event with `same_event` and a
chain link with `check_link`; nothing else spells the record's fields. The Merkle trees that
checkpoints sign live in `lfr.store.merkle` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from lfr.store.base import CorruptLogError
from lfr.store.merkle import (
    MerkleFrontier,
    inclusion_path,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)
from schemas.envelope import Envelope, NewEvent
from schemas.registry import Event

__all__ = [
    "GENESIS_HASH",
    "MerkleFrontier",
    "adopt_envelope_dict",
    "body_hash",
    "canonical_body",
    "check_link",
    "decode_record",
    "encode_new",
    "envelope_from_record",
    "event_payload",
    "fast_envelope",
    "format_time",
    "format_times",
    "inclusion_path",
    "leaf_hash",
    "merkle_root",
    "new_envelopes",
    "node_hash",
    "record_of_envelope",
    "same_event",
    "StoredRow",
    "verify_inclusion",
]

GENESIS_HASH = "0" * 64
_SORT = orjson.OPT_SORT_KEYS
_sha256 = hashlib.sha256


def format_time(value: datetime) -> str:
    """The one textual form of a time in the log: UTC, microseconds, `+00:00`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def format_times(values: Sequence[datetime]) -> list[str]:
    """`[format_time(v) for v in values]`, mostly in one orjson call (a tenth of the cost).

    orjson writes an aware UTC time as RFC 3339 with `+00:00`, like `isoformat`, but leaves
    out a zero fraction: that one is put back; any time not in `datetime.UTC` takes the
    exact path.
    """
    texts: list[str] = orjson.loads(orjson.dumps(values))
    for i, (text, value) in enumerate(zip(texts, values, strict=True)):
        if len(text) != _TIME_LEN or value.tzinfo is not UTC:
            if len(text) == _WHOLE_SECOND_LEN and value.tzinfo is UTC:
                texts[i] = text[:19] + ".000000" + text[19:]
            else:
                texts[i] = format_time(value)
    return texts


_TIME_LEN = len("2026-01-01T00:00:00.000000+00:00")
_WHOLE_SECOND_LEN = len("2026-01-01T00:00:00+00:00")


def canonical_body(record: dict[str, Any]) -> bytes:
    """Canonical bytes of an envelope record (every field but `hash`)."""
    if "hash" in record:
        record = {k: v for k, v in record.items() if k != "hash"}
    return orjson.dumps(record, option=_SORT)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- the canonical record: the one place its fields are spelled --------------------------------


def _record(
    causation_id: str | None,
    correlation_id: str | None,
    event_id: str,
    occurred_at: str,
    payload: dict[str, Any],
    prev_hash: str,
    recorded_at: str,
    schema_version: int,
    seq: int,
    stream: str,
    stream_version: int,
    traceparent: str | None,
    type_name: str,
) -> dict[str, Any]:
    """The canonical record of an envelope, without `hash`: what the body serialises.

    Positional and in key order; `encode_new`, every engine's hot path, spells the same dict
    out inline (a call per event costs a tenth of its loop).
    """
    return {
        "causation_id": causation_id,
        "correlation_id": correlation_id,
        "event_id": event_id,
        "occurred_at": occurred_at,
        "payload": payload,
        "prev_hash": prev_hash,
        "recorded_at": recorded_at,
        "schema_version": schema_version,
        "seq": seq,
        "stream": stream,
        "stream_version": stream_version,
        "traceparent": traceparent,
        "type": type_name,
    }


def _opt_str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _with_hash(record: dict[str, Any], hash_hex: str) -> dict[str, Any]:
    """`record` plus its `hash`, keys still in sorted order (exports print them as stored)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "occurred_at":
            out["hash"] = hash_hex
        out[key] = value
    return out


def record_of_envelope(env: Envelope) -> dict[str, Any]:
    """The JSON record of an envelope exactly as it was hashed (plus its `hash`)."""
    record = _record(
        _opt_str(env.causation_id),
        _opt_str(env.correlation_id),
        str(env.event_id),
        format_time(env.occurred_at),
        env.payload,
        env.prev_hash,
        format_time(env.recorded_at),
        env.schema_version,
        env.seq,
        env.stream,
        env.stream_version,
        env.traceparent,
        env.type,
    )
    return _with_hash(record, env.hash)


def event_payload(new: NewEvent) -> dict[str, Any]:
    """The payload a new event is stored with (its JSON form)."""
    event = new.event
    payload: dict[str, Any] = event.__pydantic_serializer__.to_python(event, mode="json")
    return payload


#: What every engine stores per event: its address in the log (seq, stream, stream_version,
#: event_id, type), then the canonical body and its hash (hex).
StoredRow = tuple[int, str, int, str, str, bytes, str]


def encode_new(
    stream: str,
    news: Sequence[NewEvent],
    *,
    seq: int,
    version: int,
    prev_hash: str,
    recorded_at: str,
    envelopes: list[Envelope],
    digests: list[bytes] | None = None,
    event_ids: Sequence[str] | None = None,
) -> Iterator[StoredRow]:
    """Encode new events appended to `stream` after global position `seq`, stream version
    `version` and chain tail `prev_hash`: yield each one's `StoredRow`, in order, appending
    its envelope to `envelopes` and its raw sha256 digest to `digests`.

    `event_ids` are the events' ids as text when the caller has them already. A generator,
    so an engine can store each body as soon as it is made and let it go (the SQLite engine
    hands it straight to `executemany`); the sinks keep this loop free of tuple juggling, as
    it runs for every event appended.
    """
    recorded_dt = datetime.fromisoformat(recorded_at)
    times = format_times([new.occurred_at for new in news])
    ids = event_ids if event_ids is not None else [str(new.event_id) for new in news]
    dumps, sha256, new_env = orjson.dumps, _sha256, _new
    set_dict, set_fields, set_extra, set_private = (
        _set_dict,
        _set_fields_set,
        _set_extra,
        _set_private,
    )
    fields, utc, kinds = _ENVELOPE_FIELDS, UTC, _KINDS
    add_envelope = envelopes.append
    add_digest = digests.append if digests is not None else None
    for new, event_id, occurred_text in zip(news, ids, times, strict=True):
        seq += 1
        version += 1
        event = new.event
        kind = kinds.get(type(event))
        if kind is None:
            kind = _kind(type(event))
        type_name, schema_version, to_python = kind
        corr = new.correlation_id
        caus = new.causation_id
        # the canonical record (`_record`), spelled out: this loop runs for every event
        record = {
            "causation_id": None if caus is None else str(caus),
            "correlation_id": None if corr is None else str(corr),
            "event_id": event_id,
            "occurred_at": occurred_text,
            "payload": to_python(event, mode="json"),
            "prev_hash": prev_hash,
            "recorded_at": recorded_at,
            "schema_version": schema_version,
            "seq": seq,
            "stream": stream,
            "stream_version": version,
            "traceparent": new.traceparent,
            "type": type_name,
        }
        body = dumps(record, option=_SORT)
        digest = sha256(body).digest()
        prev_hash = digest.hex()
        if add_digest is not None:
            add_digest(digest)
        # the same dict becomes the envelope, its text fields typed again
        record["event_id"] = new.event_id
        occurred = new.occurred_at
        record["occurred_at"] = (
            occurred if occurred.tzinfo is utc else datetime.fromisoformat(occurred_text)
        )
        record["recorded_at"] = recorded_dt
        if corr is not None:
            record["correlation_id"] = corr
        if caus is not None:
            record["causation_id"] = caus
        record["hash"] = prev_hash
        env = new_env(Envelope)  # `adopt_envelope_dict`, inline
        set_dict(env, record)
        set_fields(env, fields)
        set_extra(env, None)
        set_private(env, None)
        add_envelope(env)
        yield (seq, stream, version, event_id, type_name, body, prev_hash)


_Kind = tuple[str, int, Callable[..., Any]]
#: per event class: its type name, schema version and serializer (`to_python`)
_KINDS: dict[type[Event], _Kind] = {}


def _kind(cls: type[Event]) -> _Kind:
    kind = _KINDS[cls] = (cls.__name__, cls.SCHEMA_VERSION, cls.__pydantic_serializer__.to_python)
    return kind


def new_envelopes(
    stream: str,
    news: Sequence[NewEvent],
    *,
    seq: int,
    version: int,
    prev_hash: str,
    recorded_at: str,
) -> list[Envelope]:
    """`encode_new`'s envelopes alone, for an engine that keeps records rather than rows."""
    envelopes: list[Envelope] = []
    for _row in encode_new(
        stream,
        news,
        seq=seq,
        version=version,
        prev_hash=prev_hash,
        recorded_at=recorded_at,
        envelopes=envelopes,
    ):
        pass
    return envelopes


def _as_utc(value: datetime, text: str) -> datetime:
    """`value` as the envelope holds it: the same instant in `datetime.UTC`."""
    return value if value.tzinfo is UTC else datetime.fromisoformat(text)


def same_event(record: dict[str, Any], stream: str, new: NewEvent) -> bool:
    """Whether a stored record is `new` appended to `stream` (a re-sent `event_id` is only
    a no-op when it is; otherwise the id was reused, an `IdempotencyError`)."""
    event = new.event
    return bool(
        record["stream"] == stream
        and record["type"] == type(event).__name__
        and record["schema_version"] == event.SCHEMA_VERSION
        and record["payload"] == event_payload(new)
    )


def decode_record(
    body: bytes, hash_hex: str | None, *, where: str, seq: int | None
) -> dict[str, Any]:
    """The record stored as `body` (with its `hash` when given).

    :raises CorruptLogError: the body is not a JSON object.
    """
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CorruptLogError(where, f"event body is not JSON ({exc})", seq) from exc
    if not isinstance(record, dict):
        raise CorruptLogError(where, "event body is not a JSON object", seq)
    if hash_hex is not None:
        record["hash"] = hash_hex
    return record


def check_link(record: dict[str, Any], seq: int, prev_hash: str, *, where: str) -> str:
    """Check that `record` sits at `seq` after `prev_hash` and matches its own `hash`; return
    that hash (the next record's `prev_hash`).

    :raises CorruptLogError: out of place, a broken chain, or content that differs from its hash.
    """
    if record.get("seq") != seq:
        raise CorruptLogError(where, f"expected seq {seq}", record.get("seq"))
    if record.get("prev_hash") != prev_hash:
        raise CorruptLogError(where, "the chain is broken (prev_hash)", seq)
    hash_hex = record.get("hash")
    if not isinstance(hash_hex, str) or body_hash(canonical_body(record)) != hash_hex:
        raise CorruptLogError(where, "the event does not match its hash", seq)
    return hash_hex


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


_new = object.__new__
_ENVELOPE_FIELDS = frozenset(Envelope.model_fields)
# BaseModel's slots, set through their descriptors: what `object.__setattr__` ends up doing,
# without looking each name up again (a quarter of the cost of building an envelope)
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def adopt_envelope_dict(fields: dict[str, Any]) -> Envelope:
    """Like `fast_envelope`, taking ownership of `fields` (every Envelope field, typed)."""
    env: Envelope = _new(Envelope)
    _set_dict(env, fields)
    _set_fields_set(env, _ENVELOPE_FIELDS)
    _set_extra(env, None)
    _set_private(env, None)
    return env


def fast_envelope(**fields: Any) -> Envelope:
    """An `Envelope` from fields that are already of the right types, without validation.

    What `model_construct` does, minus its per-field bookkeeping: the store builds hundreds of
    thousands of these a second and their content is vouched for by the hash chain.
    """
    return adopt_envelope_dict(fields)


def envelope_from_record(record: dict[str, Any], hash_hex: str | None = None) -> Envelope:
    """Build an `Envelope` from a stored record without re-validating (the hash vouches)."""
    return fast_envelope(
        seq=record["seq"],
        stream=record["stream"],
        stream_version=record["stream_version"],
        event_id=uuid.UUID(record["event_id"]),
        type=record["type"],
        schema_version=record["schema_version"],
        occurred_at=datetime.fromisoformat(record["occurred_at"]),
        recorded_at=datetime.fromisoformat(record["recorded_at"]),
        correlation_id=_uuid_or_none(record["correlation_id"]),
        causation_id=_uuid_or_none(record["causation_id"]),
        traceparent=record["traceparent"],
        payload=record["payload"],
        prev_hash=record["prev_hash"],
        hash=hash_hex if hash_hex is not None else record["hash"],
    )
