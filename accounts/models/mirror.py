"""The mirror of the provider's organizations, users, memberships and roles.

The provider is the source of truth: rows are written by sync and by services only,
keyed by (provider, external_id), and never hard-deleted (`removed_at` instead).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class MirrorStatus(models.TextChoices):
    """Normalised lifecycle status."""

    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    PENDING = "pending", "Pending"


class MirrorQuerySet(models.QuerySet):
    """Filters shared by every mirrored model."""

    def present(self) -> MirrorQuerySet:
        """Rows the provider still returns."""
        return self.filter(removed_at__isnull=True)

    def active(self) -> MirrorQuerySet:
        """Present rows with status active."""
        return self.present().filter(status=MirrorStatus.ACTIVE)

    def inactive(self) -> MirrorQuerySet:
        """Present rows with status inactive."""
        return self.present().filter(status=MirrorStatus.INACTIVE)


class MirroredModel(models.Model):
    """Fields every mirrored record has."""

    provider = models.CharField(max_length=32)
    external_id = models.CharField("provider id", max_length=128)
    synced_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MirrorQuerySet.as_manager()

    class Meta:
        abstract = True


class Organization(MirroredModel):
    """A provider organization (tenant)."""

    name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=MirrorStatus, default=MirrorStatus.ACTIVE)
    raw_status = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="org_provider_id_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MirrorStatus.values), name="org_status_valid"
            ),
        ]
        indexes = [
            models.Index(Lower("name"), name="org_name_lower_idx"),
            models.Index(fields=["status"], name="org_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ProviderUser(MirroredModel):
    """A person at the provider (a customer's user), not a staff login."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email_verified = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=MirrorStatus, default=MirrorStatus.ACTIVE)
    raw_status = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "provider user"
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="puser_provider_id_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MirrorStatus.values), name="puser_status_valid"
            ),
        ]
        indexes = [
            models.Index(Lower("email"), name="puser_email_lower_idx"),
            models.Index(Lower("last_name"), Lower("first_name"), name="puser_name_lower_idx"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def full_name(self) -> str:
        """First and last name, or the email when both are blank."""
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email


class OrganizationMembership(MirroredModel):
    """A provider user's membership of one organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="memberships"
    )
    user = models.ForeignKey(ProviderUser, on_delete=models.PROTECT, related_name="memberships")
    status = models.CharField(max_length=16, choices=MirrorStatus, default=MirrorStatus.ACTIVE)
    raw_status = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["organization__name", "user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="membership_provider_id_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MirrorStatus.values), name="membership_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="membership_org_status_idx"),
            models.Index(fields=["user", "status"], name="membership_user_status_idx"),
            # The console's member pages: keyset by id among present members, any or one status.
            models.Index(
                fields=["organization", "id"],
                condition=models.Q(removed_at=None),
                name="membership_org_page_idx",
            ),
            models.Index(
                fields=["organization", "status", "id"],
                condition=models.Q(removed_at=None),
                name="membership_org_status_page_idx",
            ),
        ]
        permissions = [
            ("request_reactivation", "Can request a reactivation"),
            ("reactivate_directly", "Can reactivate without a request"),
            ("deactivate_access", "Can deactivate memberships, users and organizations"),
            ("manage_roles", "Can create organization roles and set membership roles"),
            ("refresh_from_provider", "Can refresh a record from the provider"),
        ]

    def __str__(self) -> str:
        return f"{self.user.email} in {self.organization.name}"

    @property
    def role_slugs(self) -> list[str]:
        """Role slugs in a stable order (uses a prefetched `roles` when present)."""
        return sorted(role.slug for role in self.roles.all())


class MembershipRole(models.Model):
    """One role slug held through a membership; indexed by (organization, slug)."""

    membership = models.ForeignKey(
        OrganizationMembership, on_delete=models.CASCADE, related_name="roles"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    slug = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["membership", "slug"], name="membership_role_uniq"),
        ]
        indexes = [
            models.Index(fields=["organization", "slug"], name="membership_role_org_slug_idx")
        ]

    def __str__(self) -> str:
        return self.slug


class OrganizationRole(MirroredModel):
    """A role at the provider; `organization` is null for environment-wide roles."""

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="roles"
    )
    slug = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="role_provider_id_uniq"
            ),
        ]
        indexes = [models.Index(fields=["organization", "slug"], name="role_org_slug_idx")]

    def __str__(self) -> str:
        return self.slug


class SyncRun(models.Model):
    """One full sync from the provider, with its progress and counts."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Mode(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"
        WEBHOOK = "webhook", "Webhook"

    provider = models.CharField(max_length=32)
    mode = models.CharField(max_length=16, choices=Mode, default=Mode.FULL)
    # Why a full sync ran instead of an incremental one (an expired cursor, say).
    reason = models.CharField(max_length=255, blank=True)
    requests = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State, default=State.QUEUED)
    started_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=32, blank=True)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    # Stamped every KARMO_SYNC_HEARTBEAT_SECONDS while the run is running.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-queued_at"]
        indexes = [models.Index(fields=["provider", "-queued_at"], name="syncrun_provider_idx")]
        permissions = [("start_sync", "Can start a sync from the provider")]
        # One queued or running sync per provider, whatever path created it.
        constraints = [
            models.UniqueConstraint(
                fields=["provider"],
                condition=models.Q(state__in=["queued", "running"]),
                name="syncrun_one_active_per_provider",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.state})"
