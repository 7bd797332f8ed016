"""The person page and the actions on a person's memberships."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import approvals, selectors, services, time_limits
from accounts.errors import ErrorCode, KarmoError
from accounts.forms import (
    ExtendForm,
    MembershipRolesForm,
    OptionalReasonForm,
    ReactivateForm,
    ReasonForm,
    RequestForm,
    end_of_access,
)
from accounts.models import OrganizationMembership, ProviderUser
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
    attempt,
    attempt_form,
    changed_notice,
    request_notice,
    respond,
    wants_preview,
)
from accounts.views.base import (
    HtmxHttpRequest,
    console_view,
    page,
    permission_or_403,
    wants_fragment,
)

TEMPLATE = "console/person.html"


def _person_context(
    person: ProviderUser, viewer: Any, query: QueryDict | None = None
) -> dict[str, Any]:
    query = query or QueryDict()
    memberships = selectors.person_memberships(person, viewer)
    listed = selectors.membership_list(
        memberships,
        **{name: query.get(name, "")[:200] for name in ("status", "role", "organization", "sort")},
    )
    return {
        "person": person,
        "memberships": memberships,
        "listed": listed,
        "sorts": {key: label for key, (label, _) in selectors.MEMBERSHIP_SORTS.items()},
        "history": selectors.person_history(person, viewer),
    }


@require_GET
@console_view
@permission_required("accounts.view_provideruser", raise_exception=True)
def person_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Identity, status, memberships with their actions, and history."""
    person = get_object_or_404(scoped(request.user, ProviderUser.objects), pk=pk)
    if wants_fragment(request) and request.GET.get("part") == "history":
        context = {"person": person, "history": selectors.person_history(person, request.user)}
        return page(request, TEMPLATE, context, partial="history")
    context = _person_context(person, request.user, request.GET)
    if wants_fragment(request) and request.GET.get("part") == "memberships":
        return page(request, TEMPLATE, context, partial="memberships")
    return page(request, TEMPLATE, context)


def _row(
    request: HtmxHttpRequest,
    membership: OrganizationMembership,
    context: dict[str, Any],
    *,
    error: KarmoError | None,
    notice: str,
    events: Sequence[str],
) -> HttpResponse:
    """The membership's row again (without htmx, a redirect to the person page)."""
    return respond(
        request,
        redirect_to=reverse("console:person", args=[membership.user_id]),
        template=TEMPLATE,
        partial="membership-row",
        context={"membership": membership, "changed_pk": membership.pk, **context},
        error=error,
        notice=notice,
        events=events,
    )


def _membership_action(
    request: HtmxHttpRequest,
    pk: int,
    run: Callable[[OrganizationMembership, dict[str, Any], bool], Any],
    *,
    form_class: type[ReasonForm] | type[OptionalReasonForm],
    notice: Callable[[Any], str],
    badge: bool = False,
    previewable: bool = True,
) -> HttpResponse:
    """Validate the reason (and time limit), run one change (or its preview), re-render the row.

    A "Preview" button posts `preview=1`: the service's dry run, shown in the row with the
    form kept filled in, so "Confirm" makes exactly the change previewed.
    """
    membership = get_object_or_404(
        scoped(request.user, OrganizationMembership.objects.select_related("user")), pk=pk
    )
    form = form_class(request.POST)
    preview = previewable and wants_preview(request)
    code = ErrorCode.INVALID_TIME_LIMIT if "until" in form.errors else ErrorCode.REASON_REQUIRED
    result, error = attempt_form(form, code, lambda data: run(membership, data, preview))
    row = selectors.membership_for_row(pk)
    if preview and error is None:
        context = {"preview": result.preview, "preview_form": form}
        return _row(request, row, context, error=None, notice="", events=())
    if error is None:
        form = form_class()
    return _row(
        request,
        row,
        {"form": form},
        error=error,
        notice="" if error else notice(result),
        events=(CHANGED_EVENT, BADGE_EVENT) if badge else (CHANGED_EVENT,),
    )


