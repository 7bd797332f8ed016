"""Console forms: sign-in for staff, reasons, roles, and the audit log's filters."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.errors import ErrorCode, KarmoError
from accounts.models import Outcome
from accounts.selectors import DECIDED_STATUSES, AuditFilters
from accounts.services import limits

ROLE_SLUG = re.compile(r"^org-[a-z0-9_-]+$")
ROLE_NAME_MAX = 48
# Suggestions for the audit log's action filter (any value may be typed).
EVENT_TYPES = (
    "membership.reactivated",
    "membership.deactivated",
    "membership.roles_set",
    "organization.reactivated",
    "organization.deactivated",
    "organization.refreshed",
    "user.activated",
    "user.deactivated",
    "user.created",
    "user.refreshed",
    "role.upserted",
    "access.limited",
    "access.extended",
    "access.ended",
    "access.expired",
    "access.reminded",
    "request.created",
    "request.approved",
    "request.rejected",
    "request.cancelled",
    "request.retried",
    "request.executed",
    "request.failed",
    "request.expired",
    "sync.requested",
    "sync.started",
    "sync.finished",
    "sync.failed",
    "audit.verified",
)


class StaffAuthenticationForm(AuthenticationForm):
    """Django's sign-in form that only lets staff in."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise ValidationError(
                "This account is not a staff account; ask an administrator for access.",
                code="not_staff",
            )


class ReasonForm(forms.Form):
    """A reason for a change or a request."""

    reason = forms.CharField(
        max_length=1000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": ErrorCode.REASON_REQUIRED.message},
    )


class OptionalReasonForm(forms.Form):
    """A reason that may be left empty."""

    reason = forms.CharField(max_length=1000, required=False, strip=True)


LIMIT_HELP = "Optional. A duration such as 8h, 7d or 2w, or a UTC date-time (2026-12-31 18:00)."


class TimeLimitField(forms.CharField):
    """An optional end of access: (until, duration), or (None, None) when left empty."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", LIMIT_HELP)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> tuple[datetime | None, timedelta | None]:
        text = super().clean(value)
        if not text:
            return None, None
        try:
            return limits.parse_limit(text)
        except KarmoError as error:
            detail = error.errors[0].detail if error.errors else ""
            raise ValidationError(
                f"{error.message} ({detail})" if detail else error.message
            ) from None


def end_of_access(data: dict[str, Any]) -> datetime | None:
    """The moment access ends from a form's cleaned `until`, a duration counted from now."""
    until, duration = data["until"]
    return until if duration is None else timezone.now() + duration


class ReactivateForm(OptionalReasonForm):
    """A direct reactivation: an optional reason and an optional time limit."""

    until = TimeLimitField(label="Until (optional)")


class RequestForm(ReasonForm):
    """A reactivation request: a reason and an optional time limit (counted from approval)."""

    until = TimeLimitField(label="For how long (optional)")


class ExtendForm(OptionalReasonForm):
    """A new end for time-bound access."""

    until = TimeLimitField(label="New end", required=True)


class RejectForm(forms.Form):
    """A manager's rejection, which needs a comment."""

    comment = forms.CharField(
        max_length=1000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": ErrorCode.COMMENT_REQUIRED.message},
    )


def validate_role_slug(value: str) -> None:
    """The rule the provider's API documents: org- then lowercase letters, digits, - or _."""
    if not ROLE_SLUG.fullmatch(value):
        raise ValidationError(ErrorCode.INVALID_ROLE_SLUG.message, code="invalid_slug")


class RoleForm(forms.Form):
    """Create or update an organization role."""

    slug = forms.CharField(max_length=64, validators=[validate_role_slug])
    name = forms.CharField(
        max_length=ROLE_NAME_MAX,
        error_messages={"required": ErrorCode.INVALID_ROLE_NAME.message},
    )
    description = forms.CharField(max_length=255, required=False)


class MembershipRolesForm(forms.Form):
    """The role slugs a membership should hold, picked from the organization's roles."""

    roles = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args: Any, choices: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"].choices = [(slug, slug) for slug in choices]


class AuditFilterForm(forms.Form):
    """Filters over the audit log; an invalid value is a form error, never silently dropped."""

    actor = forms.CharField(
        required=False,
        max_length=150,
        label="Actor",
        widget=forms.TextInput(attrs={"placeholder": "username or part"}),
    )
    action = forms.CharField(
        required=False,
        max_length=64,
        label="Action",
        widget=forms.TextInput(attrs={"list": "event-types", "placeholder": "request.*"}),
    )
    organization = forms.CharField(
        required=False,
        max_length=128,
        label="Organization",
        widget=forms.TextInput(attrs={"list": "organizations", "placeholder": "name or id"}),
    )
    person = forms.CharField(
        required=False,
        max_length=254,
        label="Person",
        widget=forms.TextInput(attrs={"placeholder": "email, part of it, or id"}),
    )
    outcome = forms.ChoiceField(
        required=False, choices=[("", "Any outcome"), *Outcome.choices], label="Outcome"
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError(
                f"“From” ({since:%Y-%m-%d}) is after “To” ({until:%Y-%m-%d}): "
                "no event can match. Swap them or change one."
            )
        return data

    def filters(self) -> AuditFilters:
        """The filters; call only on a valid form."""
        data = self.cleaned_data
        return AuditFilters(
            partial=True,
            actor=data.get("actor", "").strip(),
            action=data.get("action", "").strip(),
            organization=data.get("organization", "").strip(),
            person=data.get("person", "").strip(),
            outcome=data.get("outcome", ""),
            since=data.get("since"),
            until=data.get("until"),
        )


class DecisionFilterForm(forms.Form):
    """Filters of the decision history; every field optional and matched in part, any case."""

    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any decision")]
        + [(value, value.capitalize()) for value in DECIDED_STATUSES],
    )
    person = forms.CharField(required=False, max_length=200, label="Person (email)")
    organization = forms.CharField(required=False, max_length=200)
    requested_by = forms.CharField(required=False, max_length=150, label="Requested by")
    decided_by = forms.CharField(required=False, max_length=150, label="Decided by")
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
