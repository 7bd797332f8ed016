"""`manage.py check` warns when the app's database role could rewrite audit history."""

from __future__ import annotations

from typing import Any

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connection

from accounts.db_roles import audit_write_powers


@register(Tags.security)
def check_audit_role(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """One warning per power the connected role holds over the audit tables."""
    try:
        powers = audit_write_powers(connection)
    except DatabaseError:
        return []  # no database yet: nothing to judge
    return [
        Warning(
            f"The database role {power}.",
            hint="Run the app as a least-privilege role: see `manage.py audit_db_roles`.",
            id="accounts.W001",
        )
        for power in powers
    ]
