"""How many webhook refusals are audited: a bounded number per provider and minute.

Anyone can post to the webhook URLs. Each refusal is cheap to answer (an HMAC and a 401), but
an audit event is a hash-chained row: auditing every refusal would let a flood of unsigned
posts grow the audit log without limit. So the first KARMO_WEBHOOK_REFUSALS_AUDITED per
minute and provider are audited, the first one over the cap records a
`webhook.refusals_capped` event saying so, and the rest are only counted and logged once per
window. The count is per process: no database write is spent on a refusal over the cap.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger("karmo.webhooks")

WINDOW_SECONDS = 60.0


@dataclass(slots=True)
class _Window:
    started: float
    count: int = 0


class RefusalCap:
    """Per-provider refusal counts over one-minute windows (thread-safe)."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def admit(self, provider: str) -> tuple[bool, int]:
        """Whether this refusal is audited, and its number in the current window."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(provider)
            if window is None or now - window.started >= WINDOW_SECONDS:
                if window is not None and window.count > settings.KARMO_WEBHOOK_REFUSALS_AUDITED:
                    logger.warning(
                        "%s webhook refusals for %s in the last minute, %s audited",
                        window.count,
                        provider,
                        settings.KARMO_WEBHOOK_REFUSALS_AUDITED,
                    )
                window = self._windows[provider] = _Window(started=now)
            window.count += 1
            return window.count <= settings.KARMO_WEBHOOK_REFUSALS_AUDITED, window.count

    def reset(self) -> None:
        """Forget every window (tests)."""
        with self._lock:
            self._windows.clear()


refusal_cap = RefusalCap()
