"""Time-bound access: a reactivated membership that the system deactivates at a set moment."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessState(models.TextChoices):
    """active → expired (ended by the scheduled task) | ended (ended early by a manager)."""

    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    ENDED = "ended", "Ended early"


class TimedAccessQuerySet(models.QuerySet):
    """Named filters for time limits."""

    def running(self) -> TimedAccessQuerySet:
        """Limits still waiting for their end."""
        return self.filter(state=AccessState.ACTIVE)


class TimedAccess(models.Model):
    """The end of a membership's access, set when it was reactivated for a limited time."""

    membership = models.ForeignKey(
        "accounts.OrganizationMembership", on_delete=models.PROTECT, related_name="time_limits"
    )
    request = models.ForeignKey(
        "accounts.ReactivationRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="time_limits",
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    until = models.DateTimeField()
    state = models.CharField(max_length=16, choices=AccessState, default=AccessState.ACTIVE)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When each reminder went to the requester; cleared when the limit is extended.
    day_notice_at = models.DateTimeField(null=True, blank=True)
    hour_notice_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.CharField(max_length=36, blank=True)

    objects = TimedAccessQuerySet.as_manager()

    class Meta:
        verbose_name = "time-bound access"
        verbose_name_plural = "time-bound access"
        ordering = ["until"]
        constraints = [
            models.UniqueConstraint(
                fields=["membership"],
                condition=models.Q(state="active"),
                name="one_running_limit_per_membership",
            ),
        ]
        indexes = [models.Index(fields=["state", "until"], name="timed_access_due_idx")]

    def __str__(self) -> str:
        return f"access of {self.membership} until {self.until:%Y-%m-%d %H:%M} ({self.state})"

    @property
    def requester_id(self) -> int | None:
        """Who is told before it ends: the requester, or the manager who granted it directly."""
        if self.request_id is not None:
            return self.request.requested_by_id
        return self.granted_by_id
