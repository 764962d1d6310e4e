"""Single-row INSERT and UPDATE with SQL built once per process.

Model.save() and QuerySet.update() compile their SQL on every call. On a run's
hot path (a step marked started, the step finished, the run finished) that
compilation cost more CPU than the database's work, so these helpers build
each statement's text once per model and column list and keep it. Values
still go through each field's own preparation (``pre_save`` and
``get_db_prep_save``), so auto_now timestamps, JSON and encrypted fields are
stored exactly as save() stores them, on PostgreSQL and SQLite alike.

select_columns and instance_from_row do the reverse for a statement built by
hand: they name a model's columns in it and build instances from its rows,
through the same converters a query applies.
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


def select_columns(model: type[Model], alias: str) -> str:
    """Return ``alias."column", ...`` for the concrete fields of ``model``, in order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def instance_from_row(
    model: type[Model], row: Sequence, start: int
) -> tuple[Model | None, int]:
    """Build ``model`` from the columns of ``row`` that select_columns put at ``start``.

    Each value goes through the converters the ORM applies when it reads the
    field, so JSON and encrypted fields come back as a query would give them.
    Returns the instance, or None when its primary key is NULL (an outer
    join that matched nothing), and the index after its columns.
    """
    fields = model._meta.concrete_fields
    end = start + len(fields)
    if row[start + fields.index(model._meta.pk)] is None:
        return None, end
    values = list(row[start:end])
    for index, column, converters in _converters(model):
        for convert in converters:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, None, values), end


_converter_lists: dict[type[Model], list[tuple]] = {}


def _converters(model: type[Model]) -> list[tuple]:
    """Return ``(index, column, converters)`` for the fields of ``model`` with any."""
    found = _converter_lists.get(model)
    if found is None:
        found = []
        for index, field in enumerate(model._meta.concrete_fields):
            column = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(
                column
            ) + field.get_db_converters(connection)
            if converters:
                found.append((index, column, converters))
        _converter_lists[model] = found
    return found
