"""Every non-2xx answer under /api/ as the Karmo error envelope, never an HTML page."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import URLPattern, URLResolver
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from accounts.errors import ErrorCode, FieldError, KarmoError, from_provider_error
from providers.errors import ProviderError

logger = logging.getLogger("karmo.api")

REQUEST_ENDPOINT = "/api/v1/reactivation-requests"

# Field rules with a code of their own; any other invalid field is VALIDATION_FAILED.
FIELD_CODES: dict[str, tuple[ErrorCode, str]] = {
    "/roleSlug": (
        ErrorCode.INVALID_ROLE_SLUG,
        "must start with 'org-' followed by lowercase letters, digits, hyphens or underscores",
    ),
    "/name": (ErrorCode.INVALID_ROLE_NAME, "is required and at most 48 characters"),
}

_STATUS_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.MISSING_TOKEN,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    422: ErrorCode.VALIDATION_FAILED,
    429: ErrorCode.API_RATE_LIMITED,
}


def error_response(error: KarmoError) -> JsonResponse:
    """The envelope for `error`, with Retry-After when the error carries one."""
    response = JsonResponse(error.as_envelope(), status=error.code.http_status)
    if error.retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


def json_pointer(parts: Iterable[Any]) -> str:
    """RFC 6901 pointer for a location such as ("roles", 0)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def validation_error(errors: list[dict[str, Any]]) -> KarmoError:
    """One KarmoError for ninja's validation errors, each located by a JSON pointer."""
    field_errors: list[FieldError] = []
    codes: set[ErrorCode] = set()
    for item in errors:
        loc = list(item.get("loc", ()))
        # ("body", "body", "name") -> /name ; ("path", "roleSlug") -> /roleSlug
        source, rest = (loc[0], loc[1:]) if loc else ("", [])
        if source == "body" and rest[:1] == ["body"]:
            rest = rest[1:]
        pointer = json_pointer(rest)
        code, detail = FIELD_CODES.get(pointer, (ErrorCode.VALIDATION_FAILED, ""))
        codes.add(code)
        message = str(item.get("msg", "is invalid")).removeprefix("Value error, ")
        field_errors.append(FieldError(detail or message, pointer))
    code = codes.pop() if len(codes) == 1 else ErrorCode.VALIDATION_FAILED
    return KarmoError(code, errors=field_errors)


def _with_request_link(error: KarmoError) -> KarmoError:
    if error.code is ErrorCode.APPROVAL_REQUIRED:
        error.meta = {"requestEndpoint": REQUEST_ENDPOINT, "requestMethod": "POST", **error.meta}
    return error


def as_karmo_error(exc: Exception) -> KarmoError:
    """The catalogue error for any exception raised while answering an API request."""
    if isinstance(exc, KarmoError):
        return _with_request_link(exc)
    if isinstance(exc, ProviderError):
        return from_provider_error(exc, settings.KARMO_PROVIDER)
    if isinstance(exc, NinjaValidationError):
        return validation_error(exc.errors)
    if isinstance(exc, Throttled):
        return KarmoError(ErrorCode.API_RATE_LIMITED, retry_after=exc.wait)
    if isinstance(exc, AuthenticationError):
        return KarmoError(ErrorCode.MISSING_TOKEN)
    if isinstance(exc, AuthorizationError | PermissionDenied):
        return KarmoError(ErrorCode.PERMISSION_DENIED)
    if isinstance(exc, HttpError):
        if isinstance(exc.__cause__, KarmoError | RequestDataTooBig):
            return as_karmo_error(exc.__cause__)
        if exc.status_code == HTTPStatus.BAD_REQUEST:
            return KarmoError(ErrorCode.MALFORMED_JSON)
        return KarmoError(_STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST))
    if isinstance(exc, Http404):
        return KarmoError(ErrorCode.NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        return KarmoError(ErrorCode.BODY_TOO_LARGE)
    logger.exception("unexpected error in the API", exc_info=exc)
    return KarmoError(ErrorCode.INTERNAL_ERROR)


def _handle(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(as_karmo_error(exc))


def install_error_handlers(api: NinjaAPI) -> None:
    """Answer every exception ninja sees with the envelope (replacing ninja's own handlers)."""
    for exc_class in (Exception, Http404, HttpError, NinjaValidationError):
        api.add_exception_handler(exc_class, _handle)


def enveloped(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a URL's view so that a bare error (ninja's 405, an escaped exception) is enveloped."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            response = view(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the last line of defence against HTML
            return error_response(as_karmo_error(exc))
        if response.status_code < 400 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        error = KarmoError(_STATUS_CODES.get(response.status_code, ErrorCode.BAD_REQUEST))
        enveloped_response = error_response(error)
        if "Allow" in response:
            enveloped_response["Allow"] = response["Allow"]
        return enveloped_response

    return wrapper


def enveloped_patterns(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """The same URL patterns, each view wrapped by `enveloped`."""
    return [
        URLPattern(p.pattern, enveloped(p.callback), p.default_args, p.name)
        if isinstance(p, URLPattern)
        else p
        for p in patterns
    ]


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any URL under /api/ that names nothing."""
    return error_response(KarmoError(ErrorCode.NOT_FOUND))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's handler400: the envelope under /api/, Django's own page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(KarmoError(ErrorCode.BAD_REQUEST))
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: the envelope under /api/, Django's own page elsewhere."""
    if request.path.startswith("/api/"):
        return error_response(KarmoError(ErrorCode.INTERNAL_ERROR))
    return defaults.server_error(request)
