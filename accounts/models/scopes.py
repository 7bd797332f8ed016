"""Which organizations a staff user or group may see and act on."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from accounts.models.mirror import Organization


def validate_pattern(value: str) -> None:
    """A rule must be a regular expression Python (and so the database) can compile."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"Not a regular expression: {exc}") from exc


class StaffScope(models.Model):
    """A set of organizations given to one staff user or one group.

    The set is the union of: every organization (`all_organizations`), the ones chosen one by
    one, and those whose name or provider id matches a case-insensitive regular expression.
    A user's scope is the union of their own and their groups' scopes.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="karmo_scope",
    )
    group = models.OneToOneField(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="karmo_scope"
    )
    all_organizations = models.BooleanField(default=False)
    organizations = models.ManyToManyField(Organization, blank=True, related_name="+")
    name_pattern = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_pattern],
        help_text="Case-insensitive regular expression over organization names, e.g. ^acme",
    )
    id_pattern = models.CharField(
        "provider id pattern",
        max_length=200,
        blank=True,
        validators=[validate_pattern],
        help_text="Case-insensitive regular expression over the provider's organization ids",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "staff scope"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=True, group__isnull=False)
                | models.Q(user__isnull=False, group__isnull=True),
                name="scope_one_holder",
            )
        ]

    def __str__(self) -> str:
        holder = f"group {self.group}" if self.group_id else f"user {self.user}"
        return f"scope of {holder}"
