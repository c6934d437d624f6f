"""Alerts to officers over MQTT: topics and payloads (the AsyncAPI contract), the publisher
with its outage queue, the zone's `AlertSink`, the event relay, the embedded broker (with the
same per-user passwords and topic ACL as Mosquitto) and Mosquitto credentials/ACL generation."""

from lfr.transport.acl import BrokerUsers
from lfr.transport.broker import (
    BrokerError,
    EmbeddedBroker,
    EmbeddedBrokerConfig,
    ServiceCredentials,
)
from lfr.transport.mqtt import MqttConfig, MqttPublisher, Outbound, ReceivedMessage, subscribe
from lfr.transport.sink import EventRelay, MqttAlertSink, alert_message
from lfr.transport.topics import CHANNELS, InvalidTopicError, Topics, decode, encode

__all__ = [
    "CHANNELS",
    "BrokerError",
    "BrokerUsers",
    "EmbeddedBroker",
    "EmbeddedBrokerConfig",
    "EventRelay",
    "InvalidTopicError",
    "MqttAlertSink",
    "MqttConfig",
    "MqttPublisher",
    "Outbound",
    "ReceivedMessage",
    "ServiceCredentials",
    "Topics",
    "alert_message",
    "decode",
    "encode",
    "subscribe",
]
