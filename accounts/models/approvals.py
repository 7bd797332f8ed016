"""Reactivation requests that a manager approves before the change is made."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class TargetType(models.TextChoices):
    """What a request asks to reactivate."""

    MEMBERSHIP = "membership", "Membership"
    USER = "user", "User"
    ORGANIZATION = "organization", "Organization"


class RequestStatus(models.TextChoices):
    """pending → approved → executed | failed; pending → rejected | expired | cancelled."""

    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    EXECUTED = "executed", "Executed"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.APPROVED, RequestStatus.FAILED)


class ReactivationRequestQuerySet(models.QuerySet):
    """Named filters for requests."""

    def open(self) -> ReactivationRequestQuerySet:
        """Requests not yet closed (a failed one can still be retried)."""
        return self.filter(status__in=OPEN_STATUSES)

    def pending(self) -> ReactivationRequestQuerySet:
        """Requests waiting for a manager."""
        return self.filter(status=RequestStatus.PENDING)


class ReactivationRequest(models.Model):
    """A help-desk request to restore access, decided by a manager."""

    target_type = models.CharField(max_length=16, choices=TargetType)
    target_key = models.CharField(max_length=160, editable=False)
    membership = models.ForeignKey(
        "accounts.OrganizationMembership", null=True, blank=True, on_delete=models.PROTECT
    )
    provider_user = models.ForeignKey(
        "accounts.ProviderUser", null=True, blank=True, on_delete=models.PROTECT
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reactivation_requests"
    )
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=RequestStatus, default=RequestStatus.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decided_reactivation_requests",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=8, blank=True)
    error_message = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=36, blank=True)
    # A time-bound reactivation: the end of access, or how long it lasts once carried out.
    access_until = models.DateTimeField(null=True, blank=True)
    access_duration = models.DurationField(null=True, blank=True)

    objects = ReactivationRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["target_key"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="one_open_request_per_target",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        target_type=TargetType.MEMBERSHIP,
                        membership__isnull=False,
                        provider_user__isnull=True,
                        organization__isnull=True,
                    )
                    | models.Q(
                        target_type=TargetType.USER,
                        membership__isnull=True,
                        provider_user__isnull=False,
                        organization__isnull=True,
                    )
                    | models.Q(
                        target_type=TargetType.ORGANIZATION,
                        membership__isnull=True,
                        provider_user__isnull=True,
                        organization__isnull=False,
                    )
                ),
                name="request_names_one_target",
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="request_reason_required"),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="request_status_expiry_idx"),
            models.Index(fields=["requested_by", "-created_at"], name="request_requester_idx"),
        ]
        permissions = [
            ("approve_reactivationrequest", "Can approve or reject reactivation requests"),
        ]

    def __str__(self) -> str:
        return f"request {self.pk}: reactivate {self.target_label} ({self.status})"

    def save(self, *args: object, **kwargs: object) -> None:
        target = self.membership_id or self.provider_user_id or self.organization_id
        self.target_key = f"{self.target_type}:{target}"
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def target_label(self) -> str:
        """The target by name: an email, an organization, or "email in organization"."""
        target = self.membership or self.provider_user or self.organization
        return str(target)
