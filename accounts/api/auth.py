"""Bearer tokens: hashed lookup, expiry, revocation, and the permissions of the token's user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from accounts.context import audit_context
from accounts.errors import ErrorCode, KarmoError
from accounts.models import ApiToken, Channel
from accounts.tokens import hash_token

LAST_USED_RESOLUTION = timedelta(minutes=1)


class BearerAuth(HttpBearer):
    """`Authorization: Bearer <token>` for a staff user's API token."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken:
        """The token, or a 401 saying whether it is unknown, expired or revoked."""
        api_token = (
            ApiToken.objects.select_related("user").filter(token_hash=hash_token(token)).first()
        )
        if api_token is None or not (api_token.user.is_active and api_token.user.is_staff):
            raise KarmoError(ErrorCode.INVALID_TOKEN)
        if not api_token.is_usable:
            raise KarmoError(ErrorCode.TOKEN_EXPIRED)
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
            # At most one write a minute per token, whatever the request rate.
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            api_token.last_used_at = now
        return api_token


def require(request: HttpRequest, *permissions: str) -> None:
    """Refuse with 403 unless the token's user holds every permission."""
    if not request.auth.user.has_perms(permissions):  # type: ignore[attr-defined]
        raise KarmoError(ErrorCode.PERMISSION_DENIED)


def in_token_context(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run an operation with the token's id and the API channel in the audit context."""

    @wraps(func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        token = getattr(request, "auth", None)
        with audit_context(via=Channel.API, token_id=getattr(token, "pk", None)):
            return func(request, *args, **kwargs)

    return wrapper
