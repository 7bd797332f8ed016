"""Bulk work in the console: several requests decided, or several reactivations asked, at once.

Each item goes through the same service as a single action (so each is checked, scoped and
audited on its own) and gets its own result; one item failing never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from accounts import approvals, selectors
from accounts.errors import ErrorCode, KarmoError
from accounts.models import (
    MirrorStatus,
    OrganizationMembership,
    ProviderUser,
    ReactivationRequest,
    RequestStatus,
)
from accounts.scopes import scoped
from accounts.views.actions import attempt

MAX_ITEMS = 50


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What happened to one item: a label people recognise, success, and the words for it."""

    label: str
    ok: bool
    text: str


def decidable(user: Any) -> QuerySet[ReactivationRequest]:
    """Pending requests in the user's scope they may decide: never their own."""
    return (
        scoped(user, ReactivationRequest.objects.pending())
        .exclude(requested_by=user)
        .select_related(
            "requested_by",
            "membership__user",
            "membership__organization",
            "provider_user",
            "organization",
        )
        .order_by("created_at", "pk")
    )


def requestable(memberships: list[OrganizationMembership]) -> list[OrganizationMembership]:
    """Of a person's loaded, decorated memberships: the inactive ones with no open request."""
    return [m for m in memberships if m.status == MirrorStatus.INACTIVE and not m.open_request]


def clean_ids(raw: Iterable[str]) -> list[int]:
    """The chosen ids, in order, without repeats; refused when none or too many."""
    ids = list(dict.fromkeys(int(v) for v in raw if v.isascii() and v.isdigit() and len(v) < 12))
    if not ids:
        raise KarmoError(ErrorCode.VALIDATION_FAILED, "Choose at least one item.")
    if len(ids) > MAX_ITEMS:
        raise KarmoError(ErrorCode.VALIDATION_FAILED, f"Choose at most {MAX_ITEMS} items at once.")
    return ids


def _each[T](
    ids: list[int],
    find: Callable[[int], T | None],
    label: Callable[[T], str],
    run: Callable[[T], Any],
    done: Callable[[Any], tuple[bool, str]],
    missing: str,
) -> list[ItemResult]:
    results = []
    for pk in ids:
        item = find(pk)
        if item is None:
            results.append(ItemResult(f"#{pk}", False, missing))
            continue
        outcome, error = attempt(lambda item=item: run(item))
        if error is not None:
            results.append(ItemResult(label(item), False, f"{error.message} ({error.code.code})"))
        else:
            ok, text = done(outcome)
            results.append(ItemResult(label(item), ok, text))
    return results


def _request_label(request: ReactivationRequest) -> str:
    return f"Request #{request.pk} ({selectors.request_target_state(request)['label']})"


def _approved(request: ReactivationRequest) -> tuple[bool, str]:
    if request.status == RequestStatus.FAILED:
        return (
            False,
            f"approved, but the change failed: {request.error_message} ({request.error_code})",
        )
    return True, "approved and reactivated"


def decide(*, actor: Any, ids: list[int], decision: str, comment: str) -> list[ItemResult]:
    """Approve or reject (`decision`) each chosen request through the approval service."""
    if decision not in ("approve", "reject"):
        raise KarmoError(ErrorCode.VALIDATION_FAILED, "Choose approve or reject.")
    approve = decision == "approve"
    comment = comment.strip()
    if not approve and not comment:
        raise KarmoError(ErrorCode.COMMENT_REQUIRED)
    requests = scoped(
        actor,
        ReactivationRequest.objects.select_related(
            "membership__user", "membership__organization", "provider_user", "organization"
        ),
    )
    if approve:
        run = lambda r: approvals.approve_request(actor=actor, request=r, comment=comment)  # noqa: E731
        done = _approved
    else:
        run = lambda r: approvals.reject_request(actor=actor, request=r, comment=comment)  # noqa: E731
        done = lambda r: (True, "rejected")  # noqa: E731
    return _each(
        ids,
        lambda pk: requests.filter(pk=pk).first(),
        _request_label,
        run,
        done,
        ErrorCode.REQUEST_NOT_FOUND.message,
    )


def request_many(
    *, actor: Any, person: ProviderUser, ids: list[int], reason: str
) -> list[ItemResult]:
    """Ask for reactivation of each chosen membership of one person, with one reason."""
    memberships = scoped(actor, OrganizationMembership.objects.present()).filter(user=person)
    return _each(
        ids,
        lambda pk: memberships.select_related("organization").filter(pk=pk).first(),
        lambda m: m.organization.name,
        lambda m: approvals.request_reactivation(actor=actor, target=m, reason=reason),
        lambda r: (True, f"request #{r.pk} sent to the managers"),
        ErrorCode.MEMBERSHIP_NOT_FOUND.message,
    )
