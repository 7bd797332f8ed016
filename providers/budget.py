"""One request budget per provider: a token bucket at a safe fraction of the published limit.

Every request an adapter sends takes a token first, whichever thread sends it, so the sync's
concurrent page readers together stay under the provider's limit. A 429 pauses the whole
bucket for the Retry-After: the provider counts per credential, so one refusal means every
reader is about to be refused too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

# What each provider publishes per credential (requests, window seconds); see providers.md.
# Stytch's docs and SDK disagree; ~100/s for its search endpoints is the docs' figure.
PUBLISHED_LIMITS: dict[str, tuple[int, float]] = {
    "workos": (6000, 60.0),
    "stytch": (100, 1.0),
    "zitadel": (3000, 60.0),
}


def published_rate(provider: str) -> float:
    """The provider's published limit in requests per second."""
    requests, window = PUBLISHED_LIMITS[provider]
    return requests / window


class Budget:
    """A token bucket shared by every thread of one provider; `pause` stops all of them."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a budget needs a positive rate")
        self.rate = rate
        # A tenth of a second's worth: enough to keep readers busy, too little to break a
        # per-second window when added to the steady rate.
        self.capacity = float(burst or max(1, math.ceil(rate / 10)))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.taken = 0
        self.pauses = 0
        self.waited = 0.0

    def acquire(self) -> None:
        """Block until a request may be sent."""
        while True:
            with self._lock:
                now = self._clock()
                if now < self._paused_until:
                    delay = self._paused_until - now
                else:
                    self._tokens = min(
                        self.capacity, self._tokens + (now - self._updated) * self.rate
                    )
                    self._updated = now
                    if self._tokens >= 1:
                        self._tokens -= 1
                        self.taken += 1
                        return
                    delay = (1 - self._tokens) / self.rate
                self.waited += delay
            self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the provider said 429); the bucket restarts empty."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0
            self._updated = self._paused_until
            self.pauses += 1
