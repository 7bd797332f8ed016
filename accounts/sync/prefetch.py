"""Read the provider's pages in a thread that never waits for the writer, memory bounded.

The sync writes kinds in order (organizations, users, memberships, roles), but reads them all
at once within the provider's request budget. A reader whose kind's turn has not come keeps
`depth` batches in memory and spills the rest to a temporary file, so the budget is spent on
reading from the first second to the last, whatever the writer is doing, and memory stays
flat whatever the dataset's size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from itertools import islice

from providers import read_clock
from providers.spool import Spool

# Markers rather than objects: a marker may go through the file (pickle makes a copy).
_DONE, _FAILED = "done", "failed"


class prefetched[T]:  # noqa: N801 - used like the generator function it replaced
    """Batches of up to `size` items, each with the time its oldest page was asked for.

    Reading starts at once, in a thread that never waits for the consumer (see Spool); the
    provider's errors are raised in the caller's thread. `close()` stops the reader, whether
    or not anything was consumed.
    """

    def __init__(self, items: Iterator[T], size: int, depth: int = 2) -> None:
        self._items = items
        self._size = size
        self._spool = Spool(depth)
        self._stop = threading.Event()
        self._finished = False
        self._error: BaseException | None = None
        self._reader = threading.Thread(target=self._read, name="karmo-sync-prefetch", daemon=True)
        self._reader.start()

    @property
    def spilled(self) -> int:
        """How many batches went through the temporary file."""
        return self._spool.spilled

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                began = read_clock.begin()
                batch = list(islice(self._items, self._size))
                if not batch:
                    break
                self._spool.put((read_clock.oldest(began), batch))
            self._spool.put(_DONE)
        except BaseException as error:  # handed to the caller, who decides
            self._error = error
            self._spool.put(_FAILED)
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()  # a fan-out stops its own readers

    def __iter__(self) -> Iterator[tuple[datetime, list[T]]]:
        return self

    def __next__(self) -> tuple[datetime, list[T]]:
        if self._finished:
            raise StopIteration
        value = self._spool.get()
        if value == _DONE:
            self.close()
            raise StopIteration
        if value == _FAILED and self._error is not None:
            self.close()
            raise self._error
        return value

    def close(self) -> None:
        """Stop the reader and wait for it (it finishes the page it is reading)."""
        self._finished = True
        self._stop.set()
        self._reader.join(timeout=60)
        self._spool.close()
