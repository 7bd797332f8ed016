"""Issuing and revoking API tokens: the raw token is returned once; only its hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from accounts.audit import record_event
from accounts.models import ApiToken, Outcome

PREFIX_LENGTH = 8


def hash_token(raw: str) -> str:
    """The stored form of a raw token (hex SHA-256)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _state(token: ApiToken) -> dict[str, str | None]:
    return {
        "name": token.name,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def issue_token(
    user: AbstractBaseUser,
    name: str,
    expires_at: datetime | None = None,
    *,
    actor: AbstractBaseUser | AnonymousUser | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user` (audited); returns it with the raw value, which is not stored."""
    raw = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[:PREFIX_LENGTH],
            token_hash=hash_token(raw),
            expires_at=expires_at,
        )
        record_event(
            event_type="api_token.issued",
            outcome=Outcome.SUCCEEDED,
            actor=actor,
            target=token,
            after=_state(token),
        )
    return token, raw


def revoke_token(token: ApiToken, *, actor: AbstractBaseUser | AnonymousUser | None = None) -> bool:
    """Revoke a token now (audited); False when it was already revoked."""
    with transaction.atomic():
        now = timezone.now()
        if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
            return False
        before = _state(token)
        token.revoked_at = now
        record_event(
            event_type="api_token.revoked",
            outcome=Outcome.SUCCEEDED,
            actor=actor,
            target=token,
            before=before,
            after=_state(token),
        )
    return True
