"""Where the console and API read the latest signed checkpoints of the audit log."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0007_sync_one_active_run'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('tree_size', models.BigIntegerField(unique=True)),
                ('root', models.CharField(max_length=64)),
                ('note', models.TextField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('witnessed', models.BooleanField(default=False)),
                ('witness_status', models.CharField(blank=True, max_length=255)),
            ],
            options={
                'ordering': ['-tree_size'],
            },
        ),
    ]
