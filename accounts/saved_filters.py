"""Saved filters: a staff member's named views of the audit log and Find, and what they show.

A saved filter is only a query string, cleaned to the page's own filter fields; opening it
goes through the same scoped view as typing the filters, so it can never show more.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils.http import urlencode

from accounts.audit import record_event
from accounts.errors import ErrorCode, KarmoError
from accounts.forms import AuditFilterForm
from accounts.models import Outcome, SavedFilter

PAGE_FIELDS = {
    SavedFilter.Page.AUDIT: tuple(AuditFilterForm.base_fields),
    SavedFilter.Page.FIND: ("q",),
}
PAGE_URLS = {SavedFilter.Page.AUDIT: "console:audit", SavedFilter.Page.FIND: "console:find"}
MAX_PER_PAGE = 50


def clean_query(page: str, raw: str) -> str:
    """`raw` reduced to the page's filter fields with a value (no paging cursor), re-encoded."""
    given = QueryDict(raw.lstrip("?"))
    return urlencode([(key, given[key]) for key in PAGE_FIELDS[page] if given.get(key, "").strip()])


def page_url(saved: SavedFilter) -> str:
    """The page with the saved filters applied: the same URL the filters make when typed."""
    base = reverse(PAGE_URLS[saved.page])
    return f"{base}?{saved.query}" if saved.query else base


def saved_for(user: Any, page: str) -> list[SavedFilter]:
    """The user's own saved filters for one page, by name."""
    return list(SavedFilter.objects.filter(user=user, page=page).order_by("name"))


def save(*, actor: Any, page: str, name: str, query: str) -> SavedFilter:
    """Create or overwrite the actor's filter of that name; audited."""
    if page not in PAGE_FIELDS:
        raise KarmoError(
            ErrorCode.VALIDATION_FAILED, "Filters can be saved for the audit log or Find."
        )
    name = " ".join(name.split())[:80]
    if not name:
        raise KarmoError(ErrorCode.VALIDATION_FAILED, "Give the filter a name.")
    query = clean_query(page, query)
    with transaction.atomic():
        saved = (
            SavedFilter.objects.select_for_update().filter(user=actor, page=page, name=name).first()
        )
        before = {"query": saved.query} if saved else None
        if saved is None:
            if SavedFilter.objects.filter(user=actor, page=page).count() >= MAX_PER_PAGE:
                raise KarmoError(
                    ErrorCode.VALIDATION_FAILED,
                    f"You have {MAX_PER_PAGE} saved filters here; delete one first.",
                )
            try:
                with transaction.atomic():
                    saved = SavedFilter.objects.create(
                        user=actor, page=page, name=name, query=query
                    )
            except IntegrityError as exc:  # the same name saved at the same moment elsewhere
                raise KarmoError(
                    ErrorCode.STATE_CONFLICT, "A filter of that name was just saved."
                ) from exc
        else:
            saved.query = query
            saved.save(update_fields=["query", "updated_at"])
        record_event(
            event_type="filter.saved",
            outcome=Outcome.SUCCEEDED,
            actor=actor,
            target=saved,
            before=before,
            after={"page": page, "name": name, "query": query},
        )
    return saved


def delete(*, actor: Any, pk: int) -> SavedFilter:
    """Delete one of the actor's own filters (someone else's is not found); audited."""
    with transaction.atomic():
        saved = SavedFilter.objects.select_for_update().filter(user=actor, pk=pk).first()
        if saved is None:
            raise KarmoError(ErrorCode.NOT_FOUND, "That saved filter does not exist.")
        record_event(
            event_type="filter.deleted",
            outcome=Outcome.SUCCEEDED,
            actor=actor,
            target=saved,
            before={"page": saved.page, "name": saved.name, "query": saved.query},
        )
        saved.delete()
    return saved
