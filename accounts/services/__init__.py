"""Every state change Karmo makes, one function each; nothing else asks a provider to change."""

from __future__ import annotations

from accounts.services.flow import Change, provider_change_returned
from accounts.services.lifecycle import (
    activate_user,
    deactivate_membership,
    deactivate_organization,
    deactivate_user,
    reactivate_membership,
    reactivate_organization,
)
from accounts.services.roles import set_membership_roles, upsert_organization_role
from accounts.services.users import create_user, refresh_organization, refresh_user
from accounts.services.verification import resolve_verification_failure, unresolved_failures

__all__ = [
    "Change",
    "activate_user",
    "create_user",
    "deactivate_membership",
    "deactivate_organization",
    "deactivate_user",
    "provider_change_returned",
    "reactivate_membership",
    "reactivate_organization",
    "refresh_organization",
    "refresh_user",
    "resolve_verification_failure",
    "set_membership_roles",
    "unresolved_failures",
    "upsert_organization_role",
]
