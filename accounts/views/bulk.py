"""Bulk console actions: decide several requests, or ask for several reactivations, at once.

Plain form posts: the page comes back with one line per item (success or the item's own
error), so the results survive a reload and read the same without JavaScript.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts import bulk
from accounts.errors import KarmoError
from accounts.models import ProviderUser, ReactivationRequest
from accounts.permissions import APPROVE_REQUESTS, REQUEST_REACTIVATION
from accounts.scopes import scoped
from accounts.staff.reauth import fresh_auth_required
from accounts.views.base import HtmxHttpRequest, console_view, permission_or_403


def _report(request: HtmxHttpRequest, results: list[bulk.ItemResult], verb: str) -> None:
    done = sum(result.ok for result in results)
    summary = f"{done} of {len(results)} {verb}."
    (messages.success if done == len(results) else messages.warning)(request, summary)
    for result in results:
        (messages.success if result.ok else messages.error)(
            request, f"{result.label}: {result.text}"
        )


def _refused(request: HtmxHttpRequest, error: KarmoError) -> None:
    messages.error(request, f"Nothing was done: {error.message} ({error.code.code})")


@require_POST
@console_view
@permission_or_403(APPROVE_REQUESTS, "request.approved", ReactivationRequest)
@fresh_auth_required("request.approved", ReactivationRequest)
def approvals_bulk(request: HtmxHttpRequest) -> HttpResponse:
    """Approve or reject the chosen pending requests with one comment."""
    decision = request.POST.get("decision")
    try:
        ids = bulk.clean_ids(request.POST.getlist("ids"))
        results = bulk.decide(
            actor=request.user,
            ids=ids,
            decision=decision or "",
            comment=request.POST.get("comment", ""),
        )
    except KarmoError as error:
        _refused(request, error)
    else:
        _report(request, results, "approved" if decision == "approve" else "rejected")
    return redirect("console:approvals")


@require_POST
@console_view
@permission_or_403(REQUEST_REACTIVATION, "request.created", ProviderUser)
def person_bulk_request(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Ask for reactivation of several of one person's memberships with one reason."""
    person = get_object_or_404(scoped(request.user, ProviderUser.objects), pk=pk)
    try:
        ids = bulk.clean_ids(request.POST.getlist("ids"))
        results = bulk.request_many(
            actor=request.user, person=person, ids=ids, reason=request.POST.get("reason", "")
        )
    except KarmoError as error:
        _refused(request, error)
    else:
        _report(request, results, "requested")
    return redirect("console:person", pk=pk)
