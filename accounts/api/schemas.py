"""Request and response bodies of the JSON API (camelCase on the wire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Field, Schema
from pydantic import AfterValidator, AwareDatetime, ConfigDict, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from accounts.models import (
    AuditEvent,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
    ReactivationRequest,
    TimedAccess,
)

ORG_ID_DOC = (
    "Provider tenant or organization identifier. In WorkOS mode this is the WorkOS "
    "organization id, for example org_123."
)
USER_ID_DOC = "Provider user identifier returned by createUser or listUsers."
ROLE_SLUG_DOC = (
    "Organization role slug. Must start with 'org-' followed by lowercase letters, numbers, "
    "hyphens, or underscores."
)
ROLE_SLUG_PATTERN = r"^org-[a-z0-9_-]+$"
ORG_ID_EXAMPLE = "org_123"
USER_ID_EXAMPLE = "user_01J7C4Q8QABCD1234XYZ"

Lifecycle = Literal["active", "inactive", "pending"]
ProviderId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
RoleName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=48, pattern=r"\S")
]
RoleKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
]


def duration_iso(value: timedelta) -> str:
    """A duration as the API writes it: P7D, PT8H, P1DT12H."""
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    day = f"{value.days}D" if value.days else ""
    return f"P{day}T{time}" if time else f"P{day or '0D'}"


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range") from exc


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000, pattern=r"\S")
]


# An ISO 8601 duration in days, hours, minutes or seconds: P7D, PT8H, P1DT12H.
DURATION_PATTERN = r"^P([0-9]{1,4}D|T[0-9]{1,6}[HMS]|[0-9]{1,4}DT[0-9]{1,6}[HMS])$"
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
UNTIL_DOC = (
    "Time-bound access: when the membership is deactivated again by Karmo's scheduled task "
    "(at most KARMO_TIME_LIMIT_MAX_DAYS, default 30 days, ahead). Give this or `duration`."
)
DURATION_DOC = (
    "Time-bound access as an ISO 8601 duration (P7D, PT8H), counted from when the change is "
    "made. Give this or `until`."
)
ACCESS_UNTIL_DOC = (
    "When Karmo deactivates this membership again (time-bound access); absent when its access "
    "has no time limit."
)


class ApiSchema(Schema):
    """camelCase aliases on the wire, snake_case in Python.

    Built from models and dicts by field name only: trying the camelCase alias first costs a
    failed attribute lookup (and ninja's template-variable fallback) per field and object.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=False,
        from_attributes=True,
    )


class InputSchema(ApiSchema):
    """A request body, camelCase or snake_case: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", validate_by_alias=True)


class FieldErrorOut(ApiSchema):
    """One offending value."""

    detail: str = Field(description="Human-readable detail for the specific field error.")
    pointer: str = Field(description="JSON pointer to the offending value.", examples=["/email"])


class ErrorEnvelope(ApiSchema):
    """The body of every non-2xx answer."""

    status: str = Field(description="The HTTP status name.", examples=["UNPROCESSABLE_ENTITY"])
    code: str = Field(
        description="Karmo 8-digit error code.", pattern=r"^\d{8}$", examples=["42203001"]
    )
    message: str = Field(description="Human-readable message.")
    meta: dict[str, Any] = Field(description="Domain-level metadata emitted by the service.")
    errors: list[FieldErrorOut]


class OrganizationOut(ApiSchema):
    """An organization (tenant) at the provider."""

    id: str = Field(description=ORG_ID_DOC, examples=[ORG_ID_EXAMPLE])
    name: str
    status: Lifecycle

    @classmethod
    def of(cls, org: Organization) -> OrganizationOut:
        """From the mirror."""
        return cls(id=org.external_id, name=org.name, status=org.status)


class UserOut(ApiSchema):
    """A person at the provider."""

    id: str = Field(description=USER_ID_DOC, examples=[USER_ID_EXAMPLE])
    email: str
    first_name: str
    last_name: str
    status: Lifecycle

    @classmethod
    def of(cls, user: ProviderUser) -> UserOut:
        """From the mirror."""
        return cls(
            id=user.external_id,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            status=user.status,
        )


class MembershipOut(ApiSchema):
    """A user's membership of one organization."""

    org_id: str = Field(description=ORG_ID_DOC, examples=[ORG_ID_EXAMPLE])
    user_id: str = Field(description=USER_ID_DOC, examples=[USER_ID_EXAMPLE])
    roles: list[str] = Field(
        description="Role slugs currently assigned to this user's organization membership.",
        examples=[["org-admin"]],
    )
    status: Lifecycle = Field(
        description="Current membership lifecycle status returned by the configured access "
        "provider.",
        examples=["active"],
    )

    @classmethod
    def of(cls, membership: OrganizationMembership) -> MembershipOut:
        """From the mirror (roles prefetched or not)."""
        return cls(
            org_id=membership.organization.external_id,
            user_id=membership.user.external_id,
            roles=membership.role_slugs,
            status=membership.status,
        )


