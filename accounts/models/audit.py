"""The append-only, hash-chained audit log."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit event."""


class Channel(models.TextChoices):
    """Through what a change arrived."""

    CONSOLE = "console", "Console"
    ADMIN = "admin", "Admin"
    API = "api", "API"
    TASK = "task", "Task"
    COMMAND = "command", "Command"
    SYNC = "sync", "Sync"
    WEBHOOK = "webhook", "Webhook"


class Outcome(models.TextChoices):
    """What an event says happened."""

    REQUESTED = "requested", "Requested"
    ATTEMPTED = "attempted", "Attempted"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DENIED = "denied", "Denied"
    NOOP = "noop", "No change needed"
    RECORDED = "recorded", "Recorded"


class AuditEventQuerySet(models.QuerySet):
    """Refuses bulk updates and deletes."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")


class AuditEvent(models.Model):
    """One recorded fact; see accounts.audit.record_event for the only writer."""

    sequence = models.BigIntegerField(unique=True, editable=False)
    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    event_type = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # audit_actor_idx starts with the actor
        related_name="+",
    )
    actor_repr = models.CharField(max_length=200, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    via = models.CharField(max_length=16, choices=Channel)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=128, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    organization_external_id = models.CharField(max_length=128, blank=True)
    user_external_id = models.CharField(max_length=128, blank=True)
    reason = models.TextField(blank=True)
    error_code = models.CharField(max_length=8, blank=True)
    provider_request_id = models.CharField(max_length=128, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    correlation_id = models.CharField(max_length=36, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        indexes = [
            models.Index(fields=["event_type", "-sequence"], name="audit_type_idx"),
            models.Index(fields=["actor", "-sequence"], name="audit_actor_idx"),
            models.Index(fields=["organization_external_id", "-sequence"], name="audit_org_idx"),
            models.Index(fields=["user_external_id", "-sequence"], name="audit_user_idx"),
            models.Index(fields=["outcome", "-sequence"], name="audit_outcome_idx"),
            models.Index(fields=["occurred_at"], name="audit_occurred_idx"),
            models.Index(fields=["correlation_id"], name="audit_correlation_idx"),
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
        ]
        permissions = [
            ("export_auditevent", "Can export audit events"),
            ("verify_auditevent", "Can verify the audit log"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.event_type} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")


class AuditTreeNode(models.Model):
    """One perfect subtree of the audit events' Merkle tree (level 0: an event's leaf hash).

    Node (level, position) covers the events with sequence position·2^level + 1 to
    (position + 1)·2^level.
    Written with the events it completes, in the same transaction; never changed.
    """

    pk = models.CompositePrimaryKey("level", "position")
    level = models.PositiveSmallIntegerField()
    position = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"node {self.level}/{self.position}"


class AuditCheckpoint(models.Model):
    """A signed checkpoint as written outside the database; the console and the API read it here.

    Verification never trusts this copy: it reads the checkpoint directory and the witness.
    """

    tree_size = models.BigIntegerField(unique=True)
    root = models.CharField(max_length=64)
    note = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    witnessed = models.BooleanField(default=False)
    witness_status = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-tree_size"]

    def __str__(self) -> str:
        return f"checkpoint at {self.tree_size} events"
