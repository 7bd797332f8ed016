"""A per-target lock held around check-and-call, so concurrent changes of one target run one
after the other without a transaction staying open across the provider call."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connections, models, router

# The first key of PostgreSQL's two-key advisory locks: keeps these apart from other locks.
_PG_TARGET_LOCKS = 0x4B4D  # "KM"


def _digest(target: models.Model) -> bytes:
    name = f"{target._meta.label_lower}:{target.pk}"
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


@contextmanager
def target_lock(target: models.Model) -> Iterator[None]:
    """Hold the target's lock (waiting for it) until the block ends.

    PostgreSQL: a session advisory lock, shared by every app server. SQLite: an exclusive
    flock on a file under KARMO_DATA_DIR, shared by every process on the machine (a SQLite
    deployment has only one).
    """
    connection = connections[router.db_for_write(type(target))]
    if connection.vendor == "postgresql":
        key = int.from_bytes(_digest(target)[:4], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [_PG_TARGET_LOCKS, key])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_PG_TARGET_LOCKS, key])
        return
    folder = Path(settings.KARMO_DATA_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{_digest(target).hex()}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
