"""The organization page: status actions, members, roles and history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from accounts import approvals, selectors, services
from accounts.errors import ErrorCode, KarmoError
from accounts.forms import OptionalReasonForm, ReasonForm, RoleForm
from accounts.models import MirrorStatus, Organization, OrganizationRole
from accounts.permissions import (
    DEACTIVATE_ACCESS,
    MANAGE_ROLES,
    REACTIVATE_DIRECTLY,
    REFRESH_FROM_PROVIDER,
    REQUEST_REACTIVATION,
)
from accounts.scopes import scoped
from accounts.staff.reauth import fresh_auth_required
from accounts.views.actions import (
    BADGE_EVENT,
    CHANGED_EVENT,
    attempt_form,
    changed_notice,
    request_notice,
    respond,
)
from accounts.views.base import (
    HtmxHttpRequest,
    console_view,
    page,
    permission_or_403,
    wants_fragment,
)

TEMPLATE = "console/organization.html"


def _cursor(request: HtmxHttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def _members_context(request: HtmxHttpRequest, org: Organization) -> dict[str, Any]:
    status = request.GET.get("status", "")
    status = status if status in MirrorStatus.values else ""
    role = selectors.clean_query(request.GET.get("role", ""), limit=64)
    members_query = selectors.organization_members(org, status=status, role=role)
    found = selectors.members_page(
        members_query, after=_cursor(request, "after"), before=_cursor(request, "before")
    )
    filters = {k: v for k, v in {"status": status, "role": role}.items() if v}
    return {
        "members": found,
        "members_query": urlencode(filters),
        "members_previous": urlencode({**filters, "before": found.previous_cursor or ""}),
        "members_next": urlencode({**filters, "after": found.next_cursor or ""}),
        "status_filter": status,
        "role_filter": role,
        "statuses": MirrorStatus.choices,
    }


def _status_context(org: Organization) -> dict[str, Any]:
    key = f"organization:{org.pk}"
    return {"org": org, "open_request": selectors.open_requests_by_target([key]).get(key)}


@require_GET
@console_view
@permission_required("accounts.view_organization", raise_exception=True)
def organization_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Status, members (filtered, paginated), roles and history of one organization."""
    org = get_object_or_404(scoped(request.user, Organization.objects), pk=pk)
    part = request.GET.get("part", "") if wants_fragment(request) else ""
    if part == "history":
        context = {"org": org, "history": selectors.organization_history(org)}
        return page(request, TEMPLATE, context, partial="history")
    context = {**_status_context(org), **_members_context(request, org)}
    if part == "members":
        return page(request, TEMPLATE, context, partial="members")
    context.update(
        roles=selectors.organization_roles(org),
        role_form=RoleForm(),
        history=selectors.organization_history(org),
    )
    return page(request, TEMPLATE, context)


def _status_action(
    request: HtmxHttpRequest,
    pk: int,
    run: Callable[[Organization, dict[str, Any]], Any],
    *,
    form_class: type[ReasonForm] | type[OptionalReasonForm],
    notice: Callable[[Any], str],
    badge: bool = False,
) -> HttpResponse:
    org = get_object_or_404(scoped(request.user, Organization.objects), pk=pk)
    form = form_class(request.POST)
    result, error = attempt_form(form, ErrorCode.REASON_REQUIRED, lambda data: run(org, data))
    if error is None:
        org.refresh_from_db()
    return respond(
        request,
        redirect_to=reverse("console:organization", args=[pk]),
        template=TEMPLATE,
        partial="org-status",
        context={**_status_context(org), "form": form},
        error=error,
        notice="" if error else notice(result),
        events=(CHANGED_EVENT, BADGE_EVENT) if badge else (CHANGED_EVENT,),
    )


