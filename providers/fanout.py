"""Read independent cursor chains concurrently, handing pages over through a bounded queue.

A chain (one organization's memberships, say) stays sequential: each page's cursor comes
from the one before. Different chains run in parallel threads; how fast they may go is the
provider's Budget's business, how far they may run ahead of the consumer is this queue's.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from typing import Any

from providers import read_clock
from providers.budget import background

Chain = Callable[[], Iterable[list[Any]]]

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def fan_out[T](
    chains: Iterable[Callable[[], Iterable[list[T]]]], workers: int, *, urgent: bool = False
) -> Iterator[T]:
    """Every item of every chain, chains read by up to `workers` threads at once.

    Items come in page order within a chain, chains interleaved. A reader asks for a page only
    once it holds one of `workers` slots, which the taking thread gives back as it takes the
    page: however many readers run, at most `workers` pages are being read or waiting, so
    memory does not grow with the readers when the consumer is the slower side. The taking
    thread learns each page's request time (see read_clock). The first error of any chain is
    raised here; closing the iterator stops the readers after the page each is reading.
    Readers give way to other requests in the budget unless `urgent` (the chains that bound
    the sync's duration).
    """
    workers = max(1, workers)
    pages: queue.SimpleQueue[Any] = queue.SimpleQueue()
    slots = threading.BoundedSemaphore(workers)
    stop = threading.Event()
    source = iter(chains)
    source_lock = threading.Lock()

    def take_slot() -> bool:
        while not stop.is_set():
            if slots.acquire(timeout=0.1):
                return True
        return False

    def next_chain() -> Callable[[], Iterable[list[T]]] | None:
        with source_lock:
            return next(source, None)

    def read() -> None:
        # Many short lists give way to a long chain read elsewhere (see providers.budget).
        with nullcontext() if urgent else background():
            try:
                while not stop.is_set() and (chain := next_chain()) is not None:
                    read_pages = iter(chain())
                    while take_slot():
                        requested_at = read_clock.now()  # the chain asks for its next page
                        page = next(read_pages, None)
                        if page is None:
                            slots.release()
                            break
                        pages.put((requested_at, page))
                pages.put(_DONE)
            except BaseException as error:  # handed to the consumer, who decides
                pages.put(_Failed(error))

    threads = [
        threading.Thread(target=read, name=f"karmo-fan-out-{n}", daemon=True)
        for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    running = workers
    try:
        while running:
            value = pages.get()
            if value is _DONE:
                running -= 1
            elif isinstance(value, _Failed):
                raise value.error
            else:
                slots.release()
                requested_at, page = value
                read_clock.note(requested_at)
                yield from page
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
