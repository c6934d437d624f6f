"""Addresses by name (`zone:north-end`, `camera:ne-1`, `patrol:p-7`) to actor refs."""

from __future__ import annotations

from lfr.kernel.actor import ActorRef
from lfr.kernel.errors import UnknownActorError

__all__ = ["Registry"]


class Registry:
    """Name -> `ActorRef`. Refs survive restarts, so a lookup stays valid for the site's life."""

    def __init__(self) -> None:
        self._refs: dict[str, ActorRef] = {}

    def register(self, ref: ActorRef) -> None:
        if ref.name in self._refs and self._refs[ref.name] is not ref:
            raise ValueError(f"an actor named {ref.name!r} is already registered")
        self._refs[ref.name] = ref

    def lookup(self, name: str) -> ActorRef:
        """:raises UnknownActorError: nothing is registered under `name`."""
        try:
            return self._refs[name]
        except KeyError:
            raise UnknownActorError(name, list(self._refs)) from None

    def get(self, name: str) -> ActorRef | None:
        return self._refs.get(name)

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self._refs if n.startswith(prefix))

    def __contains__(self, name: object) -> bool:
        return name in self._refs

    def __len__(self) -> int:
        return len(self._refs)
