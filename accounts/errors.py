"""The Karmo error catalogue: 8-digit codes (HTTP status, domain, case) used by the
console, the API and the docs alike. Codes are stable: never renumber one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from providers import errors as perr


class Domain(enum.IntEnum):
    """The two middle digits of a code."""

    REQUEST = 0
    AUTH = 1
    PERMISSION = 2
    ROLES = 3
    PROVIDER = 4
    LIFECYCLE = 5
    APPROVALS = 6
    API = 7
    WEBHOOKS = 8
    AUDIT = 9


class ErrorCode(enum.Enum):
    """Every error Karmo reports. Value: (code, default message)."""

    MALFORMED_JSON = ("40000001", "The request body is not valid JSON.")
    UNSUPPORTED_MEDIA_TYPE = ("40000002", "Send the request body as application/json.")
    BODY_TOO_LARGE = ("40000003", "The request body is too large.")
    BAD_REQUEST = ("40000004", "The request is invalid.")
    MISSING_TOKEN = ("40101001", "Send an API token as 'Authorization: Bearer <token>'.")
    INVALID_TOKEN = ("40101002", "The API token is not valid.")
    TOKEN_EXPIRED = ("40101003", "The API token has expired or was revoked.")
    SIGN_IN_FAILED = ("40101011", "The username or password is not right.")
    SECOND_FACTOR_FAILED = ("40101012", "The code or passkey was not accepted.")
    REAUTH_REQUIRED = (
        "40101013",
        "Confirm your password and second factor, then make this change again.",
    )
    SESSION_EXPIRED = ("40101014", "The session ended; sign in again.")
    SIGN_IN_LOCKED = ("42901011", "Too many failed sign-ins; try again later.")
    PERMISSION_DENIED = ("40302001", "You do not have permission to do this.")
    APPROVAL_REQUIRED = ("40302002", "This change needs a manager's approval; request it instead.")
    SELF_APPROVAL = ("40306001", "Nobody may decide their own request.")
    NOT_FOUND = ("40400001", "Nothing is found at this address.")
    ORGANIZATION_NOT_FOUND = ("40405001", "No such organization.")
    USER_NOT_FOUND = ("40405002", "No such user.")
    MEMBERSHIP_NOT_FOUND = ("40405003", "No such membership.")
    ROLE_NOT_FOUND = ("40403001", "No such role.")
    REQUEST_NOT_FOUND = ("40406001", "No such reactivation request.")
    PROVIDER_NOT_FOUND = ("40404001", "The provider does not know this object.")
    METHOD_NOT_ALLOWED = ("40500001", "This method is not allowed here.")
    PENDING_CANNOT_REACTIVATE = (
        "40905001",
        "A pending membership cannot be reactivated; the invitation must be accepted.",
    )
    STATE_CONFLICT = ("40905002", "The target's state does not allow this change.")
    ALREADY_DECIDED = ("40906001", "This request has already been decided.")
    OPEN_REQUEST_EXISTS = ("40906002", "An open request for this target already exists.")
    PROVIDER_CONFLICT = ("40904001", "The provider refused the change in the target's state.")
    VERIFICATION_FAILED = (
        "40904002",
        "The provider accepted the change, but reading the target back does not show it.",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "40907001",
        "This Idempotency-Key was used with a different request.",
    )
    INVALID_ROLE_SLUG = (
        "42203001",
        "Role slug must start with 'org-' followed by lowercase letters, digits, '-' or '_'.",
    )
    INVALID_ROLE_NAME = ("42203002", "Role name is required and at most 48 characters.")
    UNKNOWN_ROLE = ("42203003", "The role does not exist for this organization.")
    VALIDATION_FAILED = ("42200001", "The request failed validation.")
    REASON_REQUIRED = ("42206001", "A reason is required.")
    COMMENT_REQUIRED = ("42206002", "A comment is required to reject a request.")
    REQUEST_EXPIRED = ("42206003", "This request has expired.")
    UNSUPPORTED_BY_PROVIDER = ("42204001", "The configured provider does not support this.")
    PROVIDER_REJECTED = ("42204002", "The provider rejected the request.")
    API_RATE_LIMITED = ("42907001", "Too many API requests for this token; slow down.")
    PROVIDER_RATE_LIMITED = ("42904001", "Configured access provider rate limited the request.")
    INTERNAL_ERROR = ("50000001", "Something went wrong on our side.")
    PROVIDER_NOT_CONFIGURED = (
        "50304001",
        "Access-management provider is not configured for this environment.",
    )
    PROVIDER_UNREADABLE = ("50204001", "The access provider sent an answer Karmo cannot read.")
    PROVIDER_UNAVAILABLE = ("50304002", "The access provider could not be reached.")
    PROVIDER_AUTH_FAILED = ("50304003", "The access provider refused Karmo's credentials.")
    INVALID_CURSOR = (
        "40000005",
        "The cursor is not valid for this list; start from the first page.",
    )
    INVALID_IDEMPOTENCY_KEY = ("40000006", "An Idempotency-Key is 1 to 255 printable characters.")
    IDEMPOTENCY_IN_PROGRESS = (
        "40907002",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
    )
    WEBHOOK_BAD_SIGNATURE = ("40108001", "The webhook signature is missing or does not match.")
    WEBHOOK_STALE = ("40108002", "The webhook's timestamp is outside the accepted window.")
    WEBHOOK_NOT_CONFIGURED = ("40408001", "No webhook secret is configured for this provider.")
    WEBHOOK_REPLAYED = ("40908001", "This webhook delivery was already received.")
    WEBHOOK_BAD_PAYLOAD = ("40008001", "The webhook body is not an event Karmo can read.")
    AUDIT_EVENT_NOT_FOUND = ("40409001", "No such audit event.")
    NO_CHECKPOINT = ("40409002", "No signed checkpoint of the audit log exists yet.")
    TREE_SIZE_TOO_SMALL = (
        "40009001",
        "The smaller tree size must come first, and a proof's tree must hold its event.",
    )
    PACK_TOO_LARGE = (
        "40009002",
        "An evidence pack holds at most 100,000 events; narrow the filters.",
    )
    TREE_SIZE_NOT_FOUND = ("40409003", "The audit log has not reached this tree size.")
    AUDIT_LOG_FORKED = (
        "40909001",
        "The audit log no longer matches its signed checkpoints; run verify_audit_log.",
    )
    SIGNING_KEY_NOT_CONFIGURED = (
        "50309001",
        "Audit checkpoints are not configured: KARMO_AUDIT_SIGNING_KEY is not set.",
    )
    INVALID_TIME_LIMIT = (
        "42205001",
        "Give the end of access as a future date-time or a duration such as 8h, 7d or P7D.",
    )
    TIME_LIMIT_TOO_LONG = ("42205002", "Time-bound access cannot last that long.")
    TIME_LIMIT_MEMBERSHIP_ONLY = (
        "42205003",
        "Only a membership can be reactivated for a limited time.",
    )
    NO_TIME_LIMIT = ("40905004", "This membership has no running time limit.")
    CHANGE_NOT_CONFIRMED = (
        "40905003",
        "The change was interrupted and the provider does not show it; try it again.",
    )

    @property
    def code(self) -> str:
        """The 8-digit code."""
        return self.value[0]

    @property
    def message(self) -> str:
        """The default human-readable message."""
        return self.value[1]

    @property
    def http_status(self) -> HTTPStatus:
        """The HTTP status the first three digits name."""
        return HTTPStatus(int(self.code[:3]))

    @property
    def domain(self) -> Domain:
        """The domain the middle two digits name."""
        return Domain(int(self.code[3:5]))


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending value, located by a JSON pointer."""

    detail: str
    pointer: str


