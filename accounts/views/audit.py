"""The audit log: filters, keyset pages, event detail, streamed exports, chain verification."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from accounts import event_text, selectors
from accounts.audit import last_verification
from accounts.audit_verify import verify_and_remember
from accounts.forms import EVENT_TYPES, AuditFilterForm
from accounts.models import AuditEvent, Organization, ProviderUser
from accounts.permissions import EXPORT_AUDIT, VERIFY_AUDIT, VIEW_AUDIT
from accounts.scopes import scoped
from accounts.views.base import (
    FRAGMENT_HEADER,
    HtmxHttpRequest,
    console_view,
    page,
    permission_or_403,
)
from accounts.views.evidence import checkpoint_shown

TEMPLATE = "console/audit.html"
EXPORT_FIELDS = (
    "sequence",
    "occurred_at",
    "event_type",
    "outcome",
    "actor_repr",
    "via",
    "target_type",
    "target_id",
    "target_repr",
    "organization_external_id",
    "user_external_id",
    "reason",
    "error_code",
    "provider_request_id",
    "correlation_id",
    "request_id",
    "client_ip",
    "before",
    "after",
    "data",
    "hash",
)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
_JSON_FIELDS = {"before", "after", "data"}
EXPORT_CHUNK = 2000


def verification_shown() -> dict[str, Any] | None:
    """The latest chain verification (command or console), with its time as a datetime."""
    found = last_verification()
    if not found:
        return None
    return {**found, "at": parse_datetime(found["at"]) if found.get("at") else None}


def _cursor(request: HtmxHttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


@require_GET
@console_view
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    """Filtered events, 50 at a time, newest first."""
    form = AuditFilterForm(request.GET)
    context: dict[str, Any] = {
        "form": form,
        "verification": verification_shown(),
        "checkpoint": checkpoint_shown(),
        "event_types": EVENT_TYPES,
        "organizations": selectors.organization_names(request.user),
    }
    if not form.is_valid():
        # Say what is wrong instead of quietly showing every event (or none).
        response = page(request, TEMPLATE, context, partial="results", status=400)
        response[FRAGMENT_HEADER] = "1"
        return response
    found = selectors.audit_page(form.filters(), request.user, before=_cursor(request))
    query = {k: v for k, v in request.GET.items() if k in form.fields and v}
    context |= {
        "page": found,
        "query": urlencode(query),
        "next_query": urlencode({**query, "before": found.next_cursor or ""}),
        "first_page": _cursor(request) is None,
    }
    return page(request, TEMPLATE, context, partial="results")


@require_GET
@console_view
@permission_required(VIEW_AUDIT, raise_exception=True)
def audit_event(request: HtmxHttpRequest, sequence: int) -> HttpResponse:
    """One event, with its before and after side by side."""
    visible = scoped(request.user, AuditEvent.objects)
    event = get_object_or_404(visible, sequence=sequence)
    fallback = event_text.current_names([event])
    older = visible.filter(sequence__lt=sequence).order_by("-sequence")
    newer = visible.filter(sequence__gt=sequence).order_by("sequence")
    context = {
        "event": event,
        "changes": diff_rows(event.before, event.after),
        "person": _linked(ProviderUser, event.user_external_id, request.user),
        "organization": _linked(Organization, event.organization_external_id, request.user),
        "previous": older.values_list("sequence", flat=True).first(),
        "next": newer.values_list("sequence", flat=True).first(),
        "names": event_text.names(event, fallback),
        "sentence": event_text.sentence(event, fallback),
        "before": _pretty(event.before),
        "after": _pretty(event.after),
        "data": _pretty(event.data),
    }
    return page(request, "console/audit_event.html", context)


def _linked(model: type[Any], external_id: str, viewer: Any) -> Any:
    """Today's row with that provider id, if the viewer may open it (for a link)."""
    if not external_id:
        return None
    return scoped(viewer, model.objects.only("pk")).filter(external_id=external_id).first()


