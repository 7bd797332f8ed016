"""ZITADEL's wire format for the adapter: gRPC/Connect error bodies, states, documents."""

from __future__ import annotations

import functools
import re
from collections.abc import Container
from typing import Any
from urllib.parse import quote

import httpx

from providers.base import Membership, Organization, Role, Status, User, readable
from providers.errors import (
    ProviderAPIError,
    ProviderAuthError,
    ProviderConflict,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    error_for_status,
)
from providers.http import Answer

GRPC_ERRORS: dict[int, type[ProviderAPIError]] = {
    3: ProviderRejected,  # INVALID_ARGUMENT
    5: ProviderNotFound,  # NOT_FOUND
    6: ProviderConflict,  # ALREADY_EXISTS
    7: ProviderAuthError,  # PERMISSION_DENIED
    8: ProviderRateLimited,  # RESOURCE_EXHAUSTED
    9: ProviderConflict,  # FAILED_PRECONDITION: the object's state forbids the change
    12: ProviderRejected,  # UNIMPLEMENTED
    14: ProviderUnavailable,  # UNAVAILABLE
    16: ProviderAuthError,  # UNAUTHENTICATED
}
CONNECT_CODES = {
    "invalid_argument": 3,
    "not_found": 5,
    "already_exists": 6,
    "permission_denied": 7,
    "resource_exhausted": 8,
    "failed_precondition": 9,
    "unimplemented": 12,
    "internal": 13,
    "unavailable": 14,
    "unauthenticated": 16,
}
ERROR_ID = re.compile(r"\s*\(([A-Za-z0-9]+-[\w-]+)\)$")
INITIAL = "USER_STATE_INITIAL"
USER_STATUS = {"USER_STATE_ACTIVE": Status.ACTIVE, INITIAL: Status.PENDING}
# ZITADEL answers only STATE_ACTIVE or STATE_INACTIVE.
AUTHZ_STATUS = {"STATE_ACTIVE": Status.ACTIVE, "STATE_INACTIVE": Status.INACTIVE}
# ListUsers query for users created but never set up: their authorizations are pending seats.
INITIAL_USERS = {"stateQuery": {"state": INITIAL}}


# A conversion of ZITADEL's answers: one it cannot read raises ProviderUnreadable.
readable_answer = functools.partial(readable, "zitadel")


def parse_error(response: httpx.Response, body: Any) -> ProviderAPIError:
    """Map a REST `{"code": int, "message", "details"}` or Connect `{"code": "snake"}` body."""
    data = body if isinstance(body, dict) else {}
    raw_code = data.get("code")
    grpc = CONNECT_CODES.get(raw_code) if isinstance(raw_code, str) else raw_code
    message = str(data.get("message") or response.reason_phrase or "ZITADEL error")
    details = data.get("details") if isinstance(data.get("details"), list) else []
    error_id = next((d["id"] for d in details if isinstance(d, dict) and d.get("id")), "")
    if match := ERROR_ID.search(message):
        error_id = error_id or match.group(1)
        message = message[: match.start()]
    status = response.status_code
    cls = error_for_status(status) if status == 429 or status >= 500 else None
    cls = cls or GRPC_ERRORS.get(grpc if isinstance(grpc, int) else -1) or error_for_status(status)
    code = error_id or (raw_code if isinstance(raw_code, str) else str(raw_code or status))
    return cls(message, status_code=status, code=code, body=body)


def segment(value: str) -> str:
    """An id as one URL path segment, so no id can reach another endpoint."""
    return quote(value, safe="")


def not_found(what: str, object_id: str, answer: Answer) -> ProviderNotFound:
    """A 404 for a lookup by id that matched nothing (ZITADEL lists answer empty, not 404)."""
    return ProviderNotFound(
        f"{what} {object_id} not found",
        status_code=404,
        code="not_found",
        request_id=answer.request_id,
    )


@readable_answer
def organization(item: dict[str, Any]) -> Organization:
    """A v2 organization; only ORGANIZATION_STATE_ACTIVE is active."""
    state = item.get("state", "")
    status = Status.ACTIVE if state == "ORGANIZATION_STATE_ACTIVE" else Status.INACTIVE
    return Organization(id=item["id"], name=item.get("name", ""), status=status, raw_status=state)


@readable_answer
def user(item: dict[str, Any]) -> User:
    """A v2 user: INITIAL is pending, ACTIVE active, anything else (INACTIVE, LOCKED) inactive."""
    human = item.get("human") or {}
    profile, email = human.get("profile") or {}, human.get("email") or {}
    state = item.get("state", "")
    return User(
        id=item["userId"],
        email=email.get("email") or item.get("username", ""),
        first_name=profile.get("givenName", ""),
        last_name=profile.get("familyName", ""),
        status=USER_STATUS.get(state, Status.INACTIVE),
        raw_status=state,
        email_verified=bool(email.get("isVerified")),
    )


def membership_state(state: str, *, invited: bool) -> Status:
    """An authorization's status: active for an INITIAL user means invited, not yet joined."""
    status = AUTHZ_STATUS.get(state, Status.INACTIVE)
    return Status.PENDING if invited and status == Status.ACTIVE else status


@readable_answer
def membership(item: dict[str, Any], *, invited: Container[str] = ()) -> Membership:
    """A v2 authorization, with its role keys as the membership's roles.

    `invited` holds the users in USER_STATE_INITIAL (ZITADEL has no pending authorization).
    """
    state = item.get("state", "")
    user_id = item["user"]["id"]
    return Membership(
        id=item["id"],
        organization_id=item["organization"]["id"],
        user_id=user_id,
        status=membership_state(state, invited=user_id in invited),
        raw_status=state,
        roles=tuple(role["key"] for role in item.get("roles") or []),
    )


@readable_answer
def role(organization_id: str, item: dict[str, Any]) -> Role:
    """A project role; as an organization's role its id is `<org id>:<key>`."""
    return Role(
        id=f"{organization_id}:{item['key']}" if organization_id else item["key"],
        slug=item["key"],
        name=item.get("displayName", ""),
        organization_id=organization_id,
        description=item.get("group", ""),
    )