class MembershipAccessOut(MembershipOut):
    """A membership with the end of its time-bound access, when it has one."""

    # Left out when there is no limit, so the answer keeps the product's documented shape.
    access_until: datetime | None = Field(
        default=None, description=ACCESS_UNTIL_DOC, exclude_if=lambda value: value is None
    )

    @classmethod
    def of(cls, membership: OrganizationMembership) -> MembershipAccessOut:
        """From the mirror (roles and running time limits prefetched or not)."""
        limit = next(iter(running_limits(membership)), None)
        return cls(
            org_id=membership.organization.external_id,
            user_id=membership.user.external_id,
            roles=membership.role_slugs,
            status=membership.status,
            access_until=limit.until if limit else None,
        )


def running_limits(membership: OrganizationMembership) -> list[TimedAccess]:
    """The membership's running time limits (prefetched as `running_limits` when listed)."""
    prefetched = getattr(membership, "running_limits", None)
    if prefetched is not None:
        return prefetched
    return list(TimedAccess.objects.running().filter(membership=membership))


class TimeLimitIn(InputSchema):
    """An optional time limit: until a moment, or for a duration."""

    until: Instant | None = Field(default=None, description=UNTIL_DOC)
    duration: Duration | None = Field(default=None, description=DURATION_DOC, examples=["P7D"])


class TimeLimitQuery(Schema):
    """reactivateMembership's optional time limit, in the query (the operation has no body)."""

    until: Instant | None = Field(default=None, description=UNTIL_DOC)
    duration: Duration | None = Field(default=None, description=DURATION_DOC, examples=["P7D"])


class ExtendAccessIn(TimeLimitIn):
    """The new end of a membership's time-bound access."""

    reason: str = Field(default="", max_length=1000)


class EndAccessIn(InputSchema):
    """Why time-bound access ends early."""

    reason: str = Field(default="", max_length=1000)


class RoleOut(ApiSchema):
    """An organization role."""

    id: str
    slug: str
    name: str

    @classmethod
    def of(cls, role: OrganizationRole) -> RoleOut:
        """From the mirror."""
        return cls(id=role.external_id, slug=role.slug, name=role.name)


class RoleIdOut(ApiSchema):
    """The provider's id of a role just created or updated."""

    id: str = Field(
        description="Provider role identifier returned after the organization role is created "
        "or updated.",
        examples=["role_01HXYZ"],
    )


class RoleIn(InputSchema):
    """The role's display name."""

    name: RoleName = Field(
        description="Human-readable organization role name shown in the configured access "
        "provider.",
        examples=["Organization Admin"],
    )


class MembershipRolesIn(InputSchema):
    """The complete set of role slugs a membership should hold."""

    roles: list[RoleKey] = Field(max_length=50, examples=[["org-admin", "org-billing"]])


class UserIn(InputSchema):
    """A person to create at the provider."""

    email: str = Field(
        min_length=3,
        max_length=254,
        examples=["ada@customer.example"],
        json_schema_extra={"format": "email"},
    )
    first_name: str = Field(default="", max_length=150)
    last_name: str = Field(default="", max_length=150)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        try:
            validate_email(value)
        except DjangoValidationError as exc:
            raise ValueError("is not a valid email address") from exc
        return value


