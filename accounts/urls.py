"""Console URLs."""

from __future__ import annotations

from django.urls import path

from accounts import views
from accounts.views.bulk import approvals_bulk, person_bulk_request
from accounts.views.palette import palette
from accounts.views.saved_filters import saved_filter_delete, saved_filter_save

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("find/", views.find, name="find"),
    path("find/export.csv", views.find_export, name="find-export"),
    path("palette/", palette, name="palette"),
    path("filters/", saved_filter_save, name="saved-filter-save"),
    path("filters/<int:pk>/delete/", saved_filter_delete, name="saved-filter-delete"),
    path("people/<int:pk>/", views.person_detail, name="person"),
    path("people/<int:pk>/bulk-request/", person_bulk_request, name="person-bulk-request"),
    path("people/<int:pk>/refresh/", views.person_refresh, name="person-refresh"),
    path("memberships/<int:pk>/request/", views.membership_request, name="membership-request"),
    path(
        "memberships/<int:pk>/reactivate/",
        views.membership_reactivate,
        name="membership-reactivate",
    ),
    path(
        "memberships/<int:pk>/deactivate/",
        views.membership_deactivate,
        name="membership-deactivate",
    ),
    path("memberships/<int:pk>/roles/", views.membership_roles, name="membership-roles"),
    path("memberships/<int:pk>/access/extend/", views.membership_extend, name="membership-extend"),
    path(
        "memberships/<int:pk>/access/end/",
        views.membership_end_access,
        name="membership-end-access",
    ),
    path("orgs/<int:pk>/", views.organization_detail, name="organization"),
    path("orgs/<int:pk>/members.csv", views.members_export, name="members-export"),
    path("orgs/<int:pk>/request/", views.organization_request, name="organization-request"),
    path(
        "orgs/<int:pk>/reactivate/",
        views.organization_reactivate,
        name="organization-reactivate",
    ),
    path(
        "orgs/<int:pk>/deactivate/",
        views.organization_deactivate,
        name="organization-deactivate",
    ),
    path("orgs/<int:pk>/refresh/", views.organization_refresh, name="organization-refresh"),
    path("orgs/<int:pk>/roles/", views.organization_role_save, name="organization-role-save"),
    path(
        "orgs/<int:pk>/roles/validate/",
        views.organization_role_validate,
        name="organization-role-validate",
    ),
    path("approvals/", views.approvals_list, name="approvals"),
    path("approvals/decisions/", views.decisions, name="decisions"),
    path("approvals/badge/", views.approvals_badge, name="approvals-badge"),
    path("approvals/bulk/", approvals_bulk, name="approvals-bulk"),
    path("approvals/<int:pk>/approve/", views.approve, name="approve"),
    path("approvals/<int:pk>/reject/", views.reject, name="reject"),
    path("approvals/<int:pk>/retry/", views.retry, name="retry"),
    path("approvals/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/export.csv", views.export_csv, name="audit-export-csv"),
    path("audit/export.jsonl", views.export_jsonl, name="audit-export-jsonl"),
    path("audit/verify/", views.verify, name="audit-verify"),
    path("audit/public-key", views.public_key_page, name="audit-public-key"),
    path("audit/evidence.zip", views.evidence_pack, name="audit-evidence-pack"),
    path("audit/<int:sequence>/", views.audit_event, name="audit-event"),
    path("verification/", views.verification_list, name="verification"),
    path(
        "verification/<int:sequence>/resolve/",
        views.verification_resolve,
        name="verification-resolve",
    ),
    path("sync/", views.sync_page, name="sync"),
    path("sync/start/", views.sync_start, name="sync-start"),
    path("sync/<int:pk>/", views.sync_progress, name="sync-progress"),
]
