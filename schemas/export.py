"""JSON Schema documents of the contract: every event, the envelope, the views.

`render()` returns {file name: text}; `lfr schemas export` writes them into `schemas/json/`
and CI fails when the committed files differ (tests/schemas/test_export.py), so a model change
without a regenerated schema cannot slip through.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.envelope import Envelope
from schemas.registry import EVENT_TYPES
from schemas.views import (
    AlertRecord,
    AuditReport,
    CameraRecord,
    DeploymentAudit,
    PatrolRecord,
    ZoneRecord,
)

__all__ = ["JSON_DIR", "render", "stale_files"]

JSON_DIR = Path(__file__).parent / "json"
_VIEWS: tuple[type[BaseModel], ...] = (
    AlertRecord,
    DeploymentAudit,
    AuditReport,
    ZoneRecord,
    PatrolRecord,
    CameraRecord,
)


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every schema document by file name (deterministic text)."""
    files: dict[str, str] = {}
    index: dict[str, Any] = {"events": {}, "envelope": "envelope.json", "views": {}}
    for name in sorted(n for n in EVENT_TYPES if not n.startswith("_")):
        cls = EVENT_TYPES[name]
        doc = cls.model_json_schema()
        doc["$id"] = f"https://lfr.example/schemas/events/{name}.json"
        doc["x-event-type"] = name
        doc["x-schema-version"] = cls.SCHEMA_VERSION
        fname = f"events/{name}.json"
        files[fname] = _dump(doc)
        index["events"][name] = {"schema_version": cls.SCHEMA_VERSION, "file": fname}
    env = Envelope.model_json_schema()
    env["$id"] = "https://lfr.example/schemas/envelope.json"
    env["x-hash"] = (
        "hash = sha256 of the compact JSON, keys sorted, of every field but `hash`; "
        "prev_hash chains it to the previous envelope (64 zeros at seq 1)"
    )
    files["envelope.json"] = _dump(env)
    for view in _VIEWS:
        doc = view.model_json_schema()
        doc["$id"] = f"https://lfr.example/schemas/views/{view.__name__}.json"
        fname = f"views/{view.__name__}.json"
        files[fname] = _dump(doc)
        index["views"][view.__name__] = fname
    files["index.json"] = _dump(index)
    return files


def stale_files(directory: Path = JSON_DIR) -> list[str]:
    """Files under `directory` that `render()` no longer produces."""
    wanted = set(render())
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*.json")
        if str(p.relative_to(directory)) not in wanted
    )
