"""What makes an emulator behave like the real provider under load: latency and rate limits.

Both are off by default (tests stay fast); `run_emulator --latency 50ms --rate-limit published`
and the benchmarks switch them on. Every answered request is counted per second and per
credential, so a test can prove a client never went over the limit.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from providers.budget import PUBLISHED_LIMITS

_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?\s*$")
_RATE = re.compile(r"^\s*(?P<count>\d+)\s*/\s*(?P<number>\d+(?:\.\d+)?)?\s*(?P<unit>ms|s|m)\s*$")


def parse_duration(text: str) -> float:
    """Seconds from '50ms', '0.05s' or '0.05'; raises ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    number = float(match["number"])
    return number / 1000 if match["unit"] == "ms" else number


def parse_latency(text: str) -> tuple[float, float]:
    """(base, jitter) seconds from '50ms' (jitter a fifth of the base) or '50ms+10ms'."""
    base, plus, jitter = text.partition("+")
    seconds = parse_duration(base)
    return seconds, parse_duration(jitter) if plus else seconds / 5


def parse_rate_limit(text: str, flavor: str) -> tuple[int, float] | None:
    """(requests, window seconds) from 'published', 'off', '100/s', '6000/60s' or '50/m'."""
    if text == "off":
        return None
    if text == "published":
        return PUBLISHED_LIMITS[flavor]
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"not a rate limit: {text!r} (published, off, N/s, N/60s)")
    unit = {"ms": 0.001, "s": 1.0, "m": 60.0}[match["unit"]]
    window = float(match["number"] or 1) * unit
    if int(match["count"]) < 1 or window <= 0:
        raise ValueError(f"not a rate limit: {text!r}")
    return int(match["count"]), window


@dataclass
class Realism:
    """Latency added to every answer and a sliding-window limit per credential."""

    latency: float = 0.0
    jitter: float = 0.0
    limit: int = 0
    window: float = 1.0
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _per_second: Counter[int] = field(default_factory=Counter)
    _in_flight: int = 0
    _max_in_flight: int = 0
    _answered: int = 0
    _refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply {"latency": 0.05, "jitter": 0.01, "limit": 6000, "window": 60}; 0 turns off."""
        with self._lock:
            self.latency = float(spec.get("latency", self.latency))
            self.jitter = float(spec.get("jitter", self.jitter))
            if "limit" in spec:
                self.limit = int(spec["limit"] or 0)
                self.window = float(spec.get("window", 1.0))
                self._hits.clear()

    def reset(self) -> None:
        """Latency and limit off, counters at zero."""
        with self._lock:
            self.latency = self.jitter = 0.0
            self.limit = 0
            self._hits.clear()
        self.reset_stats()

    def reset_stats(self) -> None:
        """Counters at zero; the settings stay."""
        with self._lock:
            self._per_second.clear()
            self._max_in_flight = self._in_flight
            self._answered = self._refused = 0

    def admit(self, credential: str) -> str | None:
        """None when the request may be answered, else the Retry-After value (seconds)."""
        now = time.monotonic()
        with self._lock:
            self._per_second[int(now)] += 1
            if not self.limit:
                self._answered += 1
                return None
            hits = self._hits.setdefault(credential, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                self._refused += 1
                return str(max(1, math.ceil(self.window - (now - hits[0]))))
            hits.append(now)
            self._answered += 1
            return None

    def wait(self) -> None:
        """Sleep this request's latency (base plus uniform jitter)."""
        if self.latency or self.jitter:
            time.sleep(self.latency + random.uniform(0, self.jitter))  # noqa: S311 - not crypto

    def entered(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def left(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def stats(self) -> dict[str, Any]:
        """Counts since the last reset: answered, refused with 429, busiest second, concurrency."""
        with self._lock:
            return {
                "answered": self._answered,
                "rate_limited": self._refused,
                "max_per_second": max(self._per_second.values(), default=0),
                "max_in_flight": self._max_in_flight,
                "limit": {"requests": self.limit, "window": self.window} if self.limit else None,
                "latency": {"base": self.latency, "jitter": self.jitter},
            }
