"""Generate `schemas/asyncapi.yaml` (AsyncAPI 3, MQTT bindings) from the topic table and the
pydantic payload models, so the document cannot say something the code does not do.

Regenerate with `python -m lfr.transport.asyncapi > schemas/asyncapi.yaml`; a test fails when
the committed file differs from what this module renders.
"""

from __future__ import annotations

import copy
import re
import sys
from typing import Any

import yaml

from lfr.transport.topics import CHANNELS

__all__ = ["SESSION_EXPIRY_S", "build_document", "render"]

#: How long the broker keeps an offline officer's session (and the QoS 1 alerts queued for it).
SESSION_EXPIRY_S = 12 * 3600

_BINDING_VERSION = "0.2.0"


def _schema_of(model: type[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's JSON Schema with `$defs` lifted to components/schemas."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return schema, defs


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a plain dict."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for spec in CHANNELS:
        model_name = spec.message.__name__
        schema, defs = _schema_of(spec.message)
        schemas.update(defs)
        schemas[model_name] = schema
        messages[model_name] = {
            "name": model_name,
            "title": model_name,
            "summary": (spec.message.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model_name}"},
            "headers": {
                "type": "object",
                "description": (
                    "MQTT 5 user properties; an MQTT 3.1.1 broker (the embedded one) has none, "
                    "and the payload's traceparent field carries the same value"
                ),
                "properties": {
                    "traceparent": {
                        "type": "string",
                        "description": "W3C Trace Context of the event that caused this message",
                    }
                },
            },
            "bindings": {
                "mqtt": {
                    "payloadFormatIndicator": 1,
                    "contentType": "application/json",
                    "bindingVersion": _BINDING_VERSION,
                }
            },
        }
        params = re.findall(r"{(\w+)}", spec.address)
        channels[spec.name] = {
            "address": spec.address,
            "summary": spec.summary,
            "parameters": {p: {"description": f"the {p} id"} for p in params},
            "messages": {model_name: {"$ref": f"#/components/messages/{model_name}"}},
        }
        op_binding: dict[str, Any] = {
            "qos": spec.qos,
            "retain": spec.retain,
            "bindingVersion": _BINDING_VERSION,
        }
        if spec.expiry_s is not None:
            op_binding["messageExpiryInterval"] = spec.expiry_s
        operations[f"publish{spec.name[0].upper()}{spec.name[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{spec.name}"},
            "summary": spec.summary,
            "messages": [{"$ref": f"#/channels/{spec.name}/messages/{model_name}"}],
            "bindings": {"mqtt": op_binding},
        }
    server_binding = {
        "mqtt": {
            "cleanSession": False,
            "sessionExpiryInterval": SESSION_EXPIRY_S,
            "bindingVersion": _BINDING_VERSION,
        }
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "lfr alerts to officers",
            "version": "1.0.0",
            "description": (
                "Alerts, alert updates and zone state that lfr publishes to patrol officers. "
                "QoS 1 everywhere; clients de-duplicate on alert_id. Generated from "
                "schemas/messages.py by lfr.transport.asyncapi: do not edit by hand."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:1883",
                "protocol": "mqtt",
                "protocolVersion": "3.1.1",
                "description": (
                    "in-process amqtt broker (lfr serve without a broker configured). MQTT "
                    "3.1.1 only: no message expiry and no user properties, so alerts carry "
                    "expires_at and traceparent in the payload and a client drops an alert "
                    "past expires_at itself; the broker keeps an offline session for "
                    "sessionExpiryInterval seconds"
                ),
                "bindings": copy.deepcopy(server_binding),
            },
            "embeddedWebSocket": {
                "host": "127.0.0.1:8083",
                "protocol": "ws",
                "description": "the embedded broker's WebSocket listener for browsers",
                "bindings": copy.deepcopy(server_binding),
            },
            "production": {
                "host": "mqtt.example.police.uk:8883",
                "protocol": "secure-mqtt",
                "protocolVersion": "5",
                "description": "Mosquitto with TLS and a per-officer ACL (ops/mosquitto.conf)",
                "bindings": copy.deepcopy(server_binding),
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    """The document as YAML text, exactly as committed."""
    return yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
