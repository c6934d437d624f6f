"""The committed OpenAPI document matches the code."""

import json
from pathlib import Path

from lfr.api.openapi import render

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_app():
    committed = (ROOT / "schemas" / "openapi.json").read_text()
    assert committed == render(), (
        "schemas/openapi.json drifted: run `python -m lfr.api.openapi > schemas/openapi.json`"
    )


def test_every_operation_documents_bearer_errors():
    doc = json.loads(render())
    for path, ops in doc["paths"].items():
        if not path.startswith("/api/") or "/whip/" in path:
            continue
        for method, op in ops.items():
            assert {"401", "403"} <= set(op["responses"]), (method, path)
