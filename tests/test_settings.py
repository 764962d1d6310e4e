"""Settings read from the environment: bad values stop start-up with their name."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def _check(**variables: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **variables}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("EVENT_MAX_BODY_BYTES", "-1"),
        ("STREAM_RETRY_DELAYS", "2,soon"),
        ("SHOPIFY_REQUEST_TIMEOUT", "ten"),
        ("REDIS_URL", "localhost:6379"),
        ("PUBLIC_BASE_URL", "ftp://example.test"),
        ("RUN_DRAIN_SLOTS", "0"),
        ("RUN_DRAIN_BATCH", "many"),
    ],
)
def test_invalid_setting_named_in_error(name, value):
    result = _check(**{name: value})
    assert result.returncode != 0
    assert f"{name}={value!r} is invalid" in result.stderr


def test_drain_job_lifetime_capped():
    result = _check(RUN_DRAIN_SECONDS="3600")
    assert result.returncode != 0
    assert "RUN_DRAIN_SECONDS=3600.0 is invalid: set it to at most 600" in result.stderr


def test_invalid_encryption_key_rejected():
    result = _check(ENCRYPTION_KEY="not-a-key")
    assert "ENCRYPTION_KEY is not a Fernet key" in result.stderr


def test_production_refuses_development_encryption_key():
    result = _check(ALLOW_INSECURE_DEFAULTS="false", SECRET_KEY="a-real-secret")
    assert "must be set when ALLOW_INSECURE_DEFAULTS is false" in result.stderr


def test_default_settings_pass_check():
    result = _check()
    assert result.returncode == 0, result.stderr


def test_check_deploy_clean_with_production_env():
    """``check --deploy`` reports nothing with the documented production variables."""
    import os
    import subprocess
    import sys

    from cryptography.fernet import Fernet
    from django.conf import settings

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "alloy.settings",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-variety-0123456789",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ALLOW_INSECURE_DEFAULTS": "false",
        "ALLOWED_HOSTS": "alloy.example.com",
        "HTTPS_ONLY": "true",
        "DATABASE_URL": "sqlite:///:memory:",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