class ReactivationRequestIn(InputSchema):
    """What to reactivate and why; a membership needs orgId and userId."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"targetType": {"const": kind}}},
                    "then": {
                        "required": needed,
                        "properties": {name: {"type": "string"} for name in needed},
                    },
                }
                for kind, needed in (
                    ("membership", ["orgId", "userId"]),
                    ("user", ["userId"]),
                    ("organization", ["orgId"]),
                )
            ]
        }
    )

    target_type: Literal["membership", "user", "organization"]
    org_id: ProviderId | None = Field(default=None, description=ORG_ID_DOC)
    user_id: ProviderId | None = Field(default=None, description=USER_ID_DOC)
    reason: Text
    until: Instant | None = Field(default=None, description=UNTIL_DOC)
    duration: Duration | None = Field(default=None, description=DURATION_DOC, examples=["P7D"])


class RejectIn(InputSchema):
    """Why the request is rejected."""

    comment: Text


class ReactivationRequestOut(ApiSchema):
    """A request to restore access, decided by a manager."""

    id: int
    target_type: Literal["membership", "user", "organization"]
    org_id: str | None
    user_id: str | None
    status: Literal["pending", "approved", "executed", "failed", "rejected", "expired", "cancelled"]
    reason: str
    requested_by: str
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str
    error_code: str | None
    until: datetime | None = Field(description="The end of access asked for, if any.")
    duration: str | None = Field(
        description="The length of access asked for (ISO 8601), if any.", examples=["P7D"]
    )
    access_until: datetime | None = Field(
        description="When the access this request granted ends; null when none is running."
    )

    @classmethod
    def of(cls, request: ReactivationRequest) -> ReactivationRequestOut:
        """From the model (related rows selected)."""
        org = request.organization or (request.membership and request.membership.organization)
        user = request.provider_user or (request.membership and request.membership.user)
        return cls(
            id=request.pk,
            target_type=request.target_type,
            org_id=org.external_id if org else None,
            user_id=user.external_id if user else None,
            status=request.status,
            reason=request.reason,
            requested_by=request.requested_by.get_username(),
            created_at=request.created_at,
            expires_at=request.expires_at,
            decided_by=request.decided_by.get_username() if request.decided_by else None,
            decided_at=request.decided_at,
            comment=request.decision_comment,
            error_code=request.error_code or None,
            until=request.access_until,
            duration=duration_iso(request.access_duration) if request.access_duration else None,
            access_until=next(
                (limit.until for limit in request.time_limits.all() if limit.state == "active"),
                None,
            ),
        )


class AuditEventOut(ApiSchema):
    """One audit-log entry."""

    sequence: int
    occurred_at: datetime
    event_type: str
    outcome: str
    actor: str
    token_id: int | None
    via: str
    target_type: str
    target_id: str
    target_repr: str
    org_id: str
    user_id: str
    reason: str
    error_code: str
    provider_request_id: str
    correlation_id: str
    request_id: str
    before: Any
    after: Any

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        """From the log."""
        return cls(
            sequence=event.sequence,
            occurred_at=event.occurred_at,
            event_type=event.event_type,
            outcome=event.outcome,
            actor=event.actor_repr,
            token_id=event.token_id,
            via=event.via,
            target_type=event.target_type,
            target_id=event.target_id,
            target_repr=event.target_repr,
            org_id=event.organization_external_id,
            user_id=event.user_external_id,
            reason=event.reason,
            error_code=event.error_code,
            provider_request_id=event.provider_request_id,
            correlation_id=event.correlation_id,
            request_id=event.request_id,
            before=event.before,
            after=event.after,
        )


NEXT_CURSOR_DOC = "Opaque cursor for the next page; null on the last page."


class OrganizationList(ApiSchema):
    """A page of organizations."""

    data: list[OrganizationOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class UserList(ApiSchema):
    """A page of users."""

    data: list[UserOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class MembershipList(ApiSchema):
    """A page of memberships."""

    data: list[MembershipAccessOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class RoleList(ApiSchema):
    """A page of roles."""

    data: list[RoleOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class ReactivationRequestList(ApiSchema):
    """A page of reactivation requests."""

    data: list[ReactivationRequestOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)


class AuditEventList(ApiSchema):
    """A page of audit events, newest first."""

    data: list[AuditEventOut]
    next_cursor: str | None = Field(description=NEXT_CURSOR_DOC)
