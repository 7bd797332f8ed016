"""First in the chain: answers the probes, then times and logs every other request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from ops import views
from ops.logs import REQUEST_ID
from ops.metrics import REQUEST_SECONDS, RESPONSES
from ops.routing import replica_allowed, start_replica_reads, stop_replica_reads

logger = logging.getLogger("karmo.requests")

# Answered before host validation and HTTPS redirects, so a load balancer or kubelet probing
# by IP over plain HTTP gets the real answer.
PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
    "/metrics": views.metrics,
}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id(given: str | None) -> str:
    """The caller's X-Request-ID if it is a short plain token, else a new one."""
    return given if given and _SAFE_ID.fullmatch(given) else uuid.uuid4().hex


def _actor(request: HttpRequest) -> str | None:
    token = getattr(request, "auth", None)
    user = getattr(token, "user", None) or getattr(request, "user", None)
    return user.get_username() if user is not None and user.is_authenticated else None


def _view(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name or match._func_path) if match else "unresolved"


class OpsMiddleware:
    """Probes, request ids, latency metrics, one log line per request, replica reads."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        rid = request_id(request.headers.get("X-Request-ID"))
        request.META["HTTP_X_REQUEST_ID"] = rid  # the audit context reads the same id
        token = REQUEST_ID.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            self._observe(request, response, time.perf_counter() - started)
        finally:
            REQUEST_ID.reset(token)
        return response

    def process_view(self, request: HttpRequest, *args: object) -> None:
        if replica_allowed(request):
            request._karmo_replica = start_replica_reads()  # type: ignore[attr-defined]

    def _end_replica_reads(self, request: HttpRequest, response: HttpResponse) -> None:
        token = getattr(request, "_karmo_replica", None)
        if token is None:
            return
        stop_replica_reads(token)
        if isinstance(response, StreamingHttpResponse):
            response.streaming_content = _on_replica(response.streaming_content)

    def _observe(self, request: HttpRequest, response: HttpResponse, seconds: float) -> None:
        self._end_replica_reads(request, response)
        view = _view(request)
        method = request.method if request.method in METHODS else "OTHER"
        REQUEST_SECONDS.labels(view, method).observe(seconds)
        RESPONSES.labels(view, method, str(response.status_code)).inc()
        logger.info(
            "request %s %s %s in %.1f ms",
            method,
            request.path,
            response.status_code,
            seconds * 1000,
            extra={
                "method": method,
                "path": request.path,
                "view": view,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "actor": _actor(request),
            },
        )


def _on_replica(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # A streamed export is read while the server sends it, after the view returned.
    iterator = iter(chunks)
    while True:
        token = start_replica_reads()
        try:
            chunk = next(iterator, None)
        finally:
            stop_replica_reads(token)
        if chunk is None:
            return
        yield chunk
