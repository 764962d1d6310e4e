"""The README's demo command, run as a newcomer runs it, in both of its modes."""

import os
import subprocess
import sys

import pytest
from django.conf import settings


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "demo", "--timeout", "60"],
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


def test_demo_embedded_passes(tmp_path):
    result = run_demo(embedded_env(tmp_path))
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "All checks passed" in output
    assert "sqlite3, in-process jobs" in output
    assert (tmp_path / "alloy.sqlite3").exists()
    assert "order #1001" in output
    assert "tags: ['acme-upgrade-clicked']" in output
    assert output.count("signature valid") == 2


@pytest.mark.django_db(transaction=True)
def test_demo_with_postgres_and_rq_worker(tmp_path):
    from django.db import connection

    database = connection.settings_dict
    env = embedded_env(tmp_path)
    env["DATABASE_URL"] = (
        f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )
    env["REDIS_URL"] = settings.REDIS_URL
    result = run_demo(env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "postgresql, RQ worker" in result.stdout
    assert "All checks passed" in result.stdout
