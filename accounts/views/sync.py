"""The sync page: managers start a full sync; everyone with access watches its progress."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from accounts import sync
from accounts.errors import KarmoError
from accounts.models import FeedState, SyncRun
from accounts.permissions import START_SYNC
from accounts.views.base import (
    HtmxHttpRequest,
    console_view,
    note_provider_error,
    page,
    permission_or_403,
)

TEMPLATE = "console/sync.html"
VIEW_SYNC = "accounts.view_syncrun"
RECENT_RUNS = 10
ACTIVE_STATES = {SyncRun.State.QUEUED, SyncRun.State.RUNNING}


@require_GET
@console_view
@permission_required(VIEW_SYNC, raise_exception=True)
def sync_page(request: HtmxHttpRequest) -> HttpResponse:
    """The latest run's progress and the recent runs."""
    runs = _recent_runs()
    context = {
        "runs": runs,
        "run": runs[0] if runs else None,
        "active_states": ACTIVE_STATES,
        "feed": FeedState.objects.filter(provider=settings.KARMO_PROVIDER).first(),
    }
    return page(request, TEMPLATE, context)


def _recent_runs() -> list[SyncRun]:
    return list(SyncRun.objects.select_related("started_by")[:RECENT_RUNS])


def _progress(request: HtmxHttpRequest, context: dict[str, object]) -> HttpResponse:
    """The progress fragment, with the recent runs swapped out of band so they follow it."""
    context = {**context, "runs": _recent_runs(), "oob": True, "active_states": ACTIVE_STATES}
    return page(request, TEMPLATE, context, partial="progress")


@require_POST
@console_view
@permission_or_403(START_SYNC, "sync.requested")
def sync_start(request: HtmxHttpRequest) -> HttpResponse:
    """Queue a full sync as a task; while one is active, show that one instead."""
    error: KarmoError | None = None
    run: SyncRun | None = None
    try:
        run = sync.start_sync(actor=request.user)
    except KarmoError as exc:
        note_provider_error(exc)
        run = SyncRun.objects.filter(pk=exc.meta.get("syncRun")).first()
        error = None if run is not None else exc
    if not request.htmx:
        return redirect("console:sync")
    return _progress(request, {"run": run, "error": error})


@require_GET
@console_view
@permission_required(VIEW_SYNC, raise_exception=True)
def sync_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One run's progress; the fragment stops polling once the run has finished."""
    run = get_object_or_404(SyncRun.objects.select_related("started_by"), pk=pk)
    return _progress(request, {"run": run})
