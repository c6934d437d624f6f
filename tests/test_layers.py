"""The import contracts cover the whole of `lfr`: every subpackage and module is either in
the runtime list of the contract "the lfr runtime never imports actors or the edges" or one
of the edges (cli, demo, bench), so a new subpackage cannot slip past the layers unseen."""

import pkgutil
import tomllib
from pathlib import Path

import lfr

ROOT = Path(__file__).resolve().parents[1]
EDGES = {"lfr.cli", "lfr.demo", "lfr.bench"}


def _contracts() -> list[dict]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return pyproject["tool"]["importlinter"]["contracts"]


def test_every_lfr_subpackage_is_in_a_layer() -> None:
    (runtime,) = [
        c for c in _contracts() if c["name"] == "the lfr runtime never imports actors or the edges"
    ]
    children = {f"lfr.{m.name}" for m in pkgutil.iter_modules(lfr.__path__)}
    listed = set(runtime["source_modules"])
    missing = children - listed - EDGES
    assert not missing, f"add {sorted(missing)} to the runtime contract (or the edges)"
    assert not listed & EDGES, "an edge cannot be part of the runtime"
    assert listed <= children, f"stale names in the runtime contract: {sorted(listed - children)}"
    assert set(runtime["forbidden_modules"]) == {"actors"} | EDGES


def test_the_edges_sit_above_actors() -> None:
    (above,) = [c for c in _contracts() if c["name"] == "actors never imports the edges"]
    assert set(above["forbidden_modules"]) == EDGES
