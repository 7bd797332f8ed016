"""Reactivation requests: managers decide, requesters follow and cancel their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import approvals, selectors
from accounts.errors import ErrorCode, KarmoError
from accounts.forms import DecisionFilterForm, RejectForm
from accounts.models import ReactivationRequest
from accounts.permissions import APPROVE_REQUESTS, REQUEST_REACTIVATION, VIEW_AUDIT
from accounts.scopes import scoped
from accounts.staff.reauth import fresh_auth_required
from accounts.views.actions import BADGE_EVENT, attempt, respond
from accounts.views.base import HtmxHttpRequest, console_view, form_error, page, permission_or_403

TEMPLATE = "console/approvals.html"
VIEW_REQUESTS = "accounts.view_reactivationrequest"
LIST_LIMIT = 100


def _decorate(request: ReactivationRequest) -> ReactivationRequest:
    request.target = selectors.request_target_state(request)
    return request


@require_GET
@console_view
@permission_required(VIEW_REQUESTS, raise_exception=True)
def approvals_list(request: HtmxHttpRequest) -> HttpResponse:
    """Pending requests to decide (managers) and the viewer's own requests."""
    rows = [_decorate(r) for r in selectors.visible_requests(request.user)[:LIST_LIMIT]]
    return page(request, TEMPLATE, {"requests": rows}, partial="request-list")


@require_GET
@console_view
@permission_required(VIEW_REQUESTS, raise_exception=True)
def approvals_badge(request: HtmxHttpRequest) -> HttpResponse:
    """The header's count of pending requests, polled by htmx."""
    return page(request, "base.html", {}, partial="approvals-badge")


def _decide(
    request: HtmxHttpRequest,
    pk: int,
    run: Callable[[ReactivationRequest], ReactivationRequest],
    notice: str,
    error: KarmoError | None = None,
    form: Any = None,
) -> HttpResponse:
    reactivation = get_object_or_404(scoped(request.user, ReactivationRequest.objects), pk=pk)
    if error is None:
        _, error = attempt(lambda: run(reactivation))
    return respond(
        request,
        redirect_to=reverse("console:approvals"),
        template=TEMPLATE,
        partial="request-row",
        context={"req": _decorate(selectors.request_row(pk)), "reject_form": form},
        error=error,
        notice="" if error else notice,
        events=(BADGE_EVENT,),
    )


@require_POST
@console_view
@permission_or_403(APPROVE_REQUESTS, "request.approved", ReactivationRequest)
@fresh_auth_required("request.approved", ReactivationRequest)
def approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Approve a request; the change runs through the service at once."""
    return _decide(
        request,
        pk,
        lambda r: approvals.approve_request(actor=request.user, request=r),
        "Approved.",
    )


@require_POST
@console_view
@permission_or_403(APPROVE_REQUESTS, "request.rejected", ReactivationRequest)
@fresh_auth_required("request.rejected", ReactivationRequest)
def reject(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Reject a request; a comment is required."""
    form = RejectForm(request.POST)
    error = None if form.is_valid() else form_error(form, ErrorCode.COMMENT_REQUIRED)
    return _decide(
        request,
        pk,
        lambda r: approvals.reject_request(
            actor=request.user, request=r, comment=form.cleaned_data["comment"]
        ),
        "Rejected.",
        error=error,
        form=form,
    )


@require_POST
@console_view
@permission_or_403(APPROVE_REQUESTS, "request.retried", ReactivationRequest)
@fresh_auth_required("request.retried", ReactivationRequest)
def retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Run a failed approved request again."""
    return _decide(
        request,
        pk,
        lambda r: approvals.retry_request(actor=request.user, request=r),
        "Retried.",
    )


@require_POST
@console_view
@permission_or_403(REQUEST_REACTIVATION, "request.cancelled", ReactivationRequest)
def cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Cancel one's own pending request (the service checks ownership)."""
    return _decide(
        request,
        pk,
        lambda r: approvals.cancel_request(actor=request.user, request=r),
        "Cancelled.",
    )


@require_GET
@console_view
@permission_required(VIEW_AUDIT, raise_exception=True)
def decisions(request: HtmxHttpRequest) -> HttpResponse:
    """Decided and closed requests (approved, rejected, expired, cancelled…), filtered, in scope."""
    form = DecisionFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    rows, next_cursor = selectors.decided_requests(
        request.user, **{name: value for name, value in filters.items() if value}
    )
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "requests": [_decorate(r) for r in rows],
        "next_cursor": next_cursor,
        "query": query.urlencode(),
        "paged": bool(filters.get("before")),
    }
    return page(request, "console/decisions.html", context, partial="decision-list")
