"""ZITADEL's event log: the admin API's event search and Actions v2 event webhooks.

Every state change the emulator makes is recorded as an event on its aggregate (user, org,
usergrant, project), read back by `POST /admin/v1/events/_search` (ListEvents) and, when a
target is configured, posted as an Actions v2 event payload signed with `ZITADEL-Signature`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from providers.emulators.server import Request, Response
from providers.emulators.state import Store
from providers.emulators.webhooks import WebhookSender, zitadel_headers
from providers.emulators.zitadel import wire
from providers.emulators.zitadel.wire import fail

INSTANCE_ID = "100000000000000001"
SERVICE_USER = "100000000000000002"
MAX_EVENTS = 1000


class EventsMixin:
    """The event log of a ZitadelEmulator (needs `store`)."""

    store: Store
    webhooks: WebhookSender
    project_id: str
    owner_org: Callable[[], str]

    def init_events(self) -> None:
        self.webhooks = WebhookSender(zitadel_headers)

    def emit(
        self, aggregate_type: str, aggregate_id: str, owner: str, event_type: str, payload: Any
    ) -> None:
        """Record one event (inside the change's transaction) and queue its webhook."""
        stamp = wire.now()
        event = {
            "editor": {"userId": SERVICE_USER, "displayName": "karmo", "service": "emulator"},
            "aggregate": {
                "id": aggregate_id,
                "type": {"type": aggregate_type, "localized": {"key": aggregate_type}},
                "resourceOwner": owner,
            },
            "creationDate": stamp,
            "payload": payload,
            "type": {"type": event_type, "localized": {"key": event_type}},
        }
        with self.store.transaction():
            count = int(self.store.get_meta("events") or "0") + 1
            self.store.set_meta("events", str(count))
            key = str(count)
            self.store.insert("event", key, event, parent=aggregate_type)
            # The instance-wide position: the store's own sequence, which only grows.
            sequence = self.store.seq_of("event", key)
            event["sequence"] = str(sequence)
            self.store.put("event", key, event)
        self.webhooks.send(
            {
                "aggregateID": aggregate_id,
                "aggregateType": aggregate_type,
                "resourceOwner": owner,
                "instanceID": INSTANCE_ID,
                "version": "v1",
                "sequence": sequence,
                "event_type": event_type,
                "created_at": stamp,
                "userID": SERVICE_USER,
                "event_payload": payload,
            }
        )

    def grant_event(self, doc: dict[str, Any], verb: str, payload: dict[str, Any]) -> None:
        """An event on an authorization (a user grant, in the event log's words)."""
        self.emit("usergrant", doc["id"], doc["organizationId"], f"user.grant.{verb}", payload)

    def project_event(self, event_type: str, payload: dict[str, Any]) -> None:
        """An event on the project: its roles and its grants to other organizations."""
        self.emit("project", self.project_id, self.owner_org(), event_type, payload)

    def list_events(self, request: Request) -> Response:
        """Admin ListEvents: events after `sequence`, of the given aggregate/event types."""
        body = wire.read_body(request)
        try:
            after = int(body.get("sequence") or 0)
            limit = int(body.get("limit") or MAX_EVENTS)
        except (TypeError, ValueError):
            raise fail("invalid_argument", "EVENT-sequence", "sequence must be a number") from None
        if not 0 < limit <= MAX_EVENTS:
            raise fail("invalid_argument", "EVENT-limit", f"limit must be 1..{MAX_EVENTS}")
        types = body.get("aggregateTypes") or None
        ascending = bool(body.get("asc"))
        if not ascending and after:
            raise fail("invalid_argument", "EVENT-order", "sequence needs asc")
        rows = self.store.find(
            "event", parent=types, after_seq=after, descending=not ascending, limit=limit
        )
        wanted = set(body.get("eventTypes") or [])
        events = [doc for _, doc in rows if not wanted or doc["type"]["type"] in wanted]
        return Response(200, {"events": events})

    def expire_events(self) -> int:
        """Forget the recorded events (a pruned or restored instance): a cursor naming one of
        them now points at a gap."""
        with self.store.transaction():
            return self.store.delete_kind("event")
