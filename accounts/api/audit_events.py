"""The audit log, newest first, with the console's filters (auditors and managers)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from accounts.api.auth import require
from accounts.api.pagination import PageQuery, page_out, paginate, where_given
from accounts.api.schemas import AuditEventList, AuditEventOut, Instant
from accounts.models import AuditEvent, Channel, Outcome
from accounts.permissions import EXPORT_AUDIT, VIEW_AUDIT
from accounts.selectors import AuditFilters, audit_events
from accounts.views.evidence import pack_response

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
    events = _filtered(request.auth.user, filters)
    found = paginate(events, kind="audit", order=("sequence",), params=page, descending=True)
    return page_out(AuditEventList, found, AuditEventOut.of)


def _filtered(actor: Any, filters: AuditQuery) -> QuerySet[AuditEvent]:
    """The filtered events inside the actor's scope."""
    events = audit_events(
        AuditFilters(
            actor=filters.actor or "",
            action=filters.action or "",
            organization=filters.org_id or "",
            person=filters.person or "",
            outcome=filters.outcome or "",
        ),
        actor,
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
    return events


@router.get(
    "/audit-events/evidence-pack",
    operation_id="exportAuditEvidencePack",
    summary="Export an evidence pack",
    response={200: None},
    openapi_extra={
        "responses": {
            "200": {
                "description": "A zip: events (JSON Lines and CSV), an inclusion proof per "
                "event, the signed checkpoint covering them and a signed manifest. Check it "
                "offline with `python -m karmo_verify PACK.zip --key <public key>`.",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def export_evidence_pack(request: HttpRequest, filters: Query[AuditQuery]) -> HttpResponse:
    """The filtered events (at most 100,000) with their proofs, as one zip."""
    require(request, EXPORT_AUDIT)
    return pack_response(_filtered(request.auth.user, filters))
