"""Creating provider users, and refreshing one user or organization from the provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts import permissions
from accounts.errors import ErrorCode, FieldError, from_provider_error
from accounts.models import Organization, OrganizationMembership, Outcome, ProviderUser
from accounts.services import mirroring
from accounts.services.flow import (
    Actor,
    Call,
    Change,
    Step,
    deny,
    require,
    require_in_scope,
    run,
    start_call,
)
from accounts.services.readback import ReadBack
from providers.base import Capability, Provider
from providers.errors import ProviderError, ProviderNotFound
from providers.registry import get_provider

# No permission names user creation; it grants access directly, as a manager may.
CREATE_USER_PERMISSION = permissions.REACTIVATE_DIRECTLY
MAX_NAME = 150


def create_user(
    *,
    actor: Actor,
    email: str,
    first_name: str = "",
    last_name: str = "",
    via: str = "",
    correlation_id: str = "",
) -> Change[ProviderUser]:
    """Create a user at the provider and mirror it."""
    event_type = "user.created"
    call = start_call(actor, via=via, correlation_id=correlation_id)
    email, first_name, last_name = (str(v or "").strip() for v in (email, first_name, last_name))
    data = {"email": email, "first_name": first_name, "last_name": last_name}
    require(call, CREATE_USER_PERMISSION, event_type)
    errors = []
    try:
        validate_email(email)
    except ValidationError:
        errors.append(FieldError("Enter a valid email address.", "/email"))
    errors.extend(
        FieldError(f"At most {MAX_NAME} characters.", f"/{name}")
        for name, value in (("first_name", first_name), ("last_name", last_name))
        if len(value) > MAX_NAME
    )
    if errors:
        raise deny(call, event_type, ErrorCode.VALIDATION_FAILED, errors=errors, data=data)
    if ProviderUser.objects.present().filter(email__iexact=email).exists():
        raise deny(
            call,
            event_type,
            ErrorCode.STATE_CONFLICT,
            message="A user with this email already exists.",
            errors=[FieldError("A user with this email already exists.", "/email")],
            data=data,
        )
    step = Step(
        event_type=event_type,
        capability=Capability.CREATE_USER,
        target=None,
        call=lambda p: p.create_user(email, first_name, last_name),
        apply=mirroring.save_new_user,
        snapshot=mirroring.user_state,
        data=data,
        read_back=ReadBack(
            read=lambda p, answer: p.get_user(answer.id),
            wanted={"email": email.lower()},
            observe=lambda value: {"email": value.email.lower()},
        ),
    )
    return run(call, step)


def refresh_user(
    *, actor: Actor, user: ProviderUser, via: str = "", correlation_id: str = ""
) -> ProviderUser:
    """Re-read one user and their memberships from the provider into the mirror."""
    event_type = "user.refreshed"
    call = start_call(actor, via=via, correlation_id=correlation_id)
    require_in_scope(call, event_type, user)
    require(call, permissions.REFRESH_FROM_PROVIDER, event_type, user)
    memberships = list(OrganizationMembership.objects.present().filter(user=user))

    def fetch(provider: Provider) -> Any:
        value = provider.get_user(user.external_id)
        return value, [
            (m, _get_or_none(provider.get_membership, m.external_id)) for m in memberships
        ]

    before = _user_with_memberships(user)
    answer = _fetch(call, event_type, user, fetch, before)
    with transaction.atomic():
        if answer is None:
            row = ProviderUser.objects.select_for_update().get(pk=user.pk)
            mirroring.mark_removed(row)
        else:
            value, found = answer
            row = mirroring.save_user(user.pk, value)
            for membership, current in found:
                if current is None:
                    mirroring.mark_removed(membership)
                else:
                    mirroring.save_membership(membership.pk, current)
        _refreshed(call, event_type, row, before, _user_with_memberships(row))
    return row


def refresh_organization(
    *, actor: Actor, organization: Organization, via: str = "", correlation_id: str = ""
) -> Organization:
    """Re-read one organization from the provider into the mirror."""
    event_type = "organization.refreshed"
    call = start_call(actor, via=via, correlation_id=correlation_id)
    require_in_scope(call, event_type, organization)
    require(call, permissions.REFRESH_FROM_PROVIDER, event_type, organization)
    before = mirroring.organization_state(organization)
    answer = _fetch(
        call,
        event_type,
        organization,
        lambda p: p.get_organization(organization.external_id),
        before,
    )
    with transaction.atomic():
        if answer is None:
            row = Organization.objects.select_for_update().get(pk=organization.pk)
            mirroring.mark_removed(row)
        else:
            row = mirroring.save_organization(organization.pk, answer)
        _refreshed(call, event_type, row, before, mirroring.organization_state(row))
    return row


def _user_with_memberships(user: ProviderUser) -> dict[str, Any]:
    state = mirroring.user_state(user)
    state["memberships"] = {
        m.external_id: m.status
        for m in OrganizationMembership.objects.present().filter(user=user).order_by("external_id")
    }
    return state


def _get_or_none(get: Callable[[str], Any], external_id: str) -> Any:
    try:
        return get(external_id)
    except ProviderNotFound:
        return None


def _fetch(
    call: Call, event_type: str, target: Any, fetch: Callable[[Provider], Any], before: Any
) -> Any:
    """Read from the provider; None when it no longer knows the target; failures are recorded."""
    provider_name = ""
    try:
        provider = get_provider()
        provider_name = provider.name
        try:
            return fetch(provider)
        except ProviderNotFound:
            return None
        finally:
            provider.close()
    except ProviderError as exc:
        error = from_provider_error(exc, provider_name)
        call.event(
            event_type=event_type,
            outcome=Outcome.FAILED,
            target=target,
            error_code=error.code.code,
            provider_request_id=exc.request_id,
            before=before,
            data={"message": error.message, "provider": provider_name},
        )
        raise error from exc


def _refreshed(call: Call, event_type: str, row: Any, before: Any, after: Any) -> None:
    call.event(
        event_type=event_type,
        outcome=Outcome.SUCCEEDED,
        target=row,
        before=before,
        after=after,
        data={"changed": before != after},
    )
