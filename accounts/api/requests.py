"""Reactivation requests: ask, list, read, approve, reject, cancel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.db.models import Model
from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from accounts import approvals
from accounts.api import lookups
from accounts.api.auth import require
from accounts.api.pagination import PageQuery, page_out, paginate, where_given
from accounts.api.preview import DryRun, PreviewOut
from accounts.api.preview import wanted as preview_wanted
from accounts.api.schemas import (
    ReactivationRequestIn,
    ReactivationRequestList,
    ReactivationRequestOut,
    RejectIn,
)
from accounts.api.time_limit import duration_of
from accounts.errors import ErrorCode, FieldError, KarmoError

router = Router(tags=["Reactivation requests"], by_alias=True)

RequestId = Annotated[int, Path(alias="requestId", ge=1, le=2**63 - 1)]


class RequestFilters(Schema):
    """Filters of listReactivationRequests."""

    status: (
        Literal["pending", "approved", "executed", "failed", "rejected", "expired", "cancelled"]
        | None
    ) = None
    target_type: Literal["membership", "user", "organization"] | None = Field(
        None, alias="targetType"
    )


def _target(actor: Any, body: ReactivationRequestIn) -> Model:
    needed = {
        "membership": ("org_id", "user_id"),
        "user": ("user_id",),
        "organization": ("org_id",),
    }[body.target_type]
    pointers = {"org_id": "/orgId", "user_id": "/userId"}
    missing = [
        FieldError(f"is required for a {body.target_type}", pointers[name])
        for name in needed
        if not getattr(body, name)
    ]
    if missing:
        raise KarmoError(ErrorCode.VALIDATION_FAILED, errors=missing)
    if body.target_type == "membership":
        return lookups.get_membership(actor, body.org_id or "", body.user_id or "")
    if body.target_type == "user":
        return lookups.get_user(actor, body.user_id or "")
    return lookups.get_organization(actor, body.org_id or "")


@router.post(
    "/reactivation-requests",
    response={201: ReactivationRequestOut},
    operation_id="createReactivationRequest",
    summary="Request a reactivation",
)
def create_request(
    request: HttpRequest, body: ReactivationRequestIn
) -> Status[ReactivationRequestOut]:
    """Ask a manager to reactivate an inactive membership, user or organization."""
    created = approvals.request_reactivation(
        actor=request.auth.user,
        target=_target(request.auth.user, body),
        reason=body.reason,
        until=body.until,
        duration=duration_of(body.duration) if body.duration is not None else None,
    )
    return Status(
        201, ReactivationRequestOut.of(lookups.get_request(request.auth.user, created.pk))
    )


@router.get(
    "/reactivation-requests",
    response=ReactivationRequestList,
    operation_id="listReactivationRequests",
    summary="List reactivation requests",
)
def list_requests(
    request: HttpRequest, page: PageQuery, filters: Query[RequestFilters]
) -> ReactivationRequestList:
    """Requests, newest first."""
    require(request, "accounts.view_reactivationrequest")
    found_requests = where_given(
        lookups.requests(request.auth.user), status=filters.status, target_type=filters.target_type
    )
    found = paginate(found_requests, kind="requests", order=("pk",), params=page, descending=True)
    return page_out(ReactivationRequestList, found, ReactivationRequestOut.of)


@router.get(
    "/reactivation-requests/{requestId}",
    response=ReactivationRequestOut,
    operation_id="getReactivationRequest",
    summary="Get a reactivation request",
)
def get_request(request: HttpRequest, request_id: RequestId) -> ReactivationRequestOut:
    """One request."""
    require(request, "accounts.view_reactivationrequest")
    return ReactivationRequestOut.of(lookups.get_request(request.auth.user, request_id))


@router.post(
    "/reactivation-requests/{requestId}/approve",
    response=ReactivationRequestOut | PreviewOut,
    operation_id="approveReactivationRequest",
    summary="Approve a reactivation request",
)
def approve(
    request: HttpRequest, request_id: RequestId, dry_run: DryRun = False
) -> ReactivationRequestOut | PreviewOut:
    """Approve someone else's pending request and carry it out (managers).

    When the provider refuses or fails the change, the request ends `failed` and the answer is
    the provider error's status and envelope, with the request under `meta.request`. A dry run
    makes the approval's checks and answers the change it would carry out.
    """
    found = lookups.get_request(request.auth.user, request_id)
    if preview_wanted(request, dry_run):
        return PreviewOut.of(approvals.preview_approval(actor=request.auth.user, request=found))
    try:
        approvals.approve_request(actor=request.auth.user, request=found, raise_failure=True)
    except approvals.ExecutionFailed as failed:
        out = ReactivationRequestOut.of(lookups.get_request(request.auth.user, request_id))
        failed.meta["request"] = out.model_dump(mode="json", by_alias=True)
        raise
    return ReactivationRequestOut.of(lookups.get_request(request.auth.user, request_id))


@router.post(
    "/reactivation-requests/{requestId}/reject",
    response=ReactivationRequestOut,
    operation_id="rejectReactivationRequest",
    summary="Reject a reactivation request",
)
def reject(request: HttpRequest, request_id: RequestId, body: RejectIn) -> ReactivationRequestOut:
    """Reject a pending request with a comment (managers)."""
    found = lookups.get_request(request.auth.user, request_id)
    approvals.reject_request(actor=request.auth.user, request=found, comment=body.comment)
    return ReactivationRequestOut.of(lookups.get_request(request.auth.user, request_id))


@router.post(
    "/reactivation-requests/{requestId}/cancel",
    response=ReactivationRequestOut,
    operation_id="cancelReactivationRequest",
    summary="Cancel a reactivation request",
)
def cancel(request: HttpRequest, request_id: RequestId) -> ReactivationRequestOut:
    """Withdraw one's own pending request."""
    found = lookups.get_request(request.auth.user, request_id)
    approvals.cancel_request(actor=request.auth.user, request=found)
    return ReactivationRequestOut.of(lookups.get_request(request.auth.user, request_id))
