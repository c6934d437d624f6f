"""The committed JSON Schema files match the models (CI fails on drift)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lfr.cli import app
from schemas import EVENT_TYPES
from schemas.export import JSON_DIR, render, stale_files


def test_committed_schemas_match_the_models() -> None:
    files = render()
    drift = [
        n
        for n, t in files.items()
        if not (JSON_DIR / n).exists() or (JSON_DIR / n).read_text() != t
    ]
    assert not drift, f"run `lfr schemas export` and commit: {drift}"
    assert stale_files() == []


def test_every_event_and_view_has_a_schema() -> None:
    files = render()
    for name, cls in EVENT_TYPES.items():
        if name.startswith("_"):
            continue
        doc = json.loads(files[f"events/{name}.json"])
        assert doc["x-schema-version"] == cls.SCHEMA_VERSION
        assert set(doc["properties"]) == set(cls.model_fields)
    assert "hash" in json.loads(files["envelope.json"])["properties"]
    assert "views/AlertRecord.json" in files


def test_export_and_check_round_trip(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["schemas", "export", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    check = ["schemas", "export", "--out", str(tmp_path), "--check"]
    assert runner.invoke(app, check).exit_code == 0
    (tmp_path / "events" / "FaceMatched.json").write_text("{}")
    (tmp_path / "old.json").write_text("{}")
    res = runner.invoke(app, check)
    assert res.exit_code == 1 and "FaceMatched" in res.stderr and "old.json" in res.stderr
