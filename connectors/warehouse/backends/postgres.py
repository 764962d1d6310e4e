"""The PostgreSQL warehouse: typed tables, inserts and version-guarded upserts.

Identifiers are quoted with psycopg.sql and values are sent as parameters.
Each write runs in one transaction with the table check, so a failed step
leaves no row and no half-made table behind.
"""

import logging
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from alloy.outbound import OutboundURLError, outbound_host_check
from connectors.warehouse import columns
from connectors.warehouse.backends.base import (
    TableSpec,
    WarehouseBackend,
    WarehouseError,
    WarehouseSession,
    WriteResult,
)

if TYPE_CHECKING:
    from connectors.warehouse.connection_url import WarehouseURL

logger = logging.getLogger(__name__)

TYPE_NAMES = {
    columns.TEXT: "text",
    columns.NUMERIC: "numeric",
    columns.BIGINT: "bigint",
    columns.TIMESTAMPTZ: "timestamptz",
    columns.JSONB: "jsonb",
    columns.BOOLEAN: "boolean",
}
# The information_schema data types an existing column may have for each
# declared type. Any other type would change or lose values.
COMPATIBLE_TYPES = {
    columns.TEXT: {"text", "character varying"},
    columns.NUMERIC: {"numeric"},
    columns.BIGINT: {"bigint"},
    columns.TIMESTAMPTZ: {"timestamp with time zone"},
    columns.JSONB: {"jsonb"},
    columns.BOOLEAN: {"boolean"},
}


class PostgresBackend(WarehouseBackend):
    def connect(self, url: "WarehouseURL", *, timeout: int) -> WarehouseSession:
        """Open a connection to the URL's database after the outbound address check.

        Connects to the address that was checked, so the host name is not
        resolved again. Raises WarehouseError with the URL's password redacted.
        """
        from django.conf import settings

        try:
            addresses = outbound_host_check(url.host, url.port)
        except OutboundURLError as exc:
            raise WarehouseError(
                f"The warehouse {url.redacted} is not reachable from this "
                f"server: {exc}",
                code="warehouse_address_not_allowed",
            ) from exc
        statement_ms = settings.WAREHOUSE_STATEMENT_TIMEOUT * 1000
        try:
            connection = psycopg.connect(
                host=url.host,
                hostaddr=addresses[0],
                port=url.port,
                dbname=url.database,
                user=url.user,
                password=url.password,
                connect_timeout=timeout,
                options=f"-c statement_timeout={statement_ms}",
                autocommit=True,
                **url.parameters,
            )
        except psycopg.Error as exc:
            raise WarehouseError(
                f"Could not connect to the warehouse {url.redacted}: "
                f"{_scrubbed(exc, url.password)}",
                code="warehouse_unreachable",
                retryable=True,
            ) from exc
        return PostgresSession(connection, url)


class PostgresSession(WarehouseSession):
    def __init__(self, connection: psycopg.Connection, url: "WarehouseURL") -> None:
        self.connection = connection
        self.url = url

    def close(self) -> None:
        self.connection.close()

    def check(self) -> None:
        try:
            self.connection.execute("SELECT 1")
        except psycopg.Error as exc:
            raise WarehouseError(
                f"The warehouse {self.url.redacted} failed a test query: "
                f"{_scrubbed(exc, self.url.password)}",
                code="warehouse_unavailable",
                retryable=True,
            ) from exc

    def insert(self, table: TableSpec, rows: list[dict[str, Any]]) -> WriteResult:
        names = [column.name for column in table.columns]
        statement = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values})").format(
            table=sql.Identifier(table.name),
            columns=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
        )
        with _ErrorTranslation(table.name, self.url), self.connection.transaction():
            self._ensure_table(table)
            with self.connection.cursor() as cursor:
                cursor.executemany(statement, [self._params(table, r) for r in rows])
        return WriteResult(inserted=len(rows))

    def upsert(self, table: TableSpec, rows: list[dict[str, Any]]) -> WriteResult:
        statement = _upsert_statement(table)
        inserted = updated = 0
        with _ErrorTranslation(table.name, self.url), self.connection.transaction():
            self._ensure_table(table)
            with self.connection.cursor() as cursor:
                for row in rows:
                    cursor.execute(statement, self._params(table, row))
                    result = cursor.fetchone()
                    if result is None:
                        continue
                    if result[0]:
                        inserted += 1
                    else:
                        updated += 1
        return WriteResult(
            inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated
        )

    def _params(self, table: TableSpec, row: dict[str, Any]) -> list[Any]:
        params = []
        for column in table.columns:
            value = row.get(column.name)
            if column.type == columns.JSONB and value is not None:
                value = Jsonb(value)
            params.append(value)
        return params

    def _ensure_table(self, table: TableSpec) -> None:
        """Create the table if missing, add missing columns, reject other types.

        Runs inside the write's transaction. An advisory lock on the table's
        name keeps two steps from creating the same table at once.
        """
        cursor = self.connection.cursor()
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || %s))",
            [table.name],
        )
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            [table.name],
        )
        existing = dict(cursor.fetchall())
        if not existing:
            cursor.execute(_create_statement(table))
            logger.info(
                "warehouse.table.created",
                extra={"table": table.name, "warehouse": self.url.redacted},
            )
            return
        for column in table.columns:
            found = existing.get(column.name)
            if found is None:
                cursor.execute(
                    sql.SQL("ALTER TABLE {table} ADD COLUMN {column} {type}").format(
                        table=sql.Identifier(table.name),
                        column=sql.Identifier(column.name),
                        type=sql.SQL(TYPE_NAMES[column.type]),
                    )
                )
            elif found not in COMPATIBLE_TYPES[column.type]:
                raise WarehouseError(
                    f"The table {table.name!r} has the column {column.name!r} of "
                    f"type {found}, but the step declares it {column.type}; "
                    f"declare the column as {found}, write to another table, or "
                    f"change the column's type in the warehouse.",
                    code="warehouse_column_type_mismatch",
                )
        if table.key:
            self._require_unique_key(cursor, table)

    def _require_unique_key(self, cursor: psycopg.Cursor, table: TableSpec) -> None:
        cursor.execute(
            "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisunique "
            "AND i.indpred IS NULL GROUP BY i.indexrelid",
            [sql.Identifier(table.name).as_string(self.connection)],
        )
        expected = sorted(table.key)
        if any(sorted(found) == expected for (found,) in cursor.fetchall()):
            return
        key = ", ".join(table.key)
        raise WarehouseError(
            f"The table {table.name!r} has no unique constraint on ({key}), which "
            f"an upsert by that key needs; add one with ALTER TABLE {table.name} "
            f"ADD UNIQUE ({key}), or write to a new table.",
            code="warehouse_key_not_unique",
        )


