"""Staff roles (Django groups) and the permissions each one holds."""

from __future__ import annotations

HELP_DESK = "Help desk"
MANAGER = "Manager"
AUDITOR = "Auditor"

REQUEST_REACTIVATION = "accounts.request_reactivation"
REACTIVATE_DIRECTLY = "accounts.reactivate_directly"
DEACTIVATE_ACCESS = "accounts.deactivate_access"
MANAGE_ROLES = "accounts.manage_roles"
REFRESH_FROM_PROVIDER = "accounts.refresh_from_provider"
APPROVE_REQUESTS = "accounts.approve_reactivationrequest"
START_SYNC = "accounts.start_sync"
VIEW_AUDIT = "accounts.view_auditevent"
EXPORT_AUDIT = "accounts.export_auditevent"
VERIFY_AUDIT = "accounts.verify_auditevent"

_READ_MIRROR = [
    "accounts.view_organization",
    "accounts.view_provideruser",
    "accounts.view_organizationmembership",
    "accounts.view_organizationrole",
    "accounts.view_membershiprole",
    "accounts.view_reactivationrequest",
    "accounts.view_syncrun",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    HELP_DESK: [*_READ_MIRROR, REQUEST_REACTIVATION, REFRESH_FROM_PROVIDER],
    MANAGER: [
        *_READ_MIRROR,
        REQUEST_REACTIVATION,
        REFRESH_FROM_PROVIDER,
        REACTIVATE_DIRECTLY,
        DEACTIVATE_ACCESS,
        MANAGE_ROLES,
        APPROVE_REQUESTS,
        START_SYNC,
        VIEW_AUDIT,
        EXPORT_AUDIT,
    ],
    AUDITOR: [*_READ_MIRROR, VIEW_AUDIT, EXPORT_AUDIT, VERIFY_AUDIT],
}
