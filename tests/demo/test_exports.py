"""Each public package of mine lists exactly its public names in `__all__` (as httpx does)."""

import importlib
import types

import pytest


@pytest.mark.parametrize("name", ["lfr.demo", "lfr.scenes", "lfr.report", "lfr.telemetry"])
def test_all_matches_the_namespace(name):
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public == set(module.__all__)