class _ErrorTranslation:
    """Turn a psycopg error into a WarehouseError that names the table."""

    def __init__(self, table: str, url: "WarehouseURL") -> None:
        self.table = table
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or not isinstance(error, psycopg.Error):
            return False
        reason = _scrubbed(error, self.url.password)
        if isinstance(error, psycopg.OperationalError | psycopg.errors.QueryCanceled):
            raise WarehouseError(
                f"The warehouse {self.url.redacted} failed while writing to "
                f"{self.table!r}: {reason}",
                code="warehouse_unavailable",
                retryable=True,
            ) from error
        if isinstance(error, psycopg.errors.InsufficientPrivilege):
            raise WarehouseError(
                f"The warehouse user {self.url.user!r} may not write to "
                f"{self.table!r}: {reason}; grant it the privilege or connect "
                "another user.",
                code="warehouse_permission_denied",
            ) from error
        raise WarehouseError(
            f"The warehouse rejected the rows for {self.table!r}: {reason}",
            code="warehouse_write_failed",
        ) from error


def _create_statement(table: TableSpec) -> sql.Composed:
    parts = [
        sql.SQL("{} {}").format(
            sql.Identifier(column.name), sql.SQL(TYPE_NAMES[column.type])
        )
        for column in table.columns
    ]
    if table.key:
        parts.append(
            sql.SQL("PRIMARY KEY ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, table.key))
            )
        )
    return sql.SQL("CREATE TABLE {table} ({parts})").format(
        table=sql.Identifier(table.name), parts=sql.SQL(", ").join(parts)
    )


def _upsert_statement(table: TableSpec) -> sql.Composed:
    """Build INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE ... RETURNING.

    The WHERE clause skips the update when the stored version is newer than
    or equal to the incoming one, or, without a version column, when no value
    changed. ``xmax = 0`` is true for a row this statement inserted; a row the
    WHERE clause skipped returns nothing.
    """
    names = [column.name for column in table.columns]
    others = [name for name in names if name not in table.key]
    target = sql.Identifier(table.name)

    def stored(name: str) -> sql.Composable:
        return sql.SQL("{}.{}").format(target, sql.Identifier(name))

    def incoming(name: str) -> sql.Composable:
        return sql.SQL("EXCLUDED.{}").format(sql.Identifier(name))

    if table.version_column:
        version = table.version_column
        condition = sql.SQL("{stored} IS NULL OR {stored} < {incoming}").format(
            stored=stored(version), incoming=incoming(version)
        )
    else:
        condition = sql.SQL("({stored}) IS DISTINCT FROM ({incoming})").format(
            stored=sql.SQL(", ").join(stored(n) for n in others),
            incoming=sql.SQL(", ").join(incoming(n) for n in others),
        )
    if others:
        action = sql.SQL("DO UPDATE SET {assignments} WHERE {condition}").format(
            assignments=sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(n), incoming(n))
                for n in others
            ),
            condition=condition,
        )
    else:
        action = sql.SQL("DO NOTHING")
    return sql.SQL(
        "INSERT INTO {table} ({columns}) VALUES ({values}) "
        "ON CONFLICT ({key}) {action} RETURNING (xmax = 0)"
    ).format(
        table=target,
        columns=sql.SQL(", ").join(map(sql.Identifier, names)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(names)),
        key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        action=action,
    )


def _scrubbed(error: BaseException, password: str) -> str:
    """Return the driver's message, with the password removed if it appears."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    message = message or type(error).__name__
    if password:
        message = message.replace(password, "***")
    return message


POSTGRES = PostgresBackend(
    key="postgresql",
    title="PostgreSQL",
    schemes=("postgresql", "postgres"),
    default_port=5432,
    available=True,
    type_names=TYPE_NAMES,
)
