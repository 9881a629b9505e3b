"""How long to wait before trying again: exponential backoff with full jitter (pure)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, bounded by `cap` seconds per wait."""

    base: float
    cap: float
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        return self.rand() * min(self.cap, self.base * 2.0 ** (attempt - 1))
