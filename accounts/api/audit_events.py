"""The audit log, newest first, with the console's filters (auditors and managers)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from accounts.api.auth import require
from accounts.api.pagination import PageQuery, page_out, paginate, where_given
from accounts.api.schemas import AuditEventList, AuditEventOut, Instant
from accounts.models import Channel, Outcome
from accounts.permissions import VIEW_AUDIT
from accounts.selectors import AuditFilters, audit_events

router = Router(tags=["Audit events"], by_alias=True)


class AuditQuery(Schema):
    """The console's audit filters (actor, action, organization, person, outcome), plus
    channel, target, correlation and instants; each narrows the list further."""

    action: str | None = Field(
        None,
        max_length=64,
        description="An action ('request.created'), or a prefix ending in '*' ('request.*').",
    )
    actor: str | None = Field(None, max_length=150, description="Staff username.")
    org_id: str | None = Field(None, alias="orgId", max_length=128)
    person: str | None = Field(None, max_length=254, description="A user's email or id.")
    outcome: Outcome | None = None
    via: Channel | None = None
    target_type: str | None = Field(None, alias="targetType", max_length=32)
    target_id: str | None = Field(None, alias="targetId", max_length=128)
    correlation_id: str | None = Field(None, alias="correlationId", max_length=36)
    since: Instant | None = Field(None, description="Events at or after this time.")
    until: Instant | None = Field(None, description="Events before this time.")


@router.get(
    "/audit-events",
    response=AuditEventList,
    operation_id="listAuditEvents",
    summary="List audit events",
)
def list_audit_events(
    request: HttpRequest, page: PageQuery, filters: Query[AuditQuery]
) -> AuditEventList:
    """Audit events, newest first."""
    require(request, VIEW_AUDIT)
    events = audit_events(
        AuditFilters(
            actor=filters.actor or "",
            action=filters.action or "",
            organization=filters.org_id or "",
            person=filters.person or "",
            outcome=filters.outcome or "",
        )
    )
    events = where_given(
        events,
        via=filters.via,
        target_type=filters.target_type,
        target_id=filters.target_id,
        correlation_id=filters.correlation_id,
        occurred_at__gte=filters.since,
        occurred_at__lt=filters.until,
    )
    found = paginate(events, kind="audit", order=("sequence",), params=page, descending=True)
    return page_out(AuditEventList, found, AuditEventOut.of)
