"""The Merkle tree over the audit events, built for the events already recorded."""

from django.db import migrations, models

BATCH = 5000


def build_tree(apps, schema_editor):
    from accounts.audit import HASHED_FIELDS, canonical_json
    from accounts.audit_tree import write_nodes
    from accounts.merkle import extend, leaf_hash

    events = apps.get_model("accounts", "AuditEvent").objects.order_by("sequence")
    frontier, first, leaves = [], 0, []
    for row in events.values_list(*HASHED_FIELDS).iterator(chunk_size=BATCH):
        leaves.append(leaf_hash(canonical_json(dict(zip(HASHED_FIELDS, row))).encode()))
        if len(leaves) == BATCH:
            write_nodes(list(extend(frontier, leaves, first)))
            first, leaves = first + len(leaves), []
    write_nodes(list(extend(frontier, leaves, first)))


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_console_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditTreeNode',
            fields=[
                ('pk', models.CompositePrimaryKey('level', 'position', blank=True, editable=False, primary_key=True, serialize=False)),
                ('level', models.PositiveSmallIntegerField()),
                ('position', models.BigIntegerField()),
                ('hash', models.BinaryField(max_length=32)),
            ],
        ),
        migrations.RunPython(build_tree, migrations.RunPython.noop),
    ]
