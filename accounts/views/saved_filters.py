"""Saving and deleting one's own named filters on the audit log and Find."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import saved_filters
from accounts.models import SavedFilter
from accounts.views.actions import attempt
from accounts.views.base import HtmxHttpRequest, console_view, finish_action

TEMPLATE = "components/saved_filters.html"


def panel_context(user: Any, page: str, query: str) -> dict[str, Any]:
    """What the saved-filters panel shows: the user's filters and the current query."""
    return {
        "saved_page": page,
        "saved_query": saved_filters.clean_query(page, query),
        "saved_list": [
            (saved, saved_filters.page_url(saved)) for saved in saved_filters.saved_for(user, page)
        ],
    }


def _answer(
    request: HtmxHttpRequest, page: str, query: str, error: Any, notice: str
) -> HttpResponse:
    if page not in saved_filters.PAGE_URLS:
        return HttpResponseBadRequest(
            "Filters can be saved for the audit log or Find.", content_type="text/plain"
        )
    back = reverse(saved_filters.PAGE_URLS[page])
    back = f"{back}?{saved_filters.clean_query(page, query)}".rstrip("?")
    return finish_action(
        request,
        redirect_to=back,
        template=TEMPLATE,
        partial="panel",
        context=panel_context(request.user, page, query),
        error=error,
        notice=notice,
    )


@require_POST
@console_view
def saved_filter_save(request: HtmxHttpRequest) -> HttpResponse:
    """Save the filters on screen under a name (the same name overwrites)."""
    page = request.POST.get("page", "")
    query = request.POST.get("query", "")
    name = request.POST.get("name", "")
    saved, error = attempt(
        lambda: saved_filters.save(actor=request.user, page=page, name=name, query=query)
    )
    notice = f"Saved as “{saved.name}”." if saved else ""
    return _answer(request, page, query, error, notice)


@require_POST
@console_view
def saved_filter_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Delete one of one's own saved filters."""
    page = request.POST.get("page", SavedFilter.Page.AUDIT)
    query = request.POST.get("query", "")
    deleted, error = attempt(lambda: saved_filters.delete(actor=request.user, pk=pk))
    notice = f"Deleted “{deleted.name}”." if deleted else ""
    return _answer(request, page, query, error, notice)
