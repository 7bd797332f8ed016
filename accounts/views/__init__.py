"""Console views, one module per page."""

from __future__ import annotations

from accounts.views.approvals import (
    approvals_badge,
    approvals_list,
    approve,
    cancel,
    decisions,
    reject,
    retry,
)
from accounts.views.audit import audit_event, audit_log, export_csv, export_jsonl, verify
from accounts.views.evidence import evidence_pack, public_key_page
from accounts.views.exports import find_export, members_export
from accounts.views.home import find, home, sign_out
from accounts.views.orgs import (
    organization_deactivate,
    organization_detail,
    organization_reactivate,
    organization_refresh,
    organization_request,
    organization_role_save,
    organization_role_validate,
)
from accounts.views.people import (
    membership_deactivate,
    membership_end_access,
    membership_extend,
    membership_reactivate,
    membership_request,
    membership_roles,
    person_detail,
    person_refresh,
)
from accounts.views.sync import sync_page, sync_progress, sync_start
from accounts.views.verification import verification_list, verification_resolve

__all__ = [
    "approvals_badge",
    "approvals_list",
    "approve",
    "audit_event",
    "evidence_pack",
    "public_key_page",
    "audit_log",
    "cancel",
    "decisions",
    "export_csv",
    "export_jsonl",
    "find",
    "find_export",
    "members_export",
    "home",
    "membership_deactivate",
    "membership_end_access",
    "membership_extend",
    "membership_reactivate",
    "membership_request",
    "membership_roles",
    "organization_deactivate",
    "organization_detail",
    "organization_reactivate",
    "organization_refresh",
    "organization_request",
    "organization_role_save",
    "organization_role_validate",
    "person_detail",
    "person_refresh",
    "reject",
    "retry",
    "sign_out",
    "sync_page",
    "sync_progress",
    "sync_start",
    "verification_list",
    "verification_resolve",
    "verify",
]
