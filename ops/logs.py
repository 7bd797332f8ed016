"""Request ids for log lines, JSON formatting and scrubbing of secrets."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str] = ContextVar("karmo_request_id", default="")
_BEARER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
SECRET_SETTINGS = (
    "SECRET_KEY",
    "WORKOS_API_KEY",
    "STYTCH_SECRET",
    "ZITADEL_TOKEN",
    "KARMO_METRICS_TOKEN",
)


class RequestIdFilter(logging.Filter):
    """Give every record the id of the request (or task) it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get()
        return True


def scrub(text: str) -> str:
    """The text without credentials: Authorization values and configured secrets."""
    text = _BEARER.sub(r"\1 [redacted]", text)
    for name in SECRET_SETTINGS:
        secret = getattr(settings, name, "")
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return text


class KarmoJsonFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class KarmoTextFormatter(logging.Formatter):
    """The plain format, scrubbed the same way."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))
