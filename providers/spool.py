"""A queue that never makes its producer wait and keeps only a few items in memory.

Readers of a provider's lists must not wait for the writer (the request budget would go
unspent), and memory must stay flat whatever the dataset's size: what the consumer has not
taken yet goes to a temporary file beyond the first few items.
"""

from __future__ import annotations

import pickle
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from typing import IO, Any

from providers import read_clock


class Spool:
    """A first-in first-out queue of batches: `depth` in memory, the rest in a temporary file.

    One thread puts, another gets. Batches go to the file only while the memory part is full
    or older batches wait in the file, so order is kept.
    """

    def __init__(self, depth: int = 2) -> None:
        self.depth = max(1, depth)
        self._memory: deque[Any] = deque()
        self._file: IO[bytes] | None = None
        self._written = self._read = 0
        self._read_at = 0
        self._ready = threading.Condition()
        self.spilled = 0
        self.closed = False

    def put(self, value: Any) -> None:
        """Add a batch; never blocks on the consumer (dropped once the spool is closed)."""
        with self._ready:
            if self.closed:
                return
            if self._written == self._read and len(self._memory) < self.depth:
                self._memory.append(value)
            else:
                if self._file is None:
                    self._file = tempfile.TemporaryFile(prefix="karmo-sync-")  # noqa: SIM115 - closed in close()
                self._file.seek(0, 2)
                pickle.dump(value, self._file, protocol=pickle.HIGHEST_PROTOCOL)
                self._written += 1
                self.spilled += 1
            self._ready.notify()

    def get(self) -> Any:
        """The oldest batch, waiting for one when there is none yet."""
        with self._ready:
            while not self._memory and self._written == self._read:
                self._ready.wait()
            if self._memory:
                return self._memory.popleft()
            assert self._file is not None
            self._file.seek(self._read_at)
            value = pickle.load(self._file)  # noqa: S301 - our own file, written just now
            self._read_at = self._file.tell()
            self._read += 1
            return value

    def close(self) -> None:
        """Drop the batches not read and delete the file."""
        with self._ready:
            self.closed = True
            self._memory.clear()
            if self._file is not None:
                self._file.close()
                self._file = None
            self._written = self._read = self._read_at = 0


class Tee:
    """One read of a list of pages handed to several consumers, each through its own Spool.

    Consumers attach before the read starts (a later one reads the list itself); the first
    page asked for starts one reading thread, and the read stops when every consumer has
    closed. Memory stays flat however far apart the consumers are.
    """

    _DONE, _FAILED = "done", "failed"

    def __init__(self, read: Callable[[], Iterable[Any]]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._spools: list[Spool] = []
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def attach(self) -> Iterator[Any] | None:
        """A consumer's pages, or None once the read has started."""
        with self._lock:
            if self._thread is not None:
                return None
            spool = Spool()
            self._spools.append(spool)
        return self._consume(spool)

    def _consume(self, spool: Spool) -> Iterator[Any]:
        try:
            self._start()
            while (value := spool.get()) != self._DONE:
                if value == self._FAILED and self._error is not None:
                    raise self._error
                requested_at, page = value
                read_clock.note(requested_at)
                yield page
        finally:
            spool.close()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="karmo-tee", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        began = read_clock.begin()  # a page may come from a fan-out that read it ahead
        try:
            # Starting the read may itself ask the provider (Stytch lists organizations
            # first), so its failure too must reach the consumers, or they wait forever.
            with closing(iter(self._read())) as pages:  # type: ignore[type-var]
                while (page := next(pages, None)) is not None:
                    if all(spool.closed for spool in self._spools):
                        return
                    requested_at = read_clock.oldest(began)
                    for spool in self._spools:
                        spool.put((requested_at, page))
                    began = read_clock.begin()
            marker = self._DONE
        except BaseException as error:  # handed to every consumer
            self._error, marker = error, self._FAILED
        for spool in self._spools:
            spool.put(marker)
