"""Where each provider's change feed stands, and the webhook deliveries received."""

from __future__ import annotations

from django.db import models


class FeedState(models.Model):
    """One provider's event-feed cursor and the mirror's freshness.

    A full sync sets the cursor to the newest event it saw before reading; polls and webhooks
    then apply what came after. `drift` holds the last full reconciliation's counts.
    """

    provider = models.CharField(max_length=32, unique=True)
    cursor = models.CharField(max_length=128, blank=True)
    # False until a full sync placed the cursor (an empty cursor then means "from the start").
    ready = models.BooleanField(default=False)
    cursor_set_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_applied_at = models.DateTimeField(null=True, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    last_fallback_reason = models.CharField(max_length=255, blank=True)
    drift = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"feed of {self.provider}"


class WebhookDelivery(models.Model):
    """A webhook delivery, kept by its id so a replay is refused."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        DUPLICATE = "duplicate", "Already taken in"

    provider = models.CharField(max_length=32)
    delivery_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=128, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=16, choices=Outcome, default=Outcome.APPLIED)
    changed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "delivery_id"], name="webhook_once")
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider} webhook {self.delivery_id}"


class AppliedEvent(models.Model):
    """A provider event the mirror has taken in, by feed or webhook, kept so it is taken once.

    The same event reaches us twice (its webhook and the feed's page) and webhooks may come
    late or out of order: a change whose event is already here, or older than one already
    applied to the same record, is skipped instead of written (and audited) again.
    """

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=16)
    external_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField()
    via = models.CharField(max_length=16)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="applied_event_once")
        ]
        indexes = [
            models.Index(fields=["provider", "kind", "external_id"], name="applied_event_record"),
            models.Index(fields=["applied_at"], name="applied_event_age"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} event {self.event_id}"
