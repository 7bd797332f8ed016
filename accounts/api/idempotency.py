"""Idempotency-Key on writes: the first answer is kept for 24 hours and replayed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone

from accounts.errors import ErrorCode, KarmoError
from accounts.models import ApiToken, IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_LIFETIME = timedelta(hours=24)
# An unsettled key older than this belongs to a request that died; it may be claimed again.
ABANDONED_AFTER = timedelta(minutes=5)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEPT_HEADERS = ("Content-Type", "Retry-After")

OPENAPI_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": "Send the same key to retry a write safely: a repeat with the same body "
    "replays the first answer for 24 hours; the same key with another body is refused (409).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= 255 and key.isascii() and key.isprintable()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(json.dumps(record.response_body), status=record.status_code)
    for name, value in record.response_headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def claim(
    token: ApiToken, key: str, fingerprint: tuple[str, str, str]
) -> IdempotencyRecord | HttpResponse:
    """A new record for this key, or the replay of the answer already recorded for it."""
    method, path, body_hash = fingerprint
    now = timezone.now()
    IdempotencyRecord.objects.filter(created_at__lt=now - KEY_LIFETIME).delete()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    token=token, key=key, method=method, path=path, body_hash=body_hash
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(token=token, key=key).first()
        if existing is None:
            continue
        unsettled = existing.status_code is None
        if unsettled and existing.created_at < now - ABANDONED_AFTER:
            IdempotencyRecord.objects.filter(pk=existing.pk, status_code__isnull=True).delete()
            continue
        if (existing.method, existing.path, existing.body_hash) != fingerprint:
            raise KarmoError(ErrorCode.IDEMPOTENCY_KEY_REUSED)
        if unsettled:
            raise KarmoError(ErrorCode.IDEMPOTENCY_IN_PROGRESS, retry_after=1)
        return _replay(existing)
    raise KarmoError(ErrorCode.IDEMPOTENCY_IN_PROGRESS, retry_after=1)


def settle(record: IdempotencyRecord, response: HttpResponseBase) -> None:
    """Keep the answer, unless it is worth retrying (429, 5xx): then forget the key."""
    status = response.status_code
    if status == 429 or status >= 500 or not isinstance(response, HttpResponse):
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    record.status_code = status
    record.response_body = json.loads(response.content) if response.content else None
    record.response_headers = {h: response[h] for h in KEPT_HEADERS if h in response}
    record.save(update_fields=["status_code", "response_body", "response_headers"])


def idempotent(func: Callable[..., Any]) -> Callable[..., Any]:
    """Operation decorator: claim the key before the write runs, or replay its first answer."""

    @wraps(func)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None or request.method not in WRITE_METHODS:
            return func(request, *args, **kwargs)
        if not _valid_key(key):
            raise KarmoError(ErrorCode.INVALID_IDEMPOTENCY_KEY)
        fingerprint = (
            request.method,
            request.path,
            hashlib.sha256(request.body).hexdigest(),
        )
        claimed = claim(request.auth, key, fingerprint)  # type: ignore[attr-defined]
        if isinstance(claimed, HttpResponse):
            return claimed
        request.karmo_idempotency = claimed  # type: ignore[attr-defined]
        return func(request, *args, **kwargs)

    return wrapper


def remember_answer(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """View decorator: store the final answer (after error handling) for a claimed key."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = run(request, *args, **kwargs)
        record = getattr(request, "karmo_idempotency", None)
        if record is not None:
            settle(record, response)
        return response

    return wrapper
