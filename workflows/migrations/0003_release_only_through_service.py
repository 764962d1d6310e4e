"""Tighten the PostgreSQL freeze triggers.

A version may become released only inside ``version_release``, which
validates it first and marks its transaction with the setting
``alloy.releasing_version``; a bare ``UPDATE ... SET status = 'released'``
is rejected. The block and mapping triggers take a share lock on the version
row before they read its status, so an edit that races a release waits for
it and then sees the released status.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION workflows_reject_released_version() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'released' THEN
        RAISE EXCEPTION 'workflow version % is released and cannot be changed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status = 'released'
        AND coalesce(current_setting('alloy.releasing_version', true), '')
            <> OLD.id::text
    THEN
        RAISE EXCEPTION 'workflow version % can be released only by version_release',
            OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION workflows_reject_released_block() RETURNS trigger AS $$
DECLARE
    version_ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        version_ids := ARRAY[NEW.version_id];
    ELSIF TG_OP = 'UPDATE' THEN
        version_ids := ARRAY[OLD.version_id, NEW.version_id];
    ELSE
        version_ids := ARRAY[OLD.version_id];
    END IF;
    PERFORM 1 FROM workflows_workflowversion WHERE id = ANY(version_ids) FOR SHARE;
    IF EXISTS (
        SELECT 1 FROM workflows_workflowversion
        WHERE id = ANY(version_ids) AND status = 'released'
    ) THEN
        RAISE EXCEPTION 'the blocks of a released workflow version cannot be changed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION workflows_reject_released_mapping() RETURNS trigger AS $$
DECLARE
    block_ids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        block_ids := ARRAY[NEW.block_id];
    ELSIF TG_OP = 'UPDATE' THEN
        block_ids := ARRAY[OLD.block_id, NEW.block_id];
    ELSE
        block_ids := ARRAY[OLD.block_id];
    END IF;
    PERFORM 1 FROM workflows_workflowversion v
        JOIN workflows_block b ON b.version_id = v.id
        WHERE b.id = ANY(block_ids) FOR SHARE OF v;
    IF EXISTS (
        SELECT 1 FROM workflows_block b
        JOIN workflows_workflowversion v ON v.id = b.version_id
        WHERE b.id = ANY(block_ids) AND v.status = 'released'
    ) THEN
        RAISE EXCEPTION 'the mappings of a released workflow version cannot be changed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("workflows", "0002_freeze_released_versions")]

    # The reverse keeps the tightened functions: 0002's reverse drops them.
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
