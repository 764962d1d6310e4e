"""The warehouse backend interface: connect, check, ensure a table, insert, upsert.

A backend turns the connector's column types into its own SQL types and
writes one step's rows in one transaction. PostgreSQL is implemented;
Snowflake and BigQuery are declared so that the builder can list them, and
report that they are not available yet.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.warehouse.connection_url import WarehouseURL


class WarehouseError(Exception):
    """A warehouse call failed; ``retryable`` marks a failure worth another try."""

    def __init__(self, message: str, *, code: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class Column:
    name: str
    # One of connectors.warehouse.columns.COLUMN_TYPES.
    type: str


@dataclass(frozen=True)
class TableSpec:
    """A destination table as a step's config declares it."""

    name: str
    columns: tuple[Column, ...]
    # The columns that identify a row for an upsert, empty for plain inserts.
    key: tuple[str, ...] = ()
    # A column such as updated_at: an upsert never replaces a row whose value
    # in it is newer than the incoming row's.
    version_column: str | None = None


@dataclass(frozen=True)
class WriteResult:
    inserted: int = 0
    updated: int = 0
    # Rows an upsert left as they were: the same values, or an older version.
    unchanged: int = 0


class WarehouseSession(ABC):
    """An open connection to one warehouse, in which each write is one transaction."""

    @abstractmethod
    def check(self) -> None:
        """Run a trivial query, raising WarehouseError if the warehouse fails it."""

    @abstractmethod
    def insert(self, table: TableSpec, rows: list[dict[str, Any]]) -> WriteResult:
        """Create the table if missing, then insert every row, or none of them."""

    @abstractmethod
    def upsert(self, table: TableSpec, rows: list[dict[str, Any]]) -> WriteResult:
        """Create the table if missing, then insert or update every row by the key.

        A row whose stored version is newer than the incoming one is left
        unchanged. Writes every row or none of them.
        """

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "WarehouseSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclass(frozen=True)
class WarehouseBackend:
    key: str
    title: str
    schemes: tuple[str, ...]
    default_port: int
    # False for warehouses the builder lists as not available yet.
    available: bool
    # The SQL type of each connector column type, e.g. ``numeric`` -> NUMERIC.
    type_names: dict[str, str]

    def connect(self, url: "WarehouseURL", *, timeout: int) -> WarehouseSession:
        raise WarehouseError(
            f"{self.title} warehouses are not available yet.",
            code="warehouse_not_available",
        )