@require_POST
@console_view
@permission_or_403(REQUEST_REACTIVATION, "request.created", OrganizationMembership)
def membership_request(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Ask a manager to reactivate a membership (a reason is required)."""
    return _membership_action(
        request,
        pk,
        lambda m, data, _preview: approvals.request_reactivation(
            actor=request.user,
            target=m,
            reason=data["reason"],
            until=data["until"][0],
            duration=data["until"][1],
        ),
        form_class=RequestForm,
        notice=request_notice,
        badge=True,
        previewable=False,
    )


@require_POST
@console_view
@permission_or_403(REACTIVATE_DIRECTLY, "membership.reactivated", OrganizationMembership)
@fresh_auth_required("membership.reactivated", OrganizationMembership)
def membership_reactivate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Reactivate a membership now (managers)."""
    return _membership_action(
        request,
        pk,
        lambda m, data, preview: services.reactivate_membership(
            actor=request.user,
            membership=m,
            reason=data["reason"],
            until=end_of_access(data),
            preview=preview,
        ),
        form_class=ReactivateForm,
        notice=changed_notice("Membership reactivated.", "Already active; nothing changed."),
    )


@require_POST
@console_view
@permission_or_403(REACTIVATE_DIRECTLY, "access.extended", OrganizationMembership)
@fresh_auth_required("access.extended", OrganizationMembership)
def membership_extend(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Move the end of a membership's time-bound access (managers)."""
    return _membership_action(
        request,
        pk,
        lambda m, data, preview: time_limits.extend_access(
            actor=request.user,
            membership=m,
            until=end_of_access(data),
            reason=data["reason"],
            preview=preview,
        ),
        form_class=ExtendForm,
        notice=lambda _change: "Access extended.",
    )


@require_POST
@console_view
@permission_or_403(DEACTIVATE_ACCESS, "access.ended", OrganizationMembership)
@fresh_auth_required("access.ended", OrganizationMembership)
def membership_end_access(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """End time-bound access now: the membership is deactivated (managers)."""
    return _membership_action(
        request,
        pk,
        lambda m, data, preview: time_limits.end_access(
            actor=request.user, membership=m, reason=data["reason"], preview=preview
        ),
        form_class=OptionalReasonForm,
        notice=changed_notice("Access ended; membership deactivated.", "Already inactive."),
    )


@require_POST
@console_view
@permission_or_403(DEACTIVATE_ACCESS, "membership.deactivated", OrganizationMembership)
@fresh_auth_required("membership.deactivated", OrganizationMembership)
def membership_deactivate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Deactivate a membership (managers)."""
    return _membership_action(
        request,
        pk,
        lambda m, data, preview: services.deactivate_membership(
            actor=request.user, membership=m, reason=data["reason"], preview=preview
        ),
        form_class=OptionalReasonForm,
        notice=changed_notice("Membership deactivated.", "Already inactive; nothing changed."),
    )


@require_POST
@console_view
@permission_or_403(MANAGE_ROLES, "membership.roles_set", OrganizationMembership)
@fresh_auth_required("membership.roles_set", OrganizationMembership)
def membership_roles(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Set a membership's roles from the organization's roles (managers)."""
    get_object_or_404(scoped(request.user, OrganizationMembership.objects.present()), pk=pk)
    membership = selectors.membership_for_row(pk)
    form = MembershipRolesForm(
        request.POST, choices=[role.slug for role in membership.assignable_roles]
    )
    preview = wants_preview(request)
    change, error = attempt_form(
        form,
        ErrorCode.UNKNOWN_ROLE,
        lambda data: services.set_membership_roles(
            actor=request.user, membership=membership, roles=data["roles"], preview=preview
        ),
    )
    if preview and change is not None:
        context = {
            "preview": change.preview,
            "roles_form": form,
            "chosen_roles": form.cleaned_data["roles"],
        }
        return _row(request, membership, context, error=None, notice="", events=())
    message = ""
    if change is not None:
        message = "Roles saved." if change.changed else "Roles unchanged."
        membership = selectors.membership_for_row(pk)
    return _row(
        request,
        membership,
        {"roles_form": form},
        error=error,
        notice=message,
        events=(CHANGED_EVENT,),
    )


@require_POST
@console_view
@permission_or_403(REFRESH_FROM_PROVIDER, "user.refreshed", ProviderUser)
def person_refresh(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Read one person and their memberships again from the provider."""
    person = get_object_or_404(scoped(request.user, ProviderUser.objects), pk=pk)
    refreshed, error = attempt(lambda: services.refresh_user(actor=request.user, user=person))
    return respond(
        request,
        redirect_to=reverse("console:person", args=[pk]),
        template=TEMPLATE,
        partial="person-body",
        context=_person_context(refreshed or person, request.user),
        error=error,
        notice="Refreshed from the provider.",
    )
