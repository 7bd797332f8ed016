"""Middleware that fills the audit context for each request."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from accounts.context import audit_context
from accounts.models.audit import Channel

# What a caller's X-Request-ID may be; anything else (control characters, bidi overrides,
# markup, overlong) is replaced, since the id is echoed in a header and kept in the audit log.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it has the safe format, else a fresh one."""
    given = request.headers.get("X-Request-ID", "")
    return given if SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _channel(path: str) -> str:
    if path.startswith("/api/"):
        return Channel.API
    if path.startswith("/admin/"):
        return Channel.ADMIN
    if path.startswith("/webhooks/"):
        return Channel.WEBHOOK
    return Channel.CONSOLE


class AuditContextMiddleware:
    """Record channel, client address, user agent and a request id for audit events."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        with audit_context(
            via=_channel(request.path),
            client_ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", "")[:255],
            request_id=request_id,
        ):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class NoStoreMiddleware:
    """HTML pages are never stored: Back must not bring up a stale form that can be re-sent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        is_html = response.get("Content-Type", "").startswith("text/html")
        if is_html and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
