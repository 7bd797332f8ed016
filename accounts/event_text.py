"""Audit events in plain language: "Alice Haddad's access to Acme was restored by max.manager."

Names come from the event itself (captured when it was recorded, see audit.names_of); events
recorded before that, and sync's bulk events, fall back to today's names in the mirror, then
to provider ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accounts.models import AuditEvent, Organization, ProviderUser
from accounts.models.audit import Outcome

# event type -> (what happened, in the passive; the same as something to do)
PHRASES: dict[str, tuple[str, str]] = {
    "membership.reactivated": (
        "{person_s} access to {org} was restored",
        "restore {person_s} access to {org}",
    ),
    "membership.deactivated": (
        "{person_s} access to {org} was removed",
        "remove {person_s} access to {org}",
    ),
    "membership.roles_set": (
        "{person_s} roles in {org} were changed",
        "change {person_s} roles in {org}",
    ),
    "membership.sync_created": ("{person} joined {org} at the provider", ""),
    "membership.sync_updated": ("{person_s} membership of {org} changed at the provider", ""),
    "membership.sync_restored": ("{person_s} membership of {org} reappeared at the provider", ""),
    "membership.sync_removed": ("{person_s} membership of {org} ended at the provider", ""),
    "user.activated": ("{person} was reactivated", "reactivate {person}"),
    "user.deactivated": ("{person} was deactivated", "deactivate {person}"),
    "user.created": ("{person} was created", "create {person}"),
    "user.refreshed": ("{person} was refreshed from the provider", "refresh {person}"),
    "user.sync_created": ("{person} appeared at the provider", ""),
    "user.sync_updated": ("{person} changed at the provider", ""),
    "user.sync_restored": ("{person} reappeared at the provider", ""),
    "user.sync_removed": ("{person} was removed at the provider", ""),
    "organization.reactivated": ("{org} was reactivated", "reactivate {org}"),
    "organization.deactivated": ("{org} was deactivated", "deactivate {org}"),
    "organization.refreshed": ("{org} was refreshed from the provider", "refresh {org}"),
    "organization.sync_created": ("{org} appeared at the provider", ""),
    "organization.sync_updated": ("{org} changed at the provider", ""),
    "organization.sync_restored": ("{org} reappeared at the provider", ""),
    "organization.sync_removed": ("{org} was removed at the provider", ""),
    "request.created": (
        "Reactivation of {target} was requested",
        "request reactivation of {target}",
    ),
    "request.approved": (
        "The request to reactivate {target} was approved",
        "approve reactivation of {target}",
    ),
    "request.rejected": (
        "The request to reactivate {target} was rejected",
        "reject reactivation of {target}",
    ),
    "request.cancelled": (
        "The request to reactivate {target} was cancelled",
        "cancel reactivation of {target}",
    ),
    "request.expired": ("The request to reactivate {target} expired", ""),
    "request.executed": ("The approved request to reactivate {target} was carried out", ""),
    "request.failed": ("The approved request to reactivate {target} failed", ""),
    "request.retried": (
        "Reactivation of {target} was tried again",
        "retry reactivation of {target}",
    ),
}

_ENDINGS = {
    Outcome.ATTEMPTED: "{actor} started to {todo}.",
    Outcome.FAILED: "{actor} tried to {todo}; it failed.",
    Outcome.DENIED: "{actor} tried to {todo}; it was refused.",
    Outcome.NOOP: "{actor} asked to {todo}; nothing needed to change.",
}


def describe_events(events: Iterable[AuditEvent]) -> None:
    """Set `event.text` on each event (two queries for the fallback names, whatever the count)."""
    events = list(events)
    fallback = current_names(events)
    for event in events:
        event.text = sentence(event, fallback)


def current_names(events: list[AuditEvent]) -> dict[str, dict[str, str]]:
    """Today's names of the people and organizations of events that carry none."""
    bare = [event for event in events if not (event.data or {}).get("names")]
    users = {e.user_external_id for e in bare if e.user_external_id}
    orgs = {e.organization_external_id for e in bare if e.organization_external_id}
    found: dict[str, dict[str, str]] = {}
    if users:
        for person in ProviderUser.objects.filter(external_id__in=users).only(
            "external_id", "email", "first_name", "last_name"
        ):
            found[person.external_id] = {"person": person.email, "person_name": person.full_name}
    if orgs:
        for org in Organization.objects.filter(external_id__in=orgs).only("external_id", "name"):
            found[org.external_id] = {"organization": org.name}
    return found


def names(event: AuditEvent, fallback: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The person and organization names of an event: its own, else today's, else ids."""
    kept = (event.data or {}).get("names") or {}
    if kept:
        return kept
    fallback = fallback or {}
    found = {
        "person": event.user_external_id,
        "person_name": event.user_external_id,
        "organization": event.organization_external_id,
    }
    found |= fallback.get(event.user_external_id, {})
    found |= fallback.get(event.organization_external_id, {})
    return {key: value for key, value in found.items() if value}


def sentence(event: AuditEvent, fallback: dict[str, dict[str, str]] | None = None) -> str:
    """One event as a sentence."""
    named = names(event, fallback)
    person = named.get("person_name") or named.get("person") or "someone"
    org = named.get("organization") or "an organization"
    if named.get("person") and named.get("organization"):
        target = f"{person}'s access to {org}"
    else:
        target = person if named.get("person") else org
    fields = {"person": person, "person_s": f"{person}'s", "org": org, "target": target}
    actor = event.actor_repr or _channel(event)
    done, todo = PHRASES.get(event.event_type, ("", ""))
    ending = _ENDINGS.get(event.outcome)
    if ending and todo:
        return ending.format(actor=actor, todo=todo.format(**fields))  # a username keeps its case
    if done:
        return _capital(f"{done.format(**fields)} by {actor}.")
    plain = event.event_type.replace(".", " ").replace("_", " ")
    return _capital(f"{plain} ({event.get_outcome_display().lower()}) by {actor}.")


def _channel(event: AuditEvent) -> str:
    labels: dict[str, Any] = {"sync": "sync", "webhook": "a provider webhook", "task": "a task"}
    return labels.get(event.via, event.get_via_display().lower() or "the system")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
