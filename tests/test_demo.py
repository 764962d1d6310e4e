"""The README's demo command, run as a newcomer runs it, in both of its modes."""

import os
import subprocess
import sys

import pytest
from django.conf import settings


def run_demo(env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - the demo command with fixed options
        [sys.executable, "manage.py", "demo", "--timeout", "60", *options],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def embedded_env(tmp_path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_SETTINGS_MODULE",
            "OUTBOUND_ALLOWED_NETWORKS",
        }
    }
    env["VAR_DIR"] = str(tmp_path)
    return env


def test_demo_embedded_passes(tmp_path, warehouse_url):
    result = run_demo(embedded_env(tmp_path), "--warehouse-url", warehouse_url)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "All checks passed" in output
    assert "sqlite3, in-process jobs" in output
    assert (tmp_path / "alloy.sqlite3").exists()
    assert "order #1001" in output
    assert "tags: ['acme-upgrade-clicked', 'acme-vip']" in output
    assert output.count("signature valid") == 2


def test_demo_prints_warehouse_rows(tmp_path, warehouse_url):
    output = run_demo(embedded_env(tmp_path), "--warehouse-url", warehouse_url).stdout
    assert f"In the warehouse {warehouse_url}" in output
    assert "| #1001 | 44.98 | USD |" in output
    assert "| Widget | 2 | 19.99" in output
    assert "| Gadget & case | 1 | 5.00" in output
    assert "shopify_customers:" in output
    assert "| jane.doe@example.com | Jane | Doe" in output


def test_demo_without_warehouse_runs_rest(tmp_path):
    result = run_demo(
        embedded_env(tmp_path),
        "--warehouse-url",
        "postgresql://postgres:demo-pw@127.0.0.1:9/warehouse",
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "PostgreSQL at postgresql://postgres:***@127.0.0.1:9/warehouse" in output
    assert "the warehouse workflows are skipped" in output
    assert "demo-pw" not in output
    assert "All checks passed" in output


@pytest.mark.django_db(transaction=True)
def test_demo_with_postgres_and_rq_worker(tmp_path, warehouse_url):
    from django.db import connection

    database = connection.settings_dict
    env = embedded_env(tmp_path)
    env["DATABASE_URL"] = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )
    env["REDIS_URL"] = settings.REDIS_URL
    result = run_demo(env, "--warehouse-url", warehouse_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postgresql, RQ worker" in result.stdout
    assert "shopify_order_lines:" in result.stdout
    assert "All checks passed" in result.stdout
