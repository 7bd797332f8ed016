"""What every console view shares: sign-in and permission guards, partial rendering, errors."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from accounts.audit import record_event
from accounts.context_processors import provider_keys
from accounts.errors import ErrorCode, KarmoError
from accounts.models import Outcome

View = Callable[..., HttpResponse]

# Error answers carrying this header are fragments that htmx swaps in (see console.js).
FRAGMENT_HEADER = "X-Karmo-Fragment"
_UNREACHABLE = {
    ErrorCode.PROVIDER_UNAVAILABLE,
    ErrorCode.PROVIDER_AUTH_FAILED,
    ErrorCode.PROVIDER_NOT_CONFIGURED,
}


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware."""

    htmx: HtmxDetails


def console_view(view: View) -> View:
    """Staff sign-in required; an expired session under htmx redirects the whole page."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_staff and user.is_active:
            return view(request, *args, **kwargs)
        # A session cookie without a signed-in user: the session expired (or was ended).
        query = {"expired": "1"} if settings.SESSION_COOKIE_NAME in request.COOKIES else {}
        if request.htmx:
            back = request.htmx.current_url_abs_path or request.get_full_path()
            login = resolve_url(settings.LOGIN_URL)
            return HttpResponseClientRedirect(f"{login}?{urlencode({'next': back, **query})}")
        response = redirect_to_login(request.get_full_path())
        if query:
            response["Location"] += "&expired=1"
        return response

    return vary_on_headers("HX-Request")(wrapper)


def permission_or_403(
    perm: str, event_type: str, model: type[Model] | None = None
) -> Callable[[View], View]:
    """Like permission_required(raise_exception=True), and a refused change is audited.

    `model` names what the URL's `pk` points at, so the denial event names its target.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                if request.method == "POST":
                    target = None
                    if model is not None and "pk" in kwargs:
                        target = model._default_manager.filter(pk=kwargs["pk"]).first()
                    record_denial(request, event_type, perm, target=target, data=kwargs)
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def record_denial(
    request: HttpRequest,
    event_type: str,
    perm: str,
    *,
    target: Any = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Audit a change the view refused before any service ran."""
    record_event(
        event_type=event_type,
        outcome=Outcome.DENIED,
        actor=request.user,
        target=target,
        error_code=ErrorCode.PERMISSION_DENIED.code,
        data={"permission": perm, "path": request.path, **(data or {})},
    )


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """htmx asked for part of a page (not a boosted link or a history restore)."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The whole page, or only `partial` when htmx asked for it."""
    if partial and wants_fragment(request):
        template = f"{template}#{partial}"
    return render(request, template, context, status=status)


def form_error(form: Form, code: ErrorCode) -> KarmoError:
    """A form's first error as a Karmo error, so every path reports it the same way."""
    for errors in form.errors.values():
        return KarmoError(code, str(errors[0]))
    return KarmoError(code)


def note_provider_error(error: KarmoError) -> None:
    """Remember an unreachable provider so the header can say so for a while."""
    if error.code in _UNREACHABLE:
        cache.set(
            provider_keys()[1],
            {"reason": error.message, "at": timezone.now().isoformat()},
            timeout=600,
        )


def note_provider_ok() -> None:
    """Forget an earlier provider failure after a call succeeded."""
    cache.delete(provider_keys()[1])


def finish_action(
    request: HtmxHttpRequest,
    *,
    redirect_to: str,
    template: str,
    partial: str,
    context: dict[str, Any],
    error: KarmoError | None = None,
    notice: str = "",
) -> HttpResponse:
    """After a POST: re-render the changed fragment under htmx, otherwise redirect (PRG)."""
    if request.htmx:
        context = {**context, "error": error, "notice": "" if error else notice}
        status = error.code.http_status if error else 200
        response = page(request, template, context, partial=partial, status=status)
        response[FRAGMENT_HEADER] = "1"
        return response
    if error:
        messages.error(request, f"{error.message} ({error.code.code})")
    elif notice:
        messages.success(request, notice)
    return redirect(redirect_to)
