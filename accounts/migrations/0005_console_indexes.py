"""Indexes for the console's member pages: keyset by membership id within an organization."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_cache_table"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="organizationmembership",
            index=models.Index(
                condition=models.Q(("removed_at", None)),
                fields=["organization", "id"],
                name="membership_org_page_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="organizationmembership",
            index=models.Index(
                condition=models.Q(("removed_at", None)),
                fields=["organization", "status", "id"],
                name="membership_org_status_page_idx",
            ),
        ),
    ]
