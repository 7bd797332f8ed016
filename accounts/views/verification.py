"""Changes the provider accepted but its read-back did not show, until someone settles them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import services
from accounts.errors import ErrorCode
from accounts.forms import ReasonForm
from accounts.models import AuditEvent
from accounts.permissions import VIEW_AUDIT
from accounts.scopes import scoped
from accounts.services.flow import VERIFICATION_FAILED, VERIFICATION_RESOLVED
from accounts.services.verification import RESOLVE_PERMISSION
from accounts.views.actions import attempt_form, respond
from accounts.views.base import HtmxHttpRequest, console_view, page, permission_or_403

TEMPLATE = "console/verification.html"
LIST_LIMIT = 100


def _context(viewer: Any) -> dict[str, object]:
    failures = scoped(viewer, services.unresolved_failures()).select_related("actor")
    return {"failures": failures[:LIST_LIMIT], "failure_count": failures.count()}


@require_GET
@console_view
@permission_required(VIEW_AUDIT, raise_exception=True)
def verification_list(request: HtmxHttpRequest) -> HttpResponse:
    """Unresolved verification failures, newest first."""
    return page(request, TEMPLATE, _context(request.user), partial="failure-list")


@require_POST
@console_view
@permission_or_403(RESOLVE_PERMISSION, VERIFICATION_RESOLVED)
def verification_resolve(request: HtmxHttpRequest, sequence: int) -> HttpResponse:
    """Settle one failure with a note saying what was checked or done."""
    failure = get_object_or_404(
        scoped(request.user, AuditEvent.objects),
        sequence=sequence,
        event_type=VERIFICATION_FAILED,
    )
    _, error = attempt_form(
        ReasonForm(request.POST),
        ErrorCode.REASON_REQUIRED,
        lambda data: services.resolve_verification_failure(
            actor=request.user, failure=failure, note=data["reason"]
        ),
    )
    return respond(
        request,
        redirect_to=reverse("console:verification"),
        template=TEMPLATE,
        partial="failure-list",
        context=_context(request.user),
        error=error,
        notice=f"Verification failure #{sequence} resolved.",
    )