@require_POST
@console_view
@permission_or_403(REQUEST_REACTIVATION, "request.created", Organization)
def organization_request(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Ask a manager to reactivate an organization."""
    return _status_action(
        request,
        pk,
        lambda org, data: approvals.request_reactivation(
            actor=request.user, target=org, reason=data["reason"]
        ),
        form_class=ReasonForm,
        notice=request_notice,
        badge=True,
    )


@require_POST
@console_view
@permission_or_403(REACTIVATE_DIRECTLY, "organization.reactivated", Organization)
@fresh_auth_required("organization.reactivated", Organization)
def organization_reactivate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Reactivate an organization now (managers)."""
    return _status_action(
        request,
        pk,
        lambda org, data: services.reactivate_organization(
            actor=request.user, organization=org, reason=data["reason"]
        ),
        form_class=OptionalReasonForm,
        notice=changed_notice("Organization reactivated.", "Already active; nothing changed."),
    )


@require_POST
@console_view
@permission_or_403(DEACTIVATE_ACCESS, "organization.deactivated", Organization)
@fresh_auth_required("organization.deactivated", Organization)
def organization_deactivate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Deactivate an organization (managers)."""
    return _status_action(
        request,
        pk,
        lambda org, data: services.deactivate_organization(
            actor=request.user, organization=org, reason=data["reason"]
        ),
        form_class=OptionalReasonForm,
        notice=changed_notice("Organization deactivated.", "Already inactive; nothing changed."),
    )


@require_POST
@console_view
@permission_or_403(REFRESH_FROM_PROVIDER, "organization.refreshed", Organization)
def organization_refresh(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Read one organization again from the provider."""
    return _status_action(
        request,
        pk,
        lambda org, data: services.refresh_organization(actor=request.user, organization=org),
        form_class=OptionalReasonForm,
        notice=lambda _org: "Refreshed from the provider.",
    )


def _role_error_code(form: RoleForm) -> ErrorCode:
    return ErrorCode.INVALID_ROLE_SLUG if "slug" in form.errors else ErrorCode.INVALID_ROLE_NAME


@require_POST
@console_view
@permission_or_403(MANAGE_ROLES, "role.upserted", Organization)
@fresh_auth_required("role.upserted", Organization)
def organization_role_save(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Create or update one of the organization's roles."""
    org = get_object_or_404(scoped(request.user, Organization.objects), pk=pk)
    form = RoleForm(request.POST)
    existing = _existing_role(org, request.POST.get("slug", ""))
    if existing is not None and request.POST.get("overwrite") != "1":
        # Saving an existing slug renames that role: only when the manager said so.
        change, error = (
            None,
            KarmoError(
                ErrorCode.STATE_CONFLICT,
                f"Role {existing.slug} already exists (named “{existing.name}”). "
                "Tick “Update the existing role” to change it, or choose another slug.",
            ),
        )
    else:
        change, error = attempt_form(
            form,
            _role_error_code(form),
            lambda data: services.upsert_organization_role(
                actor=request.user, organization=org, **data
            ),
        )
    message = ""
    if change is not None:
        slug = form.cleaned_data["slug"]
        message = f"Role {slug} saved." if change.changed else f"Role {slug} unchanged."
        form = RoleForm()
    return respond(
        request,
        redirect_to=reverse("console:organization", args=[pk]),
        template=TEMPLATE,
        partial="roles",
        context={
            "org": org,
            "roles": selectors.organization_roles(org),
            "role_form": form,
            "role_existing": existing if change is None else None,
        },
        error=error,
        notice=message,
    )


@require_POST
@console_view
@permission_required(MANAGE_ROLES, raise_exception=True)
def organization_role_validate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Validate the slug as it is typed; answers the slug field alone."""
    org = get_object_or_404(scoped(request.user, Organization.objects), pk=pk)
    form = RoleForm(request.POST)
    form.is_valid()
    context = {
        "org": org,
        "field": form["slug"],
        "checked": bool(request.POST.get("slug")),
        "existing": _existing_role(org, request.POST.get("slug", "")),
    }
    return page(request, TEMPLATE, context, partial="slug-field")


def _existing_role(org: Organization, slug: str) -> OrganizationRole | None:
    """The role this organization already has under `slug` (its own or environment-wide)."""
    slug = slug.strip()
    return next((r for r in selectors.organization_roles(org) if r.slug == slug), None)
