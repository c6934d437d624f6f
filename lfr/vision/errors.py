"""Errors of the face pipeline.

LfrError
└── ModelError               a model file is missing, wrong, truncated or unreadable
    └── PackIntegrityError   a file's sha256 differs from the pinned value
LfrError
└── EnrolmentError           a photo cannot be enrolled (no face, several faces, unreadable)
"""

from __future__ import annotations

from pathlib import Path

from lfr.errors import LfrError

__all__ = ["EnrolmentError", "ModelError", "PackIntegrityError"]


class ModelError(LfrError):
    """A model pack is missing or unusable; the message says which file and what to do."""


class PackIntegrityError(ModelError):
    """A file of a model pack does not match its pinned sha256."""

    def __init__(self, file: str, expected: str, actual: str | None, where: Path | str) -> None:
        self.file = file
        self.expected = expected
        self.actual = actual
        self.where = where
        found = "is missing" if actual is None else f"has sha256 {actual}"
        super().__init__(
            f"{file} in {where} {found}, expected sha256 {expected}; "
            "run `lfr models pull --force` to fetch a fresh copy"
        )


class EnrolmentError(LfrError):
    """A watchlist photo cannot be enrolled; the message names the photo and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot enrol {path}: {reason}")
