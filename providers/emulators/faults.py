"""Fault switches an emulator consults before answering a request."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


class DropConnection(Exception):  # noqa: N818 - a signal, not an error
    """Raised inside an emulator to close the socket without answering."""


@dataclass
class Faults:
    """Switches for injected failures; every switch is bounded and consumed as it fires."""

    statuses: deque[int] = field(default_factory=deque)
    drops: int = 0
    bad_json: int = 0
    not_object: int = 0  # requests done as asked but answered with JSON that is not an object
    not_object_after: int = 0  # requests answered as usual before those
    delay: float = 0.0
    delays_left: int = 0
    rate_limit: int = 0
    rate_window: float = 1.0
    retry_after: str = "1"
    # Writes answered as if done but rolled back: a provider that says yes and does nothing.
    ignore_writes: int = 0
    _hits: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a JSON spec: {"fail": [503], "drop": 1, "bad_json": 1, "not_object": 1,
        "not_object_after": 2, "delay": 2.0, "delay_count": 1, "rate_limit": {"limit": 5,
        "window": 1, "retry_after": "1"}, "ignore_writes": 1}."""
        with self._lock:
            self.statuses.extend(int(s) for s in spec.get("fail", []))
            self.drops += int(spec.get("drop", 0))
            self.bad_json += int(spec.get("bad_json", 0))
            self.not_object += int(spec.get("not_object", 0))
            self.not_object_after += int(spec.get("not_object_after", 0))
            self.ignore_writes += int(spec.get("ignore_writes", 0))
            if "delay" in spec:
                self.delay = float(spec["delay"])
                self.delays_left = int(spec.get("delay_count", 1))
            if limit := spec.get("rate_limit"):
                self.rate_limit = int(limit.get("limit", 0))
                self.rate_window = float(limit.get("window", 1.0))
                self.retry_after = str(limit.get("retry_after", "1"))
                self._hits.clear()

    def reset(self) -> None:
        """Turn every switch off."""
        with self._lock:
            self.statuses.clear()
            self.drops = self.bad_json = self.not_object = self.delays_left = self.rate_limit = 0
            self.ignore_writes = self.not_object_after = 0
            self.delay = 0.0
            self._hits.clear()

    def take_ignored_write(self) -> bool:
        """Consume one ignored write; False when the switch is off."""
        with self._lock:
            if self.ignore_writes <= 0:
                return False
            self.ignore_writes -= 1
            return True

    def next_fault(self) -> tuple[str, Any] | None:
        """The fault to apply to this request, if any, as (kind, value): kind is "drop",
        "status", "rate", "bad_json" or "not_object"."""
        with self._lock:
            if self.delays_left > 0:
                self.delays_left -= 1
                delay = self.delay
            else:
                delay = 0.0
            fault = self._pick()
        if delay:
            time.sleep(delay)
        return fault

    def _pick(self) -> tuple[str, Any] | None:
        if self.drops > 0:
            self.drops -= 1
            return ("drop", None)
        if self.statuses:
            return ("status", self.statuses.popleft())
        if self.rate_limit:
            now = time.monotonic()
            while self._hits and now - self._hits[0] > self.rate_window:
                self._hits.popleft()
            if len(self._hits) >= self.rate_limit:
                return ("rate", self.retry_after)
            self._hits.append(now)
        if self.bad_json > 0:
            self.bad_json -= 1
            return ("bad_json", None)
        if self.not_object > 0:
            if self.not_object_after > 0:
                self.not_object_after -= 1
                return None
            self.not_object -= 1
            return ("not_object", None)
        return None
