"""The webhook endpoints providers post to: no session, the signature is the credential."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.api.errors import error_response
from accounts.audit import record_event
from accounts.errors import ErrorCode, KarmoError
from accounts.models import Outcome, WebhookDelivery
from accounts.webhooks.receive import receive


@csrf_exempt
def webhook(request: HttpRequest, provider: str) -> JsonResponse:
    """POST /webhooks/<provider>/: 200 when applied or ignored, a Karmo error otherwise."""
    try:
        delivery = _receive(request, provider)
    except KarmoError as error:
        record_event(
            event_type="webhook.refused",
            outcome=Outcome.DENIED,
            error_code=error.code.code,
            reason=error.message,
            data={"provider": provider[:32], **error.meta},
        )
        return error_response(error)
    body = {"deliveryId": delivery.delivery_id, "outcome": delivery.outcome}
    return JsonResponse(body | {"changed": delivery.changed})


def _receive(request: HttpRequest, provider: str) -> WebhookDelivery:
    if request.method != "POST":
        raise KarmoError(ErrorCode.METHOD_NOT_ALLOWED)
    return receive(provider, request.headers, request.body)
