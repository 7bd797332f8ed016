"""One request budget per provider: a token bucket at a safe fraction of the published limit.

Every request an adapter sends takes a token first, whichever thread sends it, so the sync's
concurrent page readers together stay under the provider's limit. A 429 pauses the whole
bucket for the Retry-After: the provider counts per credential, so one refusal means every
reader is about to be refused too.

Requests from threads marked `background()` (the fan-out's readers of many short lists) give
way to the others (a long cursor chain such as the user list), so the chain that bounds the
sync's duration is never starved by the lists that could wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# What each provider publishes per credential (requests, window seconds); see providers.md.
# Stytch's docs and SDK disagree; ~100/s for its search endpoints is the docs' figure.
PUBLISHED_LIMITS: dict[str, tuple[int, float]] = {
    "workos": (6000, 60.0),
    "stytch": (100, 1.0),
    "zitadel": (3000, 60.0),
}


_thread = threading.local()


@contextmanager
def background() -> Iterator[None]:
    """Mark this thread's requests as ones that give way to the other threads'."""
    _thread.background = True
    try:
        yield
    finally:
        _thread.background = False


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
        self._foreground_waiting = 0
        self._lock = threading.Lock()
        self.taken = 0
        self.pauses = 0
        self.waited = 0.0

    def acquire(self) -> None:
        """Block until a request may be sent (background threads after the others)."""
        foreground = not getattr(_thread, "background", False)
        if foreground:
            with self._lock:
                self._foreground_waiting += 1
        try:
            while (delay := self._take(foreground)) is not None:
                self._sleep(delay)
        finally:
            if foreground:
                with self._lock:
                    self._foreground_waiting -= 1

    def _take(self, foreground: bool) -> float | None:
        """None when a token was taken, else how long to wait before trying again."""
        with self._lock:
            now = self._clock()
            if now < self._paused_until:
                delay = self._paused_until - now
            else:
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if not foreground and self._foreground_waiting:
                    delay = 1 / self.rate
                elif self._tokens >= 1:
                    self._tokens -= 1
                    self.taken += 1
                    return None
                else:
                    delay = (1 - self._tokens) / self.rate
            self.waited += delay
            return delay

    def pause(self, seconds: float) -> None:
        """Send nothing for `seconds` (the provider said 429); the bucket restarts empty."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + seconds)
            self._tokens = 0.0
            self._updated = self._paused_until
            self.pauses += 1
