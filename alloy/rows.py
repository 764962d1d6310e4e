"""Single-row INSERT and UPDATE with SQL built once per process.

Model.save() and QuerySet.update() compile their SQL on every call. On a run's
hot path (a step marked started, the step finished, the run finished) that
compilation cost more CPU than the database's work, so these helpers build
each statement's text once per model and column list and keep it. Values
still go through each field's own preparation (``pre_save`` and
``get_db_prep_save``), so auto_now timestamps, JSON and encrypted fields are
stored exactly as save() stores them, on PostgreSQL and SQLite alike.
"""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model

_statements: dict[tuple, str] = {}


def _fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    return [model._meta.get_field(name) for name in names]


def row_insert(instance: Model) -> Model:
    """INSERT ``instance`` with every concrete field but the primary key; set its pk."""
    model = type(instance)
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    key = ("insert", model)
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        # Only the model's own table and column names, quoted, go into the
        # text; every value is a parameter.
        sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(  # noqa: S608
            quote(meta.db_table),
            ", ".join(quote(field.column) for field in fields),
            ", ".join(["%s"] * len(fields)),
            quote(meta.pk.column),
        )
        _statements[key] = sql
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


def row_update(
    instance: Model, names: Sequence[str], *, only_if: dict | None = None
) -> bool:
    """UPDATE the named fields of ``instance``'s row; False if no row matched.

    ``only_if`` adds equality conditions on other columns, such as a lease
    owner, so the write happens only while they hold. A field with
    ``auto_now`` gets the current time, as save() gives it.
    """
    model = type(instance)
    meta = model._meta
    conditions = _fields(model, list(only_if or {}))
    fields = _fields(model, names)
    key = ("update", model, tuple(names), tuple(only_if or {}))
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        sql = "UPDATE {} SET {} WHERE {} = %s{}".format(  # noqa: S608
            quote(meta.db_table),
            ", ".join(f"{quote(field.column)} = %s" for field in fields),
            quote(meta.pk.column),
            "".join(f" AND {quote(field.column)} = %s" for field in conditions),
        )
        _statements[key] = sql
    params = [
        field.get_db_prep_save(field.pre_save(instance, False), connection)
        for field in fields
    ]
    params.append(instance.pk)
    params += [
        field.get_db_prep_value(value, connection)
        for field, value in zip(conditions, (only_if or {}).values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1
