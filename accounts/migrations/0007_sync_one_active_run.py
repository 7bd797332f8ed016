"""At most one queued or running sync per provider, enforced by the database."""

from django.db import migrations, models
from django.utils import timezone

ACTIVE = ["queued", "running"]


def fail_extra_active_runs(apps, schema_editor):
    """Keep each provider's newest active run; older ones could never finish anyway."""
    runs = apps.get_model("accounts", "SyncRun").objects
    for provider in runs.filter(state__in=ACTIVE).values_list("provider", flat=True).distinct():
        active = runs.filter(provider=provider, state__in=ACTIVE).order_by("-queued_at", "-pk")
        newest = active.values_list("pk", flat=True).first()
        active.exclude(pk=newest).update(
            state="failed", finished_at=timezone.now(), errors="abandoned: another run was active"
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_audit_tree")]

    operations = [
        migrations.RunPython(fail_extra_active_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="syncrun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state__in", ACTIVE)),
                fields=("provider",),
                name="syncrun_one_active_per_provider",
            ),
        ),
    ]
