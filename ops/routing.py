"""Read-replica routing: lag-tolerant reads of lag-tolerant pages go to DATABASE_REPLICA_URL.

Only GET/HEAD requests to the views in REPLICA_VIEWS (audit log pages and exports, console
search, API reads) read from the replica, and only the models in REPLICA_MODELS: sessions,
staff accounts, API tokens (revocation must bite at once), the cache, tasks and sync runs stay
on the primary. Any write, and everything inside a transaction, goes to the primary, and after
a write to one of those models the rest of the request reads the primary too.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.http import HttpRequest

REPLICA = "replica"
REPLICA_MODELS = frozenset(
    {
        "accounts.organization",
        "accounts.provideruser",
        "accounts.organizationmembership",
        "accounts.membershiprole",
        "accounts.organizationrole",
        "accounts.auditevent",
        "accounts.reactivationrequest",
    }
)
REPLICA_VIEWS = frozenset(
    {
        "console:audit",
        "console:audit-event",
        "console:audit-export-csv",
        "console:audit-export-jsonl",
        "console:find",
    }
)
_REPLICA_READS: ContextVar[bool] = ContextVar("karmo_replica_reads", default=False)


def replica_configured() -> bool:
    """Whether DATABASE_REPLICA_URL is set."""
    return REPLICA in settings.DATABASES


def replica_allowed(request: HttpRequest) -> bool:
    """Whether this request's reads may come from the replica."""
    if not replica_configured() or request.method not in ("GET", "HEAD"):
        return False
    match = request.resolver_match
    if match is None:
        return False
    return match.view_name in REPLICA_VIEWS or request.path.startswith("/api/v1/")


def start_replica_reads() -> Token[bool]:
    """From now on in this context, allowed models read from the replica."""
    return _REPLICA_READS.set(True)


def stop_replica_reads(token: Token[bool]) -> None:
    """Back to whatever held before start_replica_reads()."""
    _REPLICA_READS.reset(token)


def _label(model: type[Model]) -> str:
    # The database cache routes a stand-in class whose _meta has no label_lower.
    return getattr(model._meta, "label_lower", "")


class ReplicaRouter:
    """Django database router for the primary (`default`) and the optional `replica`."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        if (
            _REPLICA_READS.get()
            and _label(model) in REPLICA_MODELS
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        if _label(model) in REPLICA_MODELS:
            # Read-after-write: the rest of this request reads the primary. (Bookkeeping
            # writes, such as a token's last use or the rate-limit counter, do not count.)
            _REPLICA_READS.set(False)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # The replica is a copy of the primary: migrations run on the primary only.
        return db == DEFAULT_DB_ALIAS
