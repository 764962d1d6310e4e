"""The warehouses a step can write to, by URL scheme."""

from connectors.warehouse.backends.base import (
    Column,
    TableSpec,
    WarehouseBackend,
    WarehouseError,
    WarehouseSession,
    WriteResult,
)
from connectors.warehouse.backends.postgres import POSTGRES

SNOWFLAKE = WarehouseBackend(
    key="snowflake",
    title="Snowflake",
    schemes=("snowflake",),
    default_port=443,
    available=False,
    type_names={},
)
BIGQUERY = WarehouseBackend(
    key="bigquery",
    title="BigQuery",
    schemes=("bigquery",),
    default_port=443,
    available=False,
    type_names={},
)
BACKENDS = (POSTGRES, SNOWFLAKE, BIGQUERY)


def backend_for_scheme(scheme: str) -> WarehouseBackend | None:
    for backend in BACKENDS:
        if scheme.lower() in backend.schemes:
            return backend
    return None


def backend_get(key: str) -> WarehouseBackend | None:
    return next((b for b in BACKENDS if b.key == key), None)


__all__ = [
    "BACKENDS",
    "Column",
    "TableSpec",
    "WarehouseBackend",
    "WarehouseError",
    "WarehouseSession",
    "WriteResult",
    "backend_for_scheme",
    "backend_get",
]
