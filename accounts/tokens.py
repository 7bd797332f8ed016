"""Issuing API tokens: the raw token is returned once; only its SHA-256 hash is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import ApiToken

PREFIX_LENGTH = 8


def hash_token(raw: str) -> str:
    """The stored form of a raw token (hex SHA-256)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(
    user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns it with the raw value, which is never stored."""
    raw = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        token_hash=hash_token(raw),
        expires_at=expires_at,
    )
    return token, raw
