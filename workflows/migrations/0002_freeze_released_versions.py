"""Database triggers that reject any change to a released version or its blocks.

The models refuse these writes too; the triggers also stop raw SQL, queryset
``update()`` and ``bulk_create``. On PostgreSQL deletes are rejected as well.
SQLite, the embedded demo database, rejects updates and inserts only, so that
``manage.py flush`` still empties it.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION workflows_reject_released_version() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'released' THEN
        RAISE EXCEPTION 'workflow version % is released and cannot be changed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER workflows_version_frozen
    BEFORE UPDATE OR DELETE ON workflows_workflowversion
    FOR EACH ROW EXECUTE FUNCTION workflows_reject_released_version();

CREATE FUNCTION workflows_reject_released_block() RETURNS trigger AS $$
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

CREATE TRIGGER workflows_block_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON workflows_block
    FOR EACH ROW EXECUTE FUNCTION workflows_reject_released_block();

CREATE FUNCTION workflows_reject_released_mapping() RETURNS trigger AS $$
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

CREATE TRIGGER workflows_mapping_frozen
    BEFORE INSERT OR UPDATE OR DELETE ON workflows_fieldmapping
    FOR EACH ROW EXECUTE FUNCTION workflows_reject_released_mapping();
"""

POSTGRES_REVERSE = """
DROP TRIGGER IF EXISTS workflows_mapping_frozen ON workflows_fieldmapping;
DROP TRIGGER IF EXISTS workflows_block_frozen ON workflows_block;
DROP TRIGGER IF EXISTS workflows_version_frozen ON workflows_workflowversion;
DROP FUNCTION IF EXISTS workflows_reject_released_mapping();
DROP FUNCTION IF EXISTS workflows_reject_released_block();
DROP FUNCTION IF EXISTS workflows_reject_released_version();
"""

SQLITE_FORWARD = [
    """
    CREATE TRIGGER workflows_version_frozen
    BEFORE UPDATE ON workflows_workflowversion
    FOR EACH ROW WHEN OLD.status = 'released'
    BEGIN
        SELECT RAISE(ABORT, 'a released workflow version cannot be changed');
    END;
    """,
    """
    CREATE TRIGGER workflows_block_frozen_insert
    BEFORE INSERT ON workflows_block
    FOR EACH ROW WHEN (
        SELECT status FROM workflows_workflowversion WHERE id = NEW.version_id
    ) = 'released'
    BEGIN
        SELECT RAISE(ABORT, 'the blocks of a released workflow version cannot be changed');
    END;
    """,
    """
    CREATE TRIGGER workflows_block_frozen_update
    BEFORE UPDATE ON workflows_block
    FOR EACH ROW WHEN (
        SELECT status FROM workflows_workflowversion WHERE id = OLD.version_id
    ) = 'released' OR (
        SELECT status FROM workflows_workflowversion WHERE id = NEW.version_id
    ) = 'released'
    BEGIN
        SELECT RAISE(ABORT, 'the blocks of a released workflow version cannot be changed');
    END;
    """,
    """
    CREATE TRIGGER workflows_mapping_frozen_insert
    BEFORE INSERT ON workflows_fieldmapping
    FOR EACH ROW WHEN (
        SELECT v.status FROM workflows_block b
        JOIN workflows_workflowversion v ON v.id = b.version_id
        WHERE b.id = NEW.block_id
    ) = 'released'
    BEGIN
        SELECT RAISE(ABORT, 'the mappings of a released workflow version cannot be changed');
    END;
    """,
    """
    CREATE TRIGGER workflows_mapping_frozen_update
    BEFORE UPDATE ON workflows_fieldmapping
    FOR EACH ROW WHEN (
        SELECT v.status FROM workflows_block b
        JOIN workflows_workflowversion v ON v.id = b.version_id
        WHERE b.id = OLD.block_id
    ) = 'released'
    BEGIN
        SELECT RAISE(ABORT, 'the mappings of a released workflow version cannot be changed');
    END;
    """,
]

SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "workflows_version_frozen",
        "workflows_block_frozen_insert",
        "workflows_block_frozen_update",
        "workflows_mapping_frozen_insert",
        "workflows_mapping_frozen_update",
    )
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("workflows", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
