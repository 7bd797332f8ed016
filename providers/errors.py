"""One exception tree for everything a provider can answer with."""

from __future__ import annotations

from typing import Any


class ProviderError(Exception):
    """Base of every provider failure."""

    def __init__(self, message: str, *, request_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class ProviderNotConfigured(ProviderError):
    """The chosen provider lacks its credentials in this environment."""


class ProviderUnsupported(ProviderError):
    """The provider has no such operation."""


class ProviderAPIError(ProviderError):
    """The provider answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 0,
        code: str = "",
        request_id: str = "",
        body: Any = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.code = code
        self.body = body


class ProviderRejected(ProviderAPIError):
    """400/422: the request was invalid for the provider."""


class ProviderAuthError(ProviderAPIError):
    """401/403: our credentials were refused."""


class ProviderNotFound(ProviderAPIError):
    """404: no such object at the provider."""


class ProviderConflict(ProviderAPIError):
    """409 or a failed precondition: the object's state forbids the change."""


class ProviderRateLimited(ProviderAPIError):
    """429: the provider asks us to slow down."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderFeedExpired(ProviderError):
    """The change feed no longer holds our cursor (retention passed): only a full sync helps."""


class ProviderUnavailable(ProviderAPIError):
    """5xx, a timeout or a dropped connection; also, as ProviderUnreadable, an answer that
    cannot be read."""


class ProviderUnreadable(ProviderUnavailable):
    """A successful answer Karmo cannot read: not JSON, or an object missing a field or with
    a field of another type. Asking again would get the same answer."""


STATUS_TO_ERROR: dict[int, type[ProviderAPIError]] = {
    400: ProviderRejected,
    401: ProviderAuthError,
    403: ProviderAuthError,
    404: ProviderNotFound,
    409: ProviderConflict,
    412: ProviderConflict,
    422: ProviderRejected,
    429: ProviderRateLimited,
}


def error_for_status(status_code: int) -> type[ProviderAPIError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return ProviderUnavailable
    return STATUS_TO_ERROR.get(status_code, ProviderRejected)
