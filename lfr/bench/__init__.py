"""Benchmarks behind `lfr bench`; each module exposes `command` and imports lazily."""

__all__: list[str] = []
