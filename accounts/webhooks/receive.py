"""Receive one webhook delivery: check it, refuse replays, apply its changes as a webhook run."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.errors import ErrorCode, KarmoError
from accounts.models import FeedState, SyncRun, WebhookDelivery
from accounts.sync.engine import Syncer
from accounts.sync.once import apply_once
from accounts.webhooks.signatures import Signed, verify_svix, verify_workos
from providers.base import Change
from providers.errors import ProviderError

Verifier = Callable[[Mapping[str, str], bytes, str, float], Signed]


@dataclass(frozen=True, slots=True)
class Receiver:
    """How one provider signs its webhooks and what its payload says changed."""

    secret_setting: str
    verify: Verifier
    changes: Callable[[dict[str, Any]], list[Change]]
    delivery_id: Callable[[Signed, dict[str, Any]], str]
    event_type: Callable[[dict[str, Any]], str]


def _workos_changes(payload: dict[str, Any]) -> list[Change]:
    from providers.workos import event_change

    change = event_change(payload)
    return [] if change is None else [change]


def _stytch_changes(payload: dict[str, Any]) -> list[Change]:
    from providers.stytch import webhook_changes

    return webhook_changes(payload)


RECEIVERS = {
    "workos": Receiver(
        secret_setting="WORKOS_WEBHOOK_SECRET",
        verify=verify_workos,
        changes=_workos_changes,
        delivery_id=lambda signed, payload: str(payload.get("id") or ""),
        event_type=lambda payload: str(payload.get("event") or ""),
    ),
    "stytch": Receiver(
        secret_setting="STYTCH_WEBHOOK_SECRET",
        verify=verify_svix,
        changes=_stytch_changes,
        delivery_id=lambda signed, payload: signed.delivery_id,
        event_type=lambda payload: ".".join(
            str(payload.get(key) or "").lower() for key in ("source", "object_type", "action")
        ),
    ),
}


def served_flavor() -> str:
    """Which provider's webhooks this deployment accepts (the sandbox's flavour for it)."""
    if settings.KARMO_PROVIDER == "sandbox":
        return settings.KARMO_SANDBOX_FLAVOR
    return settings.KARMO_PROVIDER


def receive(name: str, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
    """Verify and apply one delivery; raises KarmoError for anything refused."""
    receiver = RECEIVERS.get(name)
    secret = getattr(settings, receiver.secret_setting, "") if receiver else ""
    if receiver is None or not secret or name != served_flavor():
        raise KarmoError(ErrorCode.WEBHOOK_NOT_CONFIGURED)
    signed = receiver.verify(headers, body, secret, settings.KARMO_WEBHOOK_TOLERANCE_SECONDS)
    try:
        payload = json.loads(body)
        changes = receiver.changes(payload) if isinstance(payload, dict) else None
    except (ValueError, ProviderError) as exc:
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD) from exc
    if changes is None:
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD, "The webhook body is not a JSON object.")
    delivery_id = receiver.delivery_id(signed, payload)[:128]
    if not delivery_id:
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD, "The webhook carries no event id.")
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    provider=name,
                    delivery_id=delivery_id,
                    event_type=receiver.event_type(payload)[:128],
                )
        except IntegrityError:
            raise KarmoError(ErrorCode.WEBHOOK_REPLAYED, meta={"deliveryId": delivery_id}) from None
        fresh, delivery.changed = apply_webhook(changes)
        if not changes:
            delivery.outcome = WebhookDelivery.Outcome.IGNORED
        elif not fresh:  # the feed (or another delivery) brought these events already
            delivery.outcome = WebhookDelivery.Outcome.DUPLICATE
        delivery.save(update_fields=["changed", "outcome"])
    return delivery


def apply_webhook(changes: list[Change]) -> tuple[int, int]:
    """Apply a delivery's changes as a webhook run; returns how many changes were new and
    how many rows changed.

    A delivery that changed nothing (the feed got there first) leaves no run behind.
    """
    if not changes:
        return 0, 0
    key = settings.KARMO_PROVIDER
    now = timezone.now()
    run = SyncRun.objects.create(
        provider=key,
        mode=SyncRun.Mode.WEBHOOK,
        state=SyncRun.State.SUCCEEDED,
        phase="done",
        started_at=now,
        requests=0,
    )
    syncer = Syncer(provider=None, run=run, actor=None, progress=None)
    # Applied as of receipt: providers' clocks (and Stytch's whole seconds) cannot be compared
    # with ours; a reordered delivery is corrected by the next event, the feed or the nightly
    # reconciliation.
    fresh = apply_once(syncer, changes, now, via="webhook")
    changed = run.created + run.updated + run.removed
    if not changed:
        run.delete()
        return fresh, 0
    run.finished_at = timezone.now()
    run.errors = "\n".join(syncer.error_lines)
    run.save()
    FeedState.objects.update_or_create(
        provider=key, defaults={"last_applied_at": run.finished_at, "last_event_at": now}
    )
    return fresh, changed
