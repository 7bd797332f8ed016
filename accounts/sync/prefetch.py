"""Read the provider's next pages in a thread while sync writes the current batch."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from typing import Any

from django.utils import timezone

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class prefetched[T]:  # noqa: N801 - used like the generator function it replaced
    """Batches of up to `size` items, each with the time its reading started.

    Reading starts at once, in a thread that reads ahead at most `depth` batches (memory
    stays bounded); the provider's errors are raised in the caller's thread. `close()` stops
    the reader, whether or not anything was consumed.
    """

    def __init__(self, items: Iterator[T], size: int, depth: int = 2) -> None:
        self._items = items
        self._size = size
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._reader = threading.Thread(target=self._read, name="karmo-sync-prefetch", daemon=True)
        self._reader.start()

    def _hand_over(self, value: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._ready.put(value, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                fetched_at = timezone.now()
                batch = list(islice(self._items, self._size))
                if not batch:
                    break
                if not self._hand_over((fetched_at, batch)):
                    return
            self._hand_over(_DONE)
        except BaseException as error:  # handed to the caller, who decides
            self._hand_over(_Failed(error))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()  # a fan-out stops its own readers

    def __iter__(self) -> Iterator[tuple[datetime, list[T]]]:
        return self

    def __next__(self) -> tuple[datetime, list[T]]:
        if self._finished:
            raise StopIteration
        value = self._ready.get()
        if value is _DONE:
            self.close()
            raise StopIteration
        if isinstance(value, _Failed):
            self.close()
            raise value.error
        return value

    def close(self) -> None:
        """Stop the reader and wait for it (it finishes the page it is reading)."""
        self._finished = True
        self._stop.set()
        self._reader.join(timeout=60)
