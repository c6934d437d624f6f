"""Verifying a partitioned log (on JetStream, the one engine that partitions): every partition
on its own (`verify_log`, as for any log), then the signed heads statements against what those
checks established (`lfr.store.heads.check_heads`). Blocking: the audit CLI's.

    lfr audit verify --engine nats --stream BASE --partition all    (or one partition's name)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreError
from lfr.store.heads import HeadsCheckpoint, PartitionFacts, check_heads
from lfr.store.verify import VerifyResult, verify_log

__all__ = ["PartitionsResult", "verify_partitions"]


@dataclass
class PartitionsResult:
    """What verifying a partitioned log found; `ok` when every partition and every heads
    statement holds."""

    log: str
    partitions: dict[str, VerifyResult] = field(default_factory=dict)
    statements: int = 0
    heads_root: str | None = None  # the newest statement's root
    newest_heads: dict[str, int] = field(default_factory=dict)  # partition -> tree size
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.partitions.values())

    @property
    def events(self) -> int:
        return sum(r.events for r in self.partitions.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "log": self.log,
            "events": self.events,
            "statements": self.statements,
            "heads_root": self.heads_root,
            "newest_heads": self.newest_heads,
            "problems": self.problems,
            "partitions": {name: r.to_dict() for name, r in self.partitions.items()},
        }


@contextlib.contextmanager
def _portal() -> Iterator[Any]:
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        yield portal


async def _survey(
    url: str, base: str, connect_kw: dict[str, Any]
) -> tuple[list[str], list[HeadsCheckpoint]]:
    """The partitions' names (their streams, and any a statement names) and every statement."""
    from nats.js.errors import NotFoundError

    from lfr.store.nats import NatsHeads, connect, heads_stream, nats_errors

    nc = await connect(url, connect_attempts=1, **connect_kw)
    try:
        js = nc.jetstream()
        where = f"nats:{base}"
        names: set[str] = set()
        with nats_errors(where):
            for info in await js.streams_info():
                name = info.config.name or ""
                if name.startswith(f"{base}-") and name != heads_stream(base):
                    names.add(name[len(base) + 1 :])
            try:
                info = await js.stream_info(heads_stream(base))
            except NotFoundError:
                raise StoreError(
                    f"{where}: no partitioned log here (no stream {heads_stream(base)}); check "
                    "--stream (the log's base name) and --nats-url"
                ) from None
        subjects = info.config.subjects or []
        prefix = subjects[0].removesuffix(".heads.>") if subjects else ""
        heads = NatsHeads(nc, js, base=base, base_prefix=prefix)
        statements = [s async for s in heads.statements()]
        for s in statements:
            names.update(h.partition for h in s.heads)
        return sorted(names), statements
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


def verify_partitions(
    url: str,
    base: str,
    *,
    only: str | None = None,
    public_key: Ed25519PublicKey | None = None,
    creds: Path | None = None,
    user: str | None = None,
    password: str | None = None,
    token: str | None = None,
) -> PartitionsResult:
    """Verify every partition of the log `base` (or `only` that one) and the heads statements.

    With `only`, the statements are checked for that partition's heads alone (and their
    signatures where the signer is that partition); without it, all of them, and a
    partition a statement names but the server lacks is a problem.

    :raises StoreError: no partitioned log `base` there; the server is unreachable.
    """
    from lfr.store.nats import NatsAuditSource, partition_stream

    connect_kw: dict[str, Any] = {
        "creds": creds,
        "user": user,
        "password": password,
        "token": token,
    }
    with _portal() as portal:
        names, statements = portal.call(_survey, url, base, connect_kw)
    result = PartitionsResult(log=base, statements=len(statements))
    if only is not None:
        if only not in names:
            raise StoreError(f"nats:{base}: no partition {only!r} (partitions: {names})")
        names = [only]
    facts: dict[str, PartitionFacts] = {}
    for name in names:
        try:
            source = NatsAuditSource.connect(
                url,
                partition_stream(base, name),
                creds=creds,
                user=user,
                password=password,
                token=token,
            )
        except StoreError as exc:
            result.problems.append(f"partition {name!r}: {exc}")
            continue
        try:
            verified = verify_log(source, public_key=public_key)
            result.partitions[name] = verified
            pem = source.public_key_pem()
            facts[name] = PartitionFacts(
                log_id=source.log_id,
                public_key=ckpt.load_public_key(pem) if pem else None,
                checkpoints=[c for c in source.checkpoints() if c.tree_size <= verified.events],
            )
        finally:
            source.close()
    result.problems += check_heads(statements, facts, log=base, complete=only is None)
    if statements:
        newest = statements[-1]
        result.heads_root = newest.root
        result.newest_heads = {h.partition: h.tree_size for h in newest.heads}
    return result
