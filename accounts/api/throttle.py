"""Per-token rate limit: a fixed one-minute window counted in the shared (database) cache."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

WINDOW_SECONDS = 60


class TokenRateThrottle(BaseThrottle):
    """Allow KARMO_API_RATE_LIMIT requests per token per minute (0 turns the limit off)."""

    def __init__(self) -> None:
        # ninja asks wait() right after a refusal, in the same thread.
        self._local = threading.local()

    def allow_request(self, request: HttpRequest) -> bool:
        """Count this request in the token's current window."""
        limit = settings.KARMO_API_RATE_LIMIT
        token = getattr(request, "auth", None)
        if limit <= 0 or token is None:
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"karmo:api-rate:{token.pk}:{window}"
        # Shared by every app server; add() starts the window, incr() counts in it.
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # the entry expired between add() and incr()
            cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        if count <= limit:
            return True
        self._local.wait = (window + 1) * WINDOW_SECONDS - now
        return False

    def wait(self) -> float | None:
        """Seconds until the current window ends."""
        return getattr(self._local, "wait", None)
