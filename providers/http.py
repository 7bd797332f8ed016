"""The one httpx wrapper every adapter composes: timeouts, retries, error mapping."""

from __future__ import annotations

import email.utils
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import stamina

from providers.budget import Budget
from providers.errors import (
    ProviderAPIError,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
    ProviderUnreadable,
    error_for_status,
)
from providers.observe import count_retry

logger = logging.getLogger("karmo.providers.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})

ErrorParser = Callable[[httpx.Response, Any], ProviderAPIError]


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful provider response: decoded JSON, status and request id."""

    data: Any
    status_code: int
    request_id: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures."""

    max_retries: int = 3
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 0.5
    retry_after_cap: float = 30.0
    # With a Budget, 429s pause every thread and are retried this often, apart from the above.
    rate_limited_retries: int = 10


class _Transient(ProviderUnavailable):
    """A failure worth retrying; `sent` says whether the request may have reached the provider."""

    def __init__(self, message: str, *, sent: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.sent = sent


def parse_retry_after(value: str | None, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP-date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, cap))


def default_error_parser(response: httpx.Response, body: Any) -> ProviderAPIError:
    """Map a generic `{"code", "message"}` error body to a ProviderAPIError."""
    body_dict = body if isinstance(body, dict) else {}
    message = str(body_dict.get("message") or response.reason_phrase or "provider error")
    return error_for_status(response.status_code)(
        message,
        status_code=response.status_code,
        code=str(body_dict.get("code", "")),
        request_id=response.headers.get("x-request-id", ""),
        body=body,
    )


class ProviderHTTP:
    """A shared httpx.Client for one provider, with retries and error mapping."""

    def __init__(
        self,
        *,
        base_url: str,
        provider: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        error_parser: ErrorParser = default_error_parser,
        request_id_header: str = "x-request-id",
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
        connections: int = 20,
    ) -> None:
        self.provider = provider
        self.budget = budget
        self.retry = retry or RetryPolicy()
        self.error_parser = error_parser
        self.request_id_header = request_id_header
        self._digesting = threading.Lock()
        self.client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            # One pool shared by the sync's readers: connections are kept alive and reused.
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            transport=transport,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        digest: Callable[[Any], Any] | None = None,
    ) -> Answer:
        """Send one call, retrying transient failures the call can safely repeat.

        `digest` turns a successful answer's JSON into what `data` holds (a page's records),
        one answer at a time across threads: under the GIL, readers decoding at once gain
        no speed, and each would hold its page's whole JSON tree meanwhile. It must not call
        the provider itself.
        """
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        # A policy of no retries (max_retries=0) means none for 429s either.
        pauses = self.retry.rate_limited_retries if self.retry.max_retries else 0
        for _ in range(pauses):
            try:
                return self._with_retries(method, path, params, json, headers, safe, digest)
            except ProviderRateLimited as exc:
                if self.budget is None:
                    raise
                count_retry(self.provider, rate_limited=True)
                # Every thread waits: the provider counts this credential, not this thread.
                self.budget.pause(1.0 if exc.retry_after is None else exc.retry_after)
        return self._with_retries(method, path, params, json, headers, safe, digest)

    def _with_retries(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        safe: bool,
        digest: Callable[[Any], Any] | None,
    ) -> Answer:
        try:
            for attempt in stamina.retry_context(
                on=self._backoff_hook(safe),
                attempts=self.retry.max_retries + 1,
                timeout=None,
                wait_initial=self.retry.wait_initial,
                wait_max=self.retry.wait_max,
                wait_jitter=self.retry.wait_jitter,
            ):
                with attempt:
                    return self._send_once(method, path, params, json, headers, digest)
        except _Transient as exc:
            # Callers see the public class; the retry marker stays internal.
            raise ProviderUnavailable(
                exc.message,
                status_code=exc.status_code,
                code=exc.code,
                request_id=exc.request_id,
                body=exc.body,
            ) from exc
        raise AssertionError("unreachable: retry_context always returns or raises")

    def _backoff_hook(self, safe: bool) -> Callable[[Exception], bool | float]:
        def hook(exc: Exception) -> bool | float:
            retry: bool | float = False
            if isinstance(exc, ProviderRateLimited):
                if self.budget is not None:
                    return False  # request() pauses the budget for every thread
                retry = True if exc.retry_after is None else exc.retry_after
            elif isinstance(exc, _Transient):
                retry = safe or not exc.sent
            if retry is not False:
                count_retry(self.provider, rate_limited=isinstance(exc, ProviderRateLimited))
                logger.debug("retrying %s call: %s", self.provider, exc)
            return retry

        return hook

    def _send_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        digest: Callable[[Any], Any] | None,
    ) -> Answer:
        if self.budget is not None:
            self.budget.acquire()
        try:
            response = self.client.request(method, path, params=params, json=json, headers=headers)
        except httpx.ConnectError as exc:
            raise _Transient(f"cannot connect to {self.provider}", sent=False) from exc
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
            raise _Transient(f"{self.provider} timed out", sent=sent) from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection to {self.provider} failed: {exc}", sent=True) from exc
        request_id = response.headers.get(self.request_id_header, "")
        if response.is_success and digest is not None:
            with self._digesting:
                body = digest(self._decode(response, request_id))
        else:
            body = self._decode(response, request_id)
        # httpx's response and its stream refer to each other, so a read response and its
        # body (up to a megabyte a page) would wait for the cyclic collector: cut the loop.
        response.stream = httpx.ByteStream(b"")
        if response.is_success:
            return Answer(data=body, status_code=response.status_code, request_id=request_id)
        error = self.error_parser(response, body)
        if not error.request_id:
            error.request_id = request_id
        if isinstance(error, ProviderRateLimited):
            error.retry_after = parse_retry_after(
                response.headers.get("retry-after"), self.retry.retry_after_cap
            )
        elif response.status_code in RETRYABLE_STATUSES:
            raise _Transient(
                error.message,
                sent=True,
                status_code=error.status_code,
                code=error.code,
                request_id=error.request_id,
                body=error.body,
            ) from error
        raise error

    def _decode(self, response: httpx.Response, request_id: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            if response.is_success:
                raise ProviderUnreadable(
                    f"{self.provider} sent a response that is not JSON",
                    status_code=response.status_code,
                    request_id=request_id,
                ) from exc
            return response.text


__all__ = [
    "Answer",
    "ProviderError",
    "ProviderHTTP",
    "RetryPolicy",
    "default_error_parser",
    "parse_retry_after",
]
