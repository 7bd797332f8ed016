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


def prefetched[T](
    items: Iterator[T], size: int, depth: int = 2
) -> Iterator[tuple[datetime, list[T]]]:
    """Batches of up to `size` items, each with the time its reading started.

    A thread reads ahead at most `depth` batches (memory stays bounded); the provider's
    errors are raised here, in the caller's thread. Closing the generator stops the reader.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(value: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(value, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            while not stop.is_set():
                fetched_at = timezone.now()
                batch = list(islice(items, size))
                if not batch:
                    break
                if not hand_over((fetched_at, batch)):
                    return
            hand_over(_DONE)
        except BaseException as error:  # handed to the caller, who decides
            hand_over(_Failed(error))

    reader = threading.Thread(target=read, name="karmo-sync-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            value = ready.get()
            if value is _DONE:
                return
            if isinstance(value, _Failed):
                raise value.error
            yield value
    finally:
        stop.set()
        reader.join(timeout=60)
