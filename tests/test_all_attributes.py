"""Every public module says what it exports (`__all__`), and says it truthfully.

As anyio's test of the same name: a name in `__all__` must exist, and every public class or
function a module defines must be in its `__all__`, so the public surface can be read off
one line per module and cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ("schemas", "lfr", "actors")


def _public_modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


MODULES = _public_modules()


def test_the_walk_finds_the_tree() -> None:
    assert {"lfr.store.base", "actors.site", "schemas.streams", "lfr.cli.eval"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_declared_and_true(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    unlisted = [
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == name
        and n not in exported
    ]
    assert not unlisted, f"{name} defines public {unlisted} but leaves them out of __all__"
