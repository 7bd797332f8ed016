"""When the pages a thread hands on were asked for of the provider.

Readers run ahead of their consumers: a page may wait in a fan-out's queue or a tee's spool
before its items are taken. Sync compares a mirror row's last write with the time its page
was read, so a batch must carry the time its oldest page was requested, not the time it was
taken. Whoever hands a read-ahead page on notes its request time in the taking thread; the
one who batches items asks for the oldest noted since it began.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

_taken = threading.local()


def now() -> datetime:
    """The time as mirror rows record their writes (aware, UTC)."""
    return datetime.now(UTC)


def begin() -> datetime:
    """Start a batch in this thread; the time it started. Earlier notes are forgotten but
    the last one's: the rest of that page may go into this batch."""
    _taken.oldest = getattr(_taken, "current", None)
    return now()


def note(requested_at: datetime) -> None:
    """The items this thread takes next come from a page requested at `requested_at`."""
    _taken.current = requested_at
    oldest = getattr(_taken, "oldest", None)
    if oldest is None or requested_at < oldest:
        _taken.oldest = requested_at


def oldest(began: datetime) -> datetime:
    """The earliest of `began` and every request time noted in this thread since then."""
    noted = getattr(_taken, "oldest", None)
    return began if noted is None or began < noted else noted
