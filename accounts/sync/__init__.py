"""Full sync from the provider into the mirror.

Sync is the one place besides accounts.services that writes the mirror: it streams every
organization, user, membership and role, upserts only rows that changed (in batches, never a
per-row save), marks rows the provider no longer returns `removed_at`, and audits the run and
every record it created, changed or removed.
"""

from __future__ import annotations

from accounts.sync.engine import Syncer
from accounts.sync.plan import PkSet
from accounts.sync.runs import (
    RequestCounter,
    abandon_active_runs,
    run_sync,
    start_sync,
    sync_provider_task,
)

__all__ = [
    "PkSet",
    "RequestCounter",
    "Syncer",
    "abandon_active_runs",
    "run_sync",
    "start_sync",
    "sync_provider_task",
]
