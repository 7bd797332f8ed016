"""Reading the API's `until` / `duration` pair into one end of access."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_duration

from accounts.api.schemas import TimeLimitIn, TimeLimitQuery
from accounts.errors import ErrorCode, FieldError, KarmoError


def time_limit(body: TimeLimitIn | TimeLimitQuery) -> datetime | None:
    """The end of access the body asks for (None for none); the service checks its range."""
    if body.until is not None and body.duration is not None:
        raise KarmoError(
            ErrorCode.INVALID_TIME_LIMIT,
            "Give either an end of access or a duration, not both.",
            errors=[FieldError("give either until or duration", "/duration")],
        )
    if body.duration is not None:
        return timezone.now() + duration_of(body.duration)
    if body.until is not None:
        return body.until
    return None


def duration_of(text: str) -> timedelta:
    """An ISO 8601 duration the schema's pattern admitted, as a timedelta."""
    value = parse_duration(text)
    if value is None:
        raise KarmoError(
            ErrorCode.INVALID_TIME_LIMIT, errors=[FieldError("is not a duration", "/duration")]
        )
    return value
