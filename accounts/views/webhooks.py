"""The webhook endpoints providers post to: no session, the signature is the credential."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.api.errors import error_response
from accounts.audit import record_event
from accounts.errors import ErrorCode, KarmoError
from accounts.models import Outcome, WebhookDelivery
from accounts.webhooks.receive import RECEIVERS, receive
from accounts.webhooks.refusals import refusal_cap


@csrf_exempt
def webhook(request: HttpRequest, provider: str) -> JsonResponse:
    """POST /webhooks/<provider>/: 200 when applied or ignored, a Karmo error otherwise."""
    try:
        delivery = _receive(request, provider)
    except KarmoError as error:
        _audit_refusal(provider, error)
        return error_response(error)
    body = {"deliveryId": delivery.delivery_id, "outcome": delivery.outcome}
    return JsonResponse(body | {"changed": delivery.changed})


def _audit_refusal(provider: str, error: KarmoError) -> None:
    """Audit the refusal unless this minute's cap for the provider is reached."""
    bucket = provider if provider in RECEIVERS else "unknown"  # one bucket for made-up paths
    audited, number = refusal_cap.admit(bucket)
    if audited:
        record_event(
            event_type="webhook.refused",
            outcome=Outcome.DENIED,
            error_code=error.code.code,
            reason=error.message,
            data={"provider": provider[:32], **error.meta},
        )
    elif number == settings.KARMO_WEBHOOK_REFUSALS_AUDITED + 1:
        record_event(
            event_type="webhook.refusals_capped",
            outcome=Outcome.DENIED,
            error_code=error.code.code,
            reason=(
                f"More than {settings.KARMO_WEBHOOK_REFUSALS_AUDITED} webhook refusals within a "
                "minute: the rest of this minute's are counted and logged, not audited."
            ),
            data={"provider": bucket},
        )


def _receive(request: HttpRequest, provider: str) -> WebhookDelivery:
    if request.method != "POST":
        raise KarmoError(ErrorCode.METHOD_NOT_ALLOWED)
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise KarmoError(ErrorCode.BODY_TOO_LARGE) from exc
    return receive(provider, request.headers, body)
