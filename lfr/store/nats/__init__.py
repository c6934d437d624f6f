"""The distributed engine: the log on NATS JetStream, with the same envelopes, hash chain and
signed Merkle checkpoints as the SQLite engine.

JetStream 2.9 has no atomic multi-message publish, so one *batch* is one message (a JSON
array of records) on `<prefix>.<stream>`: a batch is stored whole or not at all. Each carries
the headers `Lfr-Seq` (its first record's global seq) and `Lfr-Count`, so a reader finds the
message holding any seq by bisecting the stream. Ordering and concurrency come from JetStream
itself: each publish carries `Nats-Expected-Last-Sequence` (no other writer appended since
this one last looked, so the `seq`, `prev_hash` and stream versions it computed still hold);
a refused publish makes the writer catch up and decide again. `Nats-Msg-Id` (derived from the
batch's event ids) makes a retried publish a no-op inside the server's duplicate window, and
the writer's event-id index makes it a no-op after it.

The log's own records sit beside the events in the same stream, on subjects two tokens deep
(an event subject is one token after the prefix, so they never collide):

    <prefix>._lfr.meta   the log's identity: format, log_id, created_at, the signing key's
                         public half (published once, by the writer that finds the stream empty)
    <prefix>._lfr.cp     signed checkpoints (`lfr.store.checkpoint`'s format, the same key
                         handling as SQLite) with the Merkle frontier at their size

Readers page: every read runs an ephemeral pull consumer (`AckPolicy.NONE`, filtered on
`<prefix>.*`, from the message holding the first seq asked for) and fetches a bounded number
of messages at a time, so no reader holds the log in memory; `subscribe` follows with one
such consumer. The writer keeps only what deciding an append needs, in bounded memory: the
tail (seq, hash, JetStream sequence), the Merkle frontier (O(log n)), the versions of the
streams written lately (an older one is read back from its subject's newest message) and the
ids of the newest `ID_WINDOW` events (idempotency; a retry of an older batch is caught by the
server's duplicate window, two minutes). It opens from the newest checkpoint signed by the
log's key (its frontier is the tail's), reading only what follows: a log of ten million
events opens as fast as one of ten thousand.

A *partitioned* log (`Partition`; `[store] partition`) is several such logs, one stream
each (`<base>-<partition>`), so that writers on different partitions never contend for one
tail; each partition's checkpoints are also stated, at most once a second, in signed heads
statements on `<base>-heads` (`lfr.store.heads`: a Merkle tree of every partition's head),
which `lfr.store.partitions.verify_partitions` checks against every partition's own.

`NatsAuditSource` is the same log, read synchronously for `lfr audit` and the API's audit
routes (`lfr.store.source.AuditSource`).

One concept a module: the writer (`_store`), its checkpoint signer and witness publishing
(`_checkpoints`, mixed into the writer), the paged reader (`_reader`), the audit source
(`_audit`), a partitioned log's heads statements (`_heads`), and the connection with the one
translation of nats-py errors (`_errors`).

nats-py errors are translated into the store's in one place (`_NatsErrors`): a dead or
unreachable server is a `StoreUnavailableError`, never a client exception.
"""

from lfr.store.nats._audit import NatsAuditSource
from lfr.store.nats._errors import _NatsErrors as nats_errors
from lfr.store.nats._errors import connect
from lfr.store.nats._heads import NatsHeads, Partition, heads_stream, partition_stream
from lfr.store.nats._reader import FORMAT as FORMAT
from lfr.store.nats._reader import FORMAT_VERSION as FORMAT_VERSION
from lfr.store.nats._reader import PAGE_BYTES as PAGE_BYTES
from lfr.store.nats._reader import PAGE_MESSAGES as PAGE_MESSAGES
from lfr.store.nats._reader import NatsLogReader
from lfr.store.nats._store import NatsEventStore
from lfr.store.nats._store import log as log

__all__ = [
    "NatsAuditSource",
    "NatsEventStore",
    "NatsHeads",
    "NatsLogReader",
    "Partition",
    "connect",
    "heads_stream",
    "partition_stream",
    "nats_errors",
]
