"""The store's signer: a thread that signs a checkpoint once the oldest unsigned event is
`interval_s` old (so while events arrive the unsigned tail is never older than that), and
publishes each new signed checkpoint to the log's witnesses with a consistency proof from the
newest one each witness holds.

It reads on a connection of its own (a read-only `SqliteLog`) and signs through the writer's
`checkpoint_now`, which takes the writer's lock, so the appending thread is never blocked for
longer than one signature. Witness failures never stop the log: they are logged (a refusal as
an error: the witness holds a checkpoint this log contradicts) and retried at the next change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from lfr.store import checkpoint as ckpt
from lfr.store.base import StoreError
from lfr.store.sqlite._log import SqliteLog
from lfr.store.witness import Witness, note_witness_outcome, proof_start

__all__ = ["CheckpointSigner"]

log = logging.getLogger("lfr.store.witness")

_RETRY_S = 5.0  # a witness that failed is tried again after this, even without news


class CheckpointSigner:
    """See the module docstring. `close()` publishes a last time and stops the thread."""

    def __init__(
        self, writer: SqliteLog, *, interval_s: float, witnesses: Sequence[Witness] = ()
    ) -> None:
        self.writer = writer
        self.interval_s = interval_s
        self.witnesses = list(witnesses)
        self.published: dict[str, ckpt.Checkpoint] = {}  # witness name -> newest it holds
        self.errors: dict[str, str] = {}  # witness name -> its last error
        self.signed = 0
        self._public_pem = writer.public_key_pem()
        self._reader: SqliteLog | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._publish_lock = threading.Lock()
        writer.on_change = self._wake.set
        self._thread = threading.Thread(target=self._run, name="lfr-sqlite-signer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            since = self.writer.unsigned_since
            timeout = self.interval_s if since is None else since + self.interval_s
            if since is not None:
                timeout = max(0.0, timeout - time.monotonic())
            if self.errors:
                timeout = min(timeout, _RETRY_S)
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.tick()
            except StoreError as exc:  # the log itself failed: say so, try again later
                log.error("checkpoint signer: %s", exc)
                self._stopping.wait(_RETRY_S)

    def tick(self) -> None:
        since = self.writer.unsigned_since
        if since is not None and time.monotonic() - since >= self.interval_s:
            if self.writer.checkpoint_now():
                self.signed += 1
        self.publish()

    def publish(self) -> None:
        """Offer the newest signed checkpoint to every witness that does not hold it."""
        if not self.witnesses:
            return
        with self._publish_lock:
            if self._reader is None:
                self._reader = SqliteLog(self.writer.path, read_only=True)
            newest = self._reader.newest_checkpoint()
            if newest is None:
                return
            for witness in self.witnesses:
                if self.published.get(witness.name) == newest:
                    continue
                try:
                    self._publish_to(witness, newest)
                except StoreError as exc:  # WitnessError included
                    note_witness_outcome(self.errors, witness.name, newest, exc, log)
                else:
                    note_witness_outcome(self.errors, witness.name, newest, None, log)

    def _publish_to(self, witness: Witness, newest: ckpt.Checkpoint) -> None:
        assert self._reader is not None
        start = proof_start(witness.name, witness.latest(newest.log_id), newest, self.published)
        if start is None:
            return
        proof = [h.hex() for h in self._reader.consistency_proof(start, newest.tree_size)]
        witness.submit(newest, self._public_pem, start, proof)
        self.published[witness.name] = newest

    def close(self) -> None:
        """Stop the thread, then publish what the last checkpoint signed (the caller signs it
        first: `checkpoint_now`)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        self.writer.on_change = None
        try:
            self.publish()
        except StoreError as exc:
            log.error("checkpoint signer, closing: %s", exc)
        finally:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
