"""Exponential backoff with a cap and jitter, for reconnecting to a camera.

One `Backoff` lives as long as the camera's loop (the camera actor's life): a camera that
stays unreachable is retried ever more rarely, up to `max_s` (30 s by default, about 2,900
attempts a day, recorded as one loss), and the delays of many cameras that went down together
spread apart (`jitter`). It is reset only once video has flowed again for a while, so a camera
that drops again right after each reconnection keeps backing off instead of retrying at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays `first_s`, `first_s * factor`, ... capped at `max_s`, each shortened by up to
    `jitter` (a fraction: 0.1 takes 0-10 % off, never more than the cap) at random."""

    def __init__(
        self,
        first_s: float = 0.5,
        factor: float = 2.0,
        max_s: float = 30.0,
        *,
        jitter: float = 0.1,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if first_s <= 0 or factor < 1 or max_s < first_s or not 0 <= jitter < 1:
            raise ValueError(
                f"Backoff needs 0 < first_s <= max_s, factor >= 1 and 0 <= jitter < 1 "
                f"(got {first_s}, {factor}, {max_s}, {jitter})"
            )
        self.first_s = first_s
        self.factor = factor
        self.max_s = max_s
        self.jitter = jitter
        self._rand = rand
        self.next_s = first_s  # the next delay before jitter
        self.steps = 0  # delays handed out since the last reset

    def step(self) -> float:
        """The next delay (and grow the one after)."""
        delay = self.next_s * (1.0 - self.jitter * self._rand())
        self.next_s = min(self.next_s * self.factor, self.max_s)
        self.steps += 1
        return delay

    def reset(self) -> None:
        self.next_s = self.first_s
        self.steps = 0
