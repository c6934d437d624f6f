"""Sealing: the personal fields of alert events, encrypted so that retention can erase them.

The log is append-only and hash-chained, so it cannot forget by deleting. Instead every
`PersonalEvent` (a match, an alert) is appended sealed: its `PERSONAL` fields (who, the image
refs) are encrypted with AES-256-GCM under a fresh data key, and that key is kept in the
biometric vault as a `field_key` blob with the alert's retention date. The chain covers the
ciphertext; when retention shreds the key, the fields are gone for good while the log still
verifies and still shows counts, times, thresholds, versions and decisions.

`Sealer` does both directions for the site: actors seal what they emit and open what they
read back when they rebuild (`lfr.kernel.sourced`); the read model opens alerts as it serves
them (`lfr.projections.Views`). Opening a shredded key gives "erased at ..." rather than an
error. The associated data binds the ciphertext to its event type, key and field names, so a
sealed block moved to another event does not open.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio
import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lfr.errors import LfrError
from lfr.vault import BiometricVault, BlobNotFoundError, BlobShreddedError
from schemas.events import PersonalEvent, Sealed
from schemas.registry import Event
from schemas.views import AlertRecord

__all__ = ["ALERT_RETENTION", "Opened", "SealError", "Sealer"]

log = logging.getLogger(__name__)

#: how long an alert's personal fields stay readable (the policy's 31 days, as for crops)
ALERT_RETENTION = timedelta(days=31)

_E = TypeVar("_E", bound=Event)


class SealError(LfrError):
    """Sealed fields failed authentication: the log or the vault was altered."""

    def __init__(self, type_name: str, key_ref: str) -> None:
        super().__init__(
            f"the sealed fields of a {type_name} (key {key_ref}) fail authentication: the "
            "event or its key was altered; run `lfr audit verify` on the log"
        )


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening a sealed block gave: the fields, or when they were erased."""

    fields: dict[str, Any] | None
    erased_at: str | None = None


def _aad(type_name: str, key_ref: str, fields: Sequence[str]) -> bytes:
    return f"{type_name}:{key_ref}:{','.join(fields)}".encode()


class Sealer:
    """Seals and opens `PersonalEvent`s with data keys kept in `vault`.

    Sync methods suit code already in a worker thread; the async ones batch a whole list
    into one thread hop."""

    def __init__(self, vault: BiometricVault, *, retain: timedelta = ALERT_RETENTION) -> None:
        self.vault = vault
        self.retain = retain

    # --- sealing ----------------------------------------------------------------------------

    def seal_sync(self, event: _E, at: datetime, *, until: datetime | None = None) -> _E:
        """`event` with its personal fields encrypted, their key kept until `until` (default
        `at` + retention); events without personal fields, or none set, come back unchanged."""
        if not isinstance(event, PersonalEvent):
            return event
        cleared = {
            f: type(event).model_fields[f].get_default(call_default_factory=True)
            for f in event.PERSONAL
        }
        if event.sealed is not None:  # an opened event: store only its sealed form
            return event.model_copy(update=cleared)
        names = tuple(f for f in event.PERSONAL if getattr(event, f) != cleared[f])
        if not names:
            return event
        plain = orjson.dumps(event.model_dump(mode="json", include=set(names)))
        key = AESGCM.generate_key(bit_length=256)
        ref = self.vault.put_sync(key, "field_key", until or at + self.retain)
        nonce = os.urandom(12)
        ciphertext = AESGCM(key).encrypt(nonce, plain, _aad(event.type_name(), ref.blob_id, names))
        sealed = Sealed(
            key_ref=ref.blob_id,
            fields=names,
            nonce=base64.b64encode(nonce).decode(),
            ciphertext=base64.b64encode(ciphertext).decode(),
        )
        return event.model_copy(update={**cleared, "sealed": sealed})

    async def seal_until(self, event: _E, until: datetime) -> _E:
        """One event sealed under a key kept until `until` (a watchlist entry's expiry)."""
        return await anyio.to_thread.run_sync(
            lambda: self.seal_sync(event, until, until=until), limiter=self.vault.limiter
        )

    async def seal(self, events: Sequence[_E], at: datetime) -> list[_E]:
        if not any(isinstance(e, PersonalEvent) for e in events):
            return list(events)
        return await anyio.to_thread.run_sync(
            lambda: [self.seal_sync(e, at) for e in events], limiter=self.vault.limiter
        )

    # --- opening ----------------------------------------------------------------------------

    def open_fields_sync(self, type_name: str, sealed: Sealed | Mapping[str, Any]) -> Opened:
        """The sealed fields as JSON values, or when their key was shredded.

        :raises SealError: the ciphertext does not authenticate under its key.
        """
        block = sealed if isinstance(sealed, Sealed) else Sealed.model_validate(sealed)
        try:
            key = self.vault.get_sync(block.key_ref)
        except BlobShreddedError as exc:
            return Opened(None, exc.shredded_at)
        except BlobNotFoundError:
            log.warning("sealed fields with key %s: not in this vault", block.key_ref)
            return Opened(None)
        try:
            plain = AESGCM(key).decrypt(
                base64.b64decode(block.nonce),
                base64.b64decode(block.ciphertext),
                _aad(type_name, block.key_ref, block.fields),
            )
        except (InvalidTag, ValueError) as exc:
            raise SealError(type_name, block.key_ref) from exc
        fields: dict[str, Any] = orjson.loads(plain)
        return Opened(fields)

    def open_sync(self, event: _E) -> _E:
        """`event` with its sealed fields restored (the `sealed` block kept); unchanged when
        it is not sealed or its key was shredded (then `event.erased`)."""
        if not isinstance(event, PersonalEvent) or event.sealed is None:
            return event
        opened = self.open_fields_sync(event.type_name(), event.sealed)
        if opened.fields is None:
            return event
        return type(event).model_validate({**event.model_dump(mode="json"), **opened.fields})

    async def open(self, events: Sequence[_E]) -> list[_E]:
        if not any(isinstance(e, PersonalEvent) and e.sealed is not None for e in events):
            return list(events)
        return await anyio.to_thread.run_sync(
            lambda: [self.open_sync(e) for e in events], limiter=self.vault.limiter
        )

    # --- the alert view ---------------------------------------------------------------------

    def open_alert_sync(self, alert: AlertRecord) -> AlertRecord:
        """`alert` with its personal fields opened, or with `erased_at` once shredded."""
        if alert.sealed is None or alert.subject_label is not None:
            return alert
        opened = self.open_fields_sync("AlertRaised", alert.sealed)
        if opened.fields is None:
            erased = datetime.fromisoformat(opened.erased_at) if opened.erased_at else None
            return alert.model_copy(update={"erased_at": erased})
        return AlertRecord.model_validate({**alert.model_dump(mode="json"), **opened.fields})

    async def open_alerts(self, alerts: Sequence[AlertRecord]) -> list[AlertRecord]:
        return await anyio.to_thread.run_sync(
            lambda: [self.open_alert_sync(a) for a in alerts], limiter=self.vault.limiter
        )