def diff_rows(before: Any, after: Any) -> list[dict[str, Any]]:
    """One row per field of before/after: its old and new value, and whether it changed."""
    if isinstance(before, dict) and after is None:
        after = {}
    if isinstance(after, dict) and before is None:
        before = {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        if before is None and after is None:
            return []
        return [
            {
                "field": "value",
                "before": "" if before is None else _plain(before),
                "after": "" if after is None else _plain(after),
                "changed": before != after,
            }
        ]
    missing = object()
    rows = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, missing), after.get(name, missing)
        rows.append(
            {
                "field": name,
                "before": "" if old is missing else _plain(old),
                "after": "" if new is missing else _plain(new),
                "changed": old != new,
            }
        )
    return rows


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _pretty(value: Any) -> str:
    return "" if value in (None, {}, []) else json.dumps(value, indent=2, sort_keys=True)


def escape_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if _looks_like_formula(text) else text


def _looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read the cell as a formula.

    Checked after NFKC (full-width `＝` is `=`) and past leading spaces and invisible format
    characters (word joiner, zero-width space, BOM), which spreadsheets skip or fold.
    """
    folded = unicodedata.normalize("NFKC", text)
    start = 0
    while start < len(folded) and (
        folded[start] == " " or unicodedata.category(folded[start]) == "Cf"
    ):
        start += 1
    return folded[start:].startswith(_FORMULA_PREFIXES)


class _Echo:
    """A write-only buffer that hands each line straight back to the caller."""

    def write(self, value: str) -> str:
        return value


def _export(request: HtmxHttpRequest, extension: str, content_type: str, lines: Any) -> Any:
    """The events the same filters show on screen, streamed; bad filters are refused."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponseBadRequest(
            f"These filters are not valid, so nothing was exported: {problems}",
            content_type="text/plain; charset=utf-8",
        )
    events = selectors.audit_events(form.filters(), request.user).only(*EXPORT_FIELDS)
    response = StreamingHttpResponse(
        lines(events.iterator(chunk_size=EXPORT_CHUNK)), content_type=content_type
    )
    name = _filename(form.cleaned_data, extension)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def csv_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """The header, then one escaped CSV line per event."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for event in events:
        yield writer.writerow([escape_cell(getattr(event, f)) for f in EXPORT_FIELDS])


def jsonl_lines(events: Iterable[AuditEvent]) -> Iterator[str]:
    """One JSON object per line and event."""
    for event in events:
        row = {f: getattr(event, f) for f in EXPORT_FIELDS}
        row["occurred_at"] = event.occurred_at.isoformat()
        yield json.dumps(row, sort_keys=True, default=str) + "\n"


def _filename(filters: dict[str, Any], extension: str) -> str:
    """The file name says which filters made it, e.g. karmo-audit-action-request-any-…csv."""
    parts = [
        f"{name}-{slugify(str(value).replace('*', '-any'))}"
        for name, value in filters.items()
        if value
    ]
    named = "-".join(["karmo-audit", *parts])[:120].rstrip("-")
    return f"{named}-{timezone.now():%Y%m%dT%H%M%SZ}.{extension}"


@require_GET
@console_view
@permission_required(EXPORT_AUDIT, raise_exception=True)
def export_csv(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered events as CSV, streamed."""
    return _export(request, "csv", "text/csv; charset=utf-8", csv_lines)


@require_GET
@console_view
@permission_required(EXPORT_AUDIT, raise_exception=True)
def export_jsonl(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered events as JSON Lines, streamed."""
    return _export(request, "jsonl", "application/x-ndjson", jsonl_lines)


@require_POST
@console_view
@permission_or_403(VERIFY_AUDIT, "audit.verified")
def verify(request: HtmxHttpRequest) -> HttpResponse:
    """Walk the hash chain now and remember the result for everyone."""
    verify_and_remember()
    if not request.htmx:
        return redirect("console:audit")
    context = {"verification": verification_shown(), "checkpoint": checkpoint_shown()}
    return page(request, TEMPLATE, context, partial="verification")
