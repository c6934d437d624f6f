"""The Merkle tree follows RFC 9162: checked against a direct transcription of its definition."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone

from lfr.store.hashchain import (
    GENESIS_HASH,
    MerkleFrontier,
    format_time,
    format_times,
    inclusion_path,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_inclusion,
)


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, literally (d are already leaf hashes)."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return d[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1, literally."""
    n = len(d)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def test_roots_paths_and_frontier_match_the_rfc() -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]
    leaves = [leaf_hash(h) for h in hashes]
    frontier = MerkleFrontier()
    for n in range(1, 41):
        frontier.append(hashes[n - 1])
        d = leaves[:n]
        root = mth(d)
        assert merkle_root(d) == root == frontier.root()
        assert MerkleFrontier.from_json(frontier.to_json()).root() == root
        for m in range(n):
            p = inclusion_path(d, m)
            assert p == path(m, d)
            assert verify_inclusion(d[m], m, n, p, root)
            assert not verify_inclusion(leaf_hash("00" * 32), m, n, p, root)
            if p:
                assert not verify_inclusion(d[m], m, n, [p[0][::-1], *p[1:]], root)


def test_frontier_extended_in_runs_equals_one_leaf_at_a_time() -> None:
    rng = random.Random(3)
    digests = [hashlib.sha256(str(i).encode()).digest() for i in range(700)]
    one = MerkleFrontier()
    runs = MerkleFrontier()
    i = 0
    while i < len(digests):
        n = rng.choice((0, 1, 2, 3, 7, 8, 64, 100))
        for d in digests[i : i + n]:
            one.append_digest(d)
        runs.extend_digests(digests[i : i + n])
        i += n
        assert (runs.size, runs.nodes) == (one.size, one.nodes)
    assert runs.root() == merkle_root([leaf_hash(d.hex()) for d in digests])


def test_format_times_equals_format_time() -> None:
    rng = random.Random(5)
    base = datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)
    values = [base + timedelta(microseconds=rng.randrange(10**13)) for _ in range(500)]
    values += [
        base,
        base.replace(microsecond=100_000),
        base.replace(microsecond=1),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 29, 2, 30),  # naive: taken as UTC
    ]
    assert format_times(values) == [format_time(v) for v in values]


# --- the canonical record: one codec for every engine ----------------------------------------


def test_encoded_rows_hold_the_body_and_hash_of_the_records_envelopes() -> None:
    """What an engine stores (`encode_new`'s rows) is exactly the canonical body of the record
    `record_of_envelope` gives back, chained from the tail it was given."""
    import orjson

    from lfr.store.hashchain import body_hash, canonical_body, encode_new, record_of_envelope
    from tests.store.contract import checked_in, discarded, matched

    news = [discarded(), matched(), checked_in()]
    envelopes: list = []
    digests: list[bytes] = []
    rows = list(
        encode_new(
            "zone:north-end",
            news,
            seq=41,
            version=6,
            prev_hash="ab" * 32,
            recorded_at="2026-11-26T12:00:00.000000+00:00",
            envelopes=envelopes,
            digests=digests,
        )
    )
    prev = "ab" * 32
    for (seq, stream, version, event_id, type_name, body, hash_hex), env, new, digest in zip(
        rows, envelopes, news, digests, strict=True
    ):
        record = record_of_envelope(env)
        assert body == canonical_body(record) and hash_hex == body_hash(body) == digest.hex()
        assert record["hash"] == hash_hex and record["prev_hash"] == prev
        assert (seq, stream, version, event_id, type_name) == (
            env.seq,
            "zone:north-end",
            env.stream_version,
            str(new.event_id),
            new.type,
        )
        assert list(record) == sorted(record)  # exports print the keys as hashed
        assert orjson.loads(body) == {k: v for k, v in record.items() if k != "hash"}
        prev = hash_hex
    assert [r[0] for r in rows] == [42, 43, 44] and [r[2] for r in rows] == [7, 8, 9]


