"""Receive one webhook delivery: check it, refuse replays, apply its changes as a webhook run."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.errors import ErrorCode, KarmoError, from_provider_error
from accounts.models import FeedState, SyncRun, WebhookDelivery
from accounts.sync.engine import Syncer
from accounts.sync.once import apply_once
from accounts.webhooks.signatures import Signed, verify_svix, verify_workos, verify_zitadel
from providers.base import Change, well_formed
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
    # ZITADEL's events name a record, not its state: it is read back from the provider, so a
    # provider failure there is the provider's error, not an unreadable body.
    reads_back: bool = False


def _workos_changes(payload: dict[str, Any]) -> list[Change]:
    from providers.workos import event_change

    change = event_change(payload)
    return [] if change is None else [change]


def _stytch_changes(payload: dict[str, Any]) -> list[Change]:
    from providers.stytch import webhook_changes

    return webhook_changes(payload)


def _zitadel_changes(payload: dict[str, Any]) -> list[Change]:
    from providers.registry import get_provider
    from providers.zitadel import ZitadelProvider
    from providers.zitadel_feed import changes_of

    aggregate_type, aggregate_id = payload.get("aggregateType"), payload.get("aggregateID")
    if not isinstance(aggregate_type, str) or not isinstance(aggregate_id, str):
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD, "The webhook names no aggregate.")
    if settings.KARMO_PROVIDER != "zitadel":  # the sandbox: nothing to read back
        return []
    provider = cast(ZitadelProvider, get_provider())  # instrumented: a proxy of one
    try:
        event = (
            aggregate_type,
            aggregate_id,
            payload.get("sequence"),
            _text(payload, "created_at"),
        )
        return changes_of(provider, [event])
    finally:
        provider.close()


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _zitadel_event_id(signed: Signed, payload: dict[str, Any]) -> str:
    from providers.zitadel_feed import event_id

    sequence = payload.get("sequence")
    if not isinstance(sequence, int | str) or not str(sequence).isdigit():
        return ""
    return event_id(_text(payload, "aggregateType"), _text(payload, "aggregateID"), sequence)


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
    "zitadel": Receiver(
        secret_setting="ZITADEL_WEBHOOK_SECRET",
        verify=verify_zitadel,
        changes=_zitadel_changes,
        delivery_id=_zitadel_event_id,
        event_type=lambda payload: _text(payload, "event_type"),
        reads_back=True,
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
    except ValueError as exc:
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD) from exc
    if not isinstance(payload, dict):
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD, "The webhook body is not a JSON object.")
    delivery_id = receiver.delivery_id(signed, payload)[:128]
    if not delivery_id:
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD, "The webhook carries no event id.")
    replayed = KarmoError(ErrorCode.WEBHOOK_REPLAYED, meta={"deliveryId": delivery_id})
    # A replay costs no provider request; the read-back (ZITADEL) runs outside the transaction,
    # so no database lock waits on the provider. The insert below settles concurrent copies.
    if WebhookDelivery.objects.filter(provider=name, delivery_id=delivery_id).exists():
        raise replayed
    changes = _changes(receiver, name, payload)
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    provider=name,
                    delivery_id=delivery_id,
                    event_type=receiver.event_type(payload)[:128],
                )
        except IntegrityError:
            raise replayed from None
        fresh, delivery.changed = apply_webhook(changes)
        if not changes:
            delivery.outcome = WebhookDelivery.Outcome.IGNORED
        elif not fresh:  # the feed (or another delivery) brought these events already
            delivery.outcome = WebhookDelivery.Outcome.DUPLICATE
        delivery.save(update_fields=["changed", "outcome"])
    return delivery


def _changes(receiver: Receiver, name: str, payload: dict[str, Any]) -> list[Change]:
    try:
        changes = receiver.changes(payload)
    except ProviderError as exc:
        if receiver.reads_back:
            raise from_provider_error(exc, name) from exc
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a body of another shape
        raise KarmoError(ErrorCode.WEBHOOK_BAD_PAYLOAD) from exc
    for change in changes:
        if not well_formed(change):
            raise KarmoError(
                ErrorCode.WEBHOOK_BAD_PAYLOAD,
                f"The webhook's {change.kind} lacks its id or has a value of the wrong type.",
            )
    return changes


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