class KarmoError(Exception):
    """An error with a catalogue code, safe to show to staff and API clients."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        meta: dict[str, Any] | None = None,
        retry_after: float | None = None,
        provider_request_id: str = "",
    ) -> None:
        self.code = code
        self.message = message or code.message
        self.errors = errors or []
        self.meta = meta or {}
        self.retry_after = retry_after
        self.provider_request_id = provider_request_id
        super().__init__(self.message)

    def as_envelope(self) -> dict[str, Any]:
        """The API's error body."""
        return {
            "status": self.code.http_status.name,
            "code": self.code.code,
            "message": self.message,
            "meta": self.meta,
            "errors": [{"detail": e.detail, "pointer": e.pointer} for e in self.errors],
        }


_PROVIDER_ERRORS: list[tuple[type[perr.ProviderError], ErrorCode]] = [
    (perr.ProviderNotConfigured, ErrorCode.PROVIDER_NOT_CONFIGURED),
    (perr.ProviderUnsupported, ErrorCode.UNSUPPORTED_BY_PROVIDER),
    (perr.ProviderRateLimited, ErrorCode.PROVIDER_RATE_LIMITED),
    (perr.ProviderNotFound, ErrorCode.PROVIDER_NOT_FOUND),
    (perr.ProviderConflict, ErrorCode.PROVIDER_CONFLICT),
    (perr.ProviderRejected, ErrorCode.PROVIDER_REJECTED),
    (perr.ProviderAuthError, ErrorCode.PROVIDER_AUTH_FAILED),
    (perr.ProviderUnreadable, ErrorCode.PROVIDER_UNREADABLE),
    (perr.ProviderUnavailable, ErrorCode.PROVIDER_UNAVAILABLE),
]


def from_provider_error(exc: perr.ProviderError, provider: str) -> KarmoError:
    """The Karmo error for a provider failure, keeping the provider's message and request id."""
    code = next(
        (code for cls, code in _PROVIDER_ERRORS if isinstance(exc, cls)),
        ErrorCode.PROVIDER_UNAVAILABLE,
    )
    if isinstance(exc, perr.ProviderAPIError) and exc.code in PROVIDER_CODE_OVERRIDES:
        code = PROVIDER_CODE_OVERRIDES[exc.code]
    meta: dict[str, Any] = {"provider": provider}
    if exc.request_id:
        meta["providerRequestId"] = exc.request_id
    if isinstance(exc, perr.ProviderAPIError) and exc.code:
        meta["providerCode"] = exc.code
    retry_after = exc.retry_after if isinstance(exc, perr.ProviderRateLimited) else None
    return KarmoError(
        code,
        f"{code.message} ({exc.message})" if exc.message else None,
        meta=meta,
        retry_after=retry_after,
        provider_request_id=exc.request_id,
    )


PROVIDER_CODE_OVERRIDES: dict[str, ErrorCode] = {
    "cannot_reactivate_pending_organization_membership": ErrorCode.PENDING_CANNOT_REACTIVATE,
}
