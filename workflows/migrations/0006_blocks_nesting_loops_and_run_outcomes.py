"""Nest blocks in Branch and For each lists, number loop steps, add run outcomes.

SQLite adds the block's parent column by rebuilding the table, which drops
the freeze triggers on it and breaks those that read it, so they are
dropped before and created again after.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

freeze = importlib.import_module("workflows.migrations.0002_freeze_released_versions")


def sqlite_triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in freeze.SQLITE_REVERSE:
            schema_editor.execute(statement)


def sqlite_triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in freeze.SQLITE_FORWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0005_merge_run_leases'),
    ]

    operations = [
        migrations.RunPython(sqlite_triggers_drop, sqlite_triggers_create),
        migrations.AlterModelOptions(
            name='runstep',
            options={'ordering': ['run', 'id']},
        ),
        migrations.RemoveConstraint(
            model_name='runstep',
            name='run_step_unique_position',
        ),
        migrations.AddField(
            model_name='block',
            name='branch',
            field=models.CharField(blank=True, choices=[('then', 'Then'), ('else', 'Else'), ('body', 'Body')], max_length=8),
        ),
        migrations.AddField(
            model_name='block',
            name='parent',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='children', to='workflows.block'),
        ),
        migrations.AddField(
            model_name='runstep',
            name='item_index',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='run',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('waiting', 'Waiting'), ('filtered', 'Filtered')], db_index=True, default='queued', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='block',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('parent__isnull', True), ('branch', '')), models.Q(('parent__isnull', False), models.Q(('branch', ''), _negated=True)), _connector='OR'), name='block_branch_with_parent'),
        ),
        migrations.AddConstraint(
            model_name='runstep',
            constraint=models.UniqueConstraint(condition=models.Q(('item_index__isnull', True)), fields=('run', 'position'), name='run_step_unique_position'),
        ),
        migrations.AddConstraint(
            model_name='runstep',
            constraint=models.UniqueConstraint(condition=models.Q(('item_index__isnull', False)), fields=('run', 'position', 'item_index'), name='run_step_unique_item'),
        ),
        migrations.RunPython(sqlite_triggers_create, sqlite_triggers_drop),
    ]
