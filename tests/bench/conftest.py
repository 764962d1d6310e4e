"""Fixtures of the bench tests: a database name and ports of their own."""

import hashlib

import psycopg
import pytest
from django.conf import settings

from alloy.bench.options import DEFAULT_POSTGRES_URL


@pytest.fixture(scope="module")
def bench_database():
    """The bench's database name for this checkout, dropped after the test."""
    checkout = hashlib.sha256(str(settings.BASE_DIR).encode()).hexdigest()[:8]
    name = f"test_alloy_bench_{checkout}"
    yield name
    with psycopg.connect(f"{DEFAULT_POSTGRES_URL}/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
