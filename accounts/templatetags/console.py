"""Small template helpers shared by the console pages."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

register = template.Library()

_TONES = {
    "active": "ok",
    "succeeded": "ok",
    "executed": "ok",
    "approved": "ok",
    "inactive": "off",
    "cancelled": "off",
    "expired": "off",
    "noop": "off",
    "pending": "wait",
    "queued": "wait",
    "running": "wait",
    "requested": "wait",
    "attempted": "wait",
    "recorded": "info",
    "failed": "bad",
    "denied": "bad",
    "rejected": "bad",
}


@register.simple_tag
def status_badge(value: Any, label: str = "") -> SafeString:
    """A coloured status label; colour is never the only signal (the text is always there).

    A simple tag, not an included template: pages show dozens and each include costs a render.
    """
    text = str(value or "unknown")
    label = label or text.replace("_", " ")
    return format_html('<span class="badge badge-{}">{}</span>', _TONES.get(text, "info"), label)


@register.filter
def fresh(moment: datetime | None) -> str:
    """How old, to the second under a minute (the mirror's freshness), else like `ago`."""
    if moment is None:
        return "never"
    seconds = (timezone.now() - moment).total_seconds()
    return f"{max(0, int(seconds))} s ago" if seconds < 60 else ago(moment)


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, in words; under a minute reads "just now" rather than "0 minutes ago"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def duration(value: timedelta | None) -> str:
    """A time limit's length in words: "7 days", "8 hours", "1 day, 12 hours"."""
    if value is None:
        return ""
    now = timezone.now()
    return timeuntil(now + value, now)


@register.filter
def preview_rows(preview: Any) -> list[tuple[str, Any, Any, bool]]:
    """A preview's fields as (name, before, after, changed), for a before/after table.

    An `after` of None is not known before the provider answers, so it is not a change.
    """
    before = preview.before if isinstance(preview.before, dict) else {"value": preview.before}
    after = preview.after if isinstance(preview.after, dict) else {"value": preview.after}
    names = [*before, *(name for name in after if name not in before)]
    return [
        (name, before.get(name), after.get(name), after.get(name) not in (None, before.get(name)))
        for name in names
    ]


@register.filter
def preview_data(preview: Any) -> dict[str, Any]:
    """What the page shows of a preview, as data (the same fields as the API's Preview)."""
    return dataclasses.asdict(preview)