def test_encoded_envelopes_equal_validated_ones_for_every_kind_of_field() -> None:
    """`encode_new` spells the record out inline: its bodies stay the canonical body of the
    envelope and its envelopes equal validated ones, with ids, causes, a trace, times in
    other zones or on a whole second, and text that JSON escapes."""
    import uuid

    from lfr.store.hashchain import body_hash, canonical_body, encode_new, record_of_envelope
    from schemas.envelope import Envelope
    from tests.store.contract import checked_in, discarded, matched

    east = timezone(timedelta(hours=5, minutes=30))
    base = [discarded(), matched(), checked_in(), discarded()]
    news = [
        base[0].model_copy(update={"correlation_id": uuid.uuid4(), "traceparent": 'a"\\é\n'}),
        base[1].model_copy(
            update={"causation_id": uuid.uuid4(), "occurred_at": datetime.now(east)}
        ),
        base[2].model_copy(update={"occurred_at": datetime(2026, 11, 26, 9, 0, tzinfo=UTC)}),
        base[3],
    ]
    envelopes: list[Envelope] = []
    stream = 'camera:"ne-1"\\é'
    rows = list(
        encode_new(
            stream,
            news,
            seq=0,
            version=0,
            prev_hash="0" * 64,
            recorded_at="2026-11-26T12:00:00.000000+00:00",
            envelopes=envelopes,
        )
    )
    for row, env, new in zip(rows, envelopes, news, strict=True):
        record = record_of_envelope(env)
        assert row[5] == canonical_body(record) and row[6] == body_hash(row[5]) == env.hash
        assert env == Envelope.model_validate(record)
        assert env.occurred_at == new.occurred_at and env.occurred_at.tzinfo is UTC
        assert (env.correlation_id, env.causation_id) == (new.correlation_id, new.causation_id)
        assert env.traceparent == new.traceparent and env.stream == stream
        assert env.model_fields_set == set(Envelope.model_fields)


def test_same_event_tells_a_resent_event_from_a_reused_id() -> None:
    from lfr.store.hashchain import new_envelopes, record_of_envelope, same_event
    from tests.store.contract import discarded

    new = discarded(3)
    [env] = new_envelopes(
        "camera:ne-1", [new], seq=0, version=0, prev_hash=GENESIS_HASH, recorded_at=_NOW
    )
    record = record_of_envelope(env)
    assert same_event(record, "camera:ne-1", new)
    assert not same_event(record, "camera:ne-2", new)
    assert not same_event(
        record, "camera:ne-1", discarded(4).model_copy(update={"event_id": new.event_id})
    )


def test_decode_and_check_link_name_what_is_wrong() -> None:
    import pytest

    from lfr.store import CorruptLogError
    from lfr.store.hashchain import check_link, decode_record, new_envelopes, record_of_envelope
    from tests.store.contract import discarded

    with pytest.raises(CorruptLogError, match="log.db at seq 9: event body is not JSON"):
        decode_record(b"{not json", "00", where="log.db", seq=9)
    [a, b] = new_envelopes(
        "s", [discarded(), discarded()], seq=0, version=0, prev_hash=GENESIS_HASH, recorded_at=_NOW
    )
    ra, rb = record_of_envelope(a), record_of_envelope(b)
    assert check_link(rb, 2, check_link(ra, 1, GENESIS_HASH, where="x"), where="x") == b.hash
    with pytest.raises(CorruptLogError, match="chain is broken"):
        check_link(rb, 2, GENESIS_HASH, where="x")
    with pytest.raises(CorruptLogError, match="does not match its hash"):
        check_link({**ra, "payload": {"frames": 99}}, 1, GENESIS_HASH, where="x")
    with pytest.raises(CorruptLogError, match="expected seq 3"):
        check_link(rb, 3, a.hash, where="x")


_NOW = "2026-11-26T12:00:00.000000+00:00"
