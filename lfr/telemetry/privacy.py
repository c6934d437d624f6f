"""Checks that telemetry carries no biometric value and no identity of a non-match.

Used by tests and by `lfr demo` on its own spans: an attribute that looks like an embedding,
pixels or a crop, or that names a person who was not matched, is a breach of the deletion
promise and is reported with the span and key where it was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["FORBIDDEN_KEY_PARTS", "metric_label_breaches", "span_breaches"]

#: Attribute keys that must never appear on a span or metric.
FORBIDDEN_KEY_PARTS = ("embedding", "vector", "crop", "pixel", "image", "face_b64", "landmark")
_MAX_NUMERIC_SEQUENCE = 8  # longer float sequences look like embeddings or landmarks


def _value_breach(key: str, value: Any, forbidden: Iterable[str]) -> str | None:
    low = key.lower()
    if any(part in low for part in FORBIDDEN_KEY_PARTS):
        return f"forbidden key {key!r}"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"binary value under {key!r}"
    if isinstance(value, tuple | list):
        if len(value) > _MAX_NUMERIC_SEQUENCE and all(isinstance(v, float | int) for v in value):
            return f"numeric sequence of {len(value)} under {key!r} (embedding-like)"
        values = [str(v) for v in value]
    else:
        values = [str(value)]
    for text in values:
        for name in forbidden:
            if name and name.lower() in text.lower():
                return f"non-match identity {name!r} under {key!r}"
    return None


def _attr_breaches(where: str, attrs: Mapping[str, Any] | None, forbidden: list[str]) -> list[str]:
    found = []
    for key, value in (attrs or {}).items():
        why = _value_breach(key, value, forbidden)
        if why:
            found.append(f"{where}: {why}")
    return found


def span_breaches(
    spans: Iterable[ReadableSpan], forbidden_identities: Iterable[str] = ()
) -> list[str]:
    """Every place a span, its events or its name carry a biometric value or a forbidden name."""
    forbidden = [f for f in forbidden_identities if f]
    found: list[str] = []
    for span in spans:
        where = f"span {span.name!r}"
        why = _value_breach("name", span.name, forbidden)
        if why:
            found.append(f"{where}: {why}")
        found += _attr_breaches(where, span.attributes, forbidden)
        for ev in span.events:
            found += _attr_breaches(f"{where} event {ev.name!r}", ev.attributes, forbidden)
    return found


def metric_label_breaches(
    data: MetricsData | None, forbidden_identities: Iterable[str] = ()
) -> list[str]:
    """Every metric data point whose labels carry a biometric value or a forbidden name."""
    forbidden = [f for f in forbidden_identities if f]
    found: list[str] = []
    if data is None:
        return found
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    found += _attr_breaches(f"metric {metric.name!r}", point.attributes, forbidden)
    return found
