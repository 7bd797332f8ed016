"""What every console action shares: run one change, then answer with the changed fragment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.forms import Form
from django.http import HttpResponse
from django_htmx.http import trigger_client_event

from accounts.errors import ErrorCode, KarmoError
from accounts.views.base import (
    HtmxHttpRequest,
    finish_action,
    form_error,
    note_provider_error,
    note_provider_ok,
)

# Client events: the page's parts listening for them reload (see the templates).
CHANGED_EVENT = "karmo:changed"
BADGE_EVENT = "karmo:badge"
PROVIDER_OK_EVENT = "karmo:provider-ok"


def attempt[T](run: Callable[[], T]) -> tuple[T | None, KarmoError | None]:
    """Run one change; the result, or the error, and remember whether the provider answered."""
    try:
        result = run()
    except KarmoError as exc:
        note_provider_error(exc)
        return None, exc
    note_provider_ok()
    return result, None


def attempt_form[T](
    form: Form, code: ErrorCode, run: Callable[[dict[str, Any]], T]
) -> tuple[T | None, KarmoError | None]:
    """Like attempt(), with the form's cleaned data; an invalid form is reported as `code`."""
    if not form.is_valid():
        return None, form_error(form, code)
    return attempt(lambda: run(form.cleaned_data))


VERIFICATION_NOTICE = (
    "The provider accepted the change, but reading it back does not show it; "
    "see Verification failures."
)


def wants_preview(request: HtmxHttpRequest) -> bool:
    """Whether the form's "Preview" button (not "Confirm") was pressed."""
    return request.POST.get("preview") == "1"


def changed_notice(done: str, unchanged: str) -> Callable[[Any], str]:
    """The notice for a service's Change: `done`, or `unchanged` when nothing needed doing."""

    def notice(change: Any) -> str:
        if getattr(change, "verification_failed", False):
            return VERIFICATION_NOTICE
        return done if getattr(change, "changed", True) else unchanged

    return notice


def request_notice(reactivation: Any) -> str:
    """The notice after asking a manager for a reactivation."""
    return f"Request #{reactivation.pk} sent to the managers."


def respond(
    request: HtmxHttpRequest,
    *,
    redirect_to: str,
    template: str,
    partial: str,
    context: dict[str, Any],
    error: KarmoError | None,
    notice: str,
    events: Sequence[str] = (CHANGED_EVENT,),
) -> HttpResponse:
    """finish_action(), and after a success tell the page which of its parts changed."""
    response = finish_action(
        request,
        redirect_to=redirect_to,
        template=template,
        partial=partial,
        context=context,
        error=error,
        notice=notice,
    )
    if error is None and events:
        for event in (*events, PROVIDER_OK_EVENT):
            trigger_client_event(response, event)
    return response
