"""`lfr.vision`, `lfr.watchlist` and `lfr.evaluation` export every name their `__all__` lists."""

import importlib

import pytest


@pytest.mark.parametrize("package", ["lfr.vision", "lfr.watchlist", "lfr.evaluation"])
def test_all_names_resolve(package: str):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None
