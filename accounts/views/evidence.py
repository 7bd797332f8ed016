"""The audit log's public verifier key at a stable URL."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from accounts.checkpoints import public_key


@require_GET
def public_key_page(request: HttpRequest) -> HttpResponse:
    """The verifier key as text: public by design, so anyone can check a checkpoint."""
    key = public_key()
    if key is None:
        return HttpResponse(
            "no audit signing key is configured\n", status=404, content_type="text/plain"
        )
    return HttpResponse(f"{key}\n", content_type="text/plain; charset=utf-8")
