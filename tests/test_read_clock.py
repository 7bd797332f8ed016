"""A batch read ahead carries the time its oldest page was asked for, not the time it was
taken: sync compares that time with rows written meanwhile (by a webhook, say)."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from datetime import UTC, datetime

from accounts.sync.prefetch import prefetched
from providers.fanout import fan_out
from providers.spool import Tee


def chains_asked_at_once(names: str, asked: dict[str, datetime]):
    """One chain per name, each with one page of two items; every page is asked for before
    any is handed on, so all of them wait in the fan-out while the first batch is taken."""
    everyone_asked = threading.Barrier(len(names), timeout=5)

    def chain(name: str):
        def pages():
            asked[name] = datetime.now(UTC)
            everyone_asked.wait()
            yield [(name, 1), (name, 2)]

        return pages

    return [chain(name) for name in names]


def assert_stamped_no_later_than_asked(batches, asked: dict[str, datetime]) -> None:
    taken = 0
    for fetched_at, batch in batches:
        taken += len(batch)
        for name, _ in batch:
            assert fetched_at <= asked[name], (name, fetched_at, asked[name])
        time.sleep(0.01)  # the consumer is slower than the readers, as the writer is
    assert taken == 6


def test_a_batch_of_fanned_out_pages_is_stamped_when_its_oldest_page_was_asked_for() -> None:
    asked: dict[str, datetime] = {}
    items = fan_out(chains_asked_at_once("abc", asked), workers=3)
    with closing(prefetched(items, size=1)) as batches:
        assert_stamped_no_later_than_asked(batches, asked)


def test_pages_through_a_tee_keep_the_time_they_were_asked_for() -> None:
    asked: dict[str, datetime] = {}
    tee = Tee(lambda: fan_out(wrapped(chains_asked_at_once("abc", asked)), workers=3))
    pages = tee.attach()
    assert pages is not None
    items = (item for page in pages for item in page)
    with closing(prefetched(items, size=1)) as batches:
        assert_stamped_no_later_than_asked(batches, asked)


def wrapped(chains):
    """Chains whose pages a fan-out hands on whole (as Stytch's member searches)."""
    return [lambda chain=chain: ([page] for page in chain()) for chain in chains]
