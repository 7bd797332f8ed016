"""Per-token rate limit: a fixed one-minute window counted on the token's row.

The count is a conditional UPDATE (`count < limit` in the WHERE clause), so concurrent
requests on any number of app servers cannot read the same count and both pass: the database
decides, and the limit holds exactly.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db.models import F
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from accounts.models import ApiToken

WINDOW_SECONDS = 60


def take(token_pk: int, window: int, limit: int) -> bool:
    """Count one request of the token in `window`; False when the window is full."""
    tokens = ApiToken.objects.filter(pk=token_pk)
    in_window = tokens.filter(rate_window=window, rate_count__lt=limit)
    if in_window.update(rate_count=F("rate_count") + 1):
        return True
    if tokens.filter(rate_window__lt=window).update(rate_window=window, rate_count=1):
        return True
    # Another request may have opened the window between the two updates.
    return bool(in_window.update(rate_count=F("rate_count") + 1))


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
        if take(token.pk, window, limit):
            return True
        self._local.wait = (window + 1) * WINDOW_SECONDS - now
        return False

    def wait(self) -> float | None:
        """Seconds until the current window ends."""
        return getattr(self._local, "wait", None)
