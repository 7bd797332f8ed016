"""Evidence packs for download, and the audit log's public verifier key at a stable URL."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from accounts import audit_tree, selectors
from accounts.checkpoints import CheckpointError, public_key
from accounts.errors import KarmoError
from accounts.evidence import write_pack
from accounts.forms import AuditFilterForm
from accounts.models import AuditCheckpoint, AuditEvent
from accounts.permissions import EXPORT_AUDIT
from accounts.views.base import HtmxHttpRequest, console_view

SPOOL_BYTES = 8 * 1024 * 1024  # packs larger than this are spooled to a temporary file


def checkpoint_shown() -> dict[str, Any]:
    """The latest checkpoint, how many events came after it, whether it is overdue, the key."""
    latest = AuditCheckpoint.objects.first()
    size = audit_tree.tree_size()
    behind = size - (latest.tree_size if latest else 0)
    overdue = (
        latest is not None
        and behind > 0
        and timezone.now() - latest.created_at
        > timedelta(seconds=2 * max(settings.KARMO_AUDIT_CHECKPOINT_SECONDS, 60))
    )
    try:
        key = public_key()
    except CheckpointError:
        key = None
    return {"latest": latest, "behind": behind, "overdue": overdue, "key": str(key or "")}


def pack_response(events: QuerySet[AuditEvent]) -> FileResponse:
    """The pack of `events` as a zip download; raises KarmoError when it cannot be made."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    try:
        pack = write_pack(events, spool)
    except KarmoError:
        spool.close()
        raise
    spool.seek(0)
    return FileResponse(
        spool, as_attachment=True, filename=pack.file_name, content_type="application/zip"
    )


@require_GET
@console_view
@permission_required(EXPORT_AUDIT, raise_exception=True)
def evidence_pack(request: HtmxHttpRequest) -> HttpResponse:
    """The filtered events as an evidence pack; back to the log with the reason if it cannot."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return HttpResponseBadRequest(
            f"These filters are not valid, so nothing was exported: {problems}",
            content_type="text/plain; charset=utf-8",
        )
    try:
        return pack_response(selectors.audit_events(form.filters(), request.user))
    except KarmoError as exc:
        messages.error(request, f"{exc.message} ({exc.code.code})")
        query = {k: v for k, v in request.GET.items() if v}
        return redirect(f"{request.path.rsplit('/', 1)[0]}/?{urlencode(query)}")


@require_GET
def public_key_page(request: HttpRequest) -> HttpResponse:
    """The verifier key as text: public by design, so anyone can check a checkpoint."""
    key = public_key()
    if key is None:
        return HttpResponse(
            "no audit signing key is configured\n", status=404, content_type="text/plain"
        )
    return HttpResponse(f"{key}\n", content_type="text/plain; charset=utf-8")
