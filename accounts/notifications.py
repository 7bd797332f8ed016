"""Emails about reactivation requests, sent once the change that causes them is committed."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from accounts.models import ReactivationRequest, RequestStatus, TimedAccess
from accounts.permissions import MANAGER
from accounts.scopes import contains

DECISION_LINES = {
    RequestStatus.EXECUTED: "was approved by {decider} and carried out at the provider.",
    RequestStatus.FAILED: (
        "was approved by {decider}, but the provider refused or failed the change "
        "({error_code}: {error_message}). A manager can retry it."
    ),
    RequestStatus.REJECTED: "was rejected by {decider}: {comment}",
    RequestStatus.EXPIRED: "expired before a manager decided it; nothing was changed.",
}


def describe(request: ReactivationRequest) -> str:
    """The request's target in words, e.g. 'membership of a@b.example in Acme'."""
    if request.membership_id:
        membership = request.membership
        return f"membership of {membership.user.email} in {membership.organization.name}"
    if request.provider_user_id:
        return f"user {request.provider_user.email}"
    return f"organization {request.organization.name}"


def _send(subject: str, body: str, recipients: list[str]) -> None:
    if recipients:
        transaction.on_commit(lambda: send_mail(subject, body, None, recipients), robust=True)


def request_created(request: ReactivationRequest) -> None:
    """Tell every manager who may decide it (email set, not the requester, target in scope).

    Managers outside the target's scope are not told: the email would reveal the customer.
    """
    managers = (
        get_user_model()
        .objects.filter(groups__name=MANAGER, is_active=True)
        .exclude(email="")
        .exclude(pk=request.requested_by_id)
        .order_by("email")
        .distinct()
    )
    recipients = [manager.email for manager in managers if contains(manager, request)]
    body = (
        f"{request.requested_by.get_username()} asks to reactivate the {describe(request)}.\n\n"
        f"Reason: {request.reason}\n\n"
        f"Approve or reject it in Karmo Admin (request #{request.pk}) before "
        f"{request.expires_at:%Y-%m-%d %H:%M} UTC, when it expires."
    )
    _send(f"[Karmo] Reactivation request #{request.pk} needs a decision", body, recipients)


def request_decided(request: ReactivationRequest) -> None:
    """Tell the requester what became of their request."""
    line = DECISION_LINES.get(RequestStatus(request.status))
    email = request.requested_by.email
    if line is None or not email:
        return
    decider = request.decided_by.get_username() if request.decided_by_id else "a manager"
    text = line.format(
        decider=decider,
        error_code=request.error_code,
        error_message=request.error_message,
        comment=request.decision_comment,
    )
    body = f"Your request #{request.pk} to reactivate the {describe(request)} {text}"
    _send(f"[Karmo] Reactivation request #{request.pk}: {request.status}", body, [email])


def access_ending(limit: TimedAccess, notice: str) -> str:
    """Tell the requester (or the manager who granted it) that time-bound access ends soon.

    Returns the address written to, or "" when that person has no email.
    """
    person = limit.request.requested_by if limit.request_id else limit.granted_by
    email = person.email if person is not None else ""
    membership = limit.membership
    what = f"membership of {membership.user.email} in {membership.organization.name}"
    within = "an hour" if notice == "hour" else "a day"
    body = (
        f"The time-bound access you asked for, the {what}, ends within {within}: at "
        f"{limit.until:%Y-%m-%d %H:%M} UTC it is deactivated.\n\n"
        "A manager can extend it or end it early on the person's page in Karmo Admin."
    )
    if limit.request_id:
        body += f" (Request #{limit.request_id}.)"
    _send(
        f"[Karmo] Access ends within {within}: {membership.user.email}",
        body,
        [email] if email else [],
    )
    return email
