"""The only place MQTT topic strings and payload bytes are built (and parsed back).

Layout, one site per prefix, so a per-officer ACL can grant exactly a patrol and its zone:

    lfr/{site}/zone/{zone}/state                      retained ZoneStateMessage
    lfr/{site}/zone/{zone}/patrol/{patrol}/alert      AlertMessage (QoS 1, message expiry)
    lfr/{site}/zone/{zone}/patrol/{patrol}/update     AlertUpdateMessage (QoS 1)

Segments are validated: a zone or patrol id holding `/`, `+` or `#` would let one officer's
subscription match another's topics, so it is refused here rather than at the broker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import BaseModel, TypeAdapter

from lfr.errors import LfrError
from schemas.messages import AlertMessage, AlertUpdateMessage, ZoneStateMessage

__all__ = [
    "ALERT_EXPIRY_S",
    "CHANNELS",
    "ChannelSpec",
    "InvalidTopicError",
    "Message",
    "Topics",
    "decode",
    "encode",
]

Message = AlertMessage | AlertUpdateMessage | ZoneStateMessage
_MESSAGE = TypeAdapter(Message)

#: Default MQTT 5 message expiry of an alert: an alert nobody saw in 15 minutes is escalated
#: by the zone anyway, and a stale card on a phone would send an officer after nobody.
ALERT_EXPIRY_S = 900

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class InvalidTopicError(LfrError, ValueError):
    """A zone, patrol or site id cannot be a topic segment."""

    def __init__(self, what: str, value: str) -> None:
        self.what = what
        self.value = value
        super().__init__(
            f"{what} {value!r} cannot be an MQTT topic segment: use letters, digits, '-', '_' "
            "or '.', at most 64 characters, no '/', '+' or '#'"
        )


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of the AsyncAPI document: its address template and delivery semantics."""

    name: str
    address: str
    message: type[BaseModel]
    summary: str
    qos: Literal[0, 1, 2]
    retain: bool
    expiry_s: int | None


CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec(
        name="zoneState",
        address="lfr/{site}/zone/{zone}/state",
        message=ZoneStateMessage,
        summary="Whether the zone is armed and why (retained: the last state waits for you).",
        qos=1,
        retain=True,
        expiry_s=None,
    ),
    ChannelSpec(
        name="patrolAlert",
        address="lfr/{site}/zone/{zone}/patrol/{patrol}/alert",
        message=AlertMessage,
        summary="A new alert for one patrol; de-duplicate on alert_id.",
        qos=1,
        retain=False,
        expiry_s=ALERT_EXPIRY_S,
    ),
    ChannelSpec(
        name="patrolAlertUpdate",
        address="lfr/{site}/zone/{zone}/patrol/{patrol}/update",
        message=AlertUpdateMessage,
        summary="An alert the patrol holds was acknowledged, judged, engaged or escalated.",
        qos=1,
        retain=False,
        expiry_s=ALERT_EXPIRY_S,
    ),
)


def _seg(what: str, value: str) -> str:
    if not _SEGMENT.match(value):
        raise InvalidTopicError(what, value)
    return value


@dataclass(frozen=True)
class Topics:
    """Topic names of one site."""

    site: str = "lfr"

    def __post_init__(self) -> None:
        _seg("site", self.site)

    @property
    def root(self) -> str:
        return f"lfr/{self.site}"

    def zone_state(self, zone: str) -> str:
        return f"{self.root}/zone/{_seg('zone', zone)}/state"

    def alert(self, zone: str, patrol: str) -> str:
        return f"{self.root}/zone/{_seg('zone', zone)}/patrol/{_seg('patrol', patrol)}/alert"

    def update(self, zone: str, patrol: str) -> str:
        return f"{self.root}/zone/{_seg('zone', zone)}/patrol/{_seg('patrol', patrol)}/update"

    def patrol_filter(self, zone: str, patrol: str) -> str:
        """Subscription filter for everything one patrol may read (its alerts and updates)."""
        return f"{self.root}/zone/{_seg('zone', zone)}/patrol/{_seg('patrol', patrol)}/+"

    def all_zone_states(self) -> str:
        return f"{self.root}/zone/+/state"

    def for_message(self, message: Message) -> str:
        """The topic a message belongs on."""
        if isinstance(message, ZoneStateMessage):
            return self.zone_state(message.zone)
        if isinstance(message, AlertMessage):
            return self.alert(message.zone, message.patrol_id)
        return self.update(message.zone, message.patrol_id)


def encode(message: Message) -> bytes:
    """The UTF-8 JSON bytes of a message, as published."""
    return orjson.dumps(message.model_dump(mode="json"))


def decode(payload: bytes | str) -> Message:
    """Parse published bytes back into their message model (raises pydantic ValidationError)."""
    return _MESSAGE.validate_json(payload)
