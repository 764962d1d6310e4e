"""Test settings: the project's settings against the local PostgreSQL and Redis."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# Database 15 is flushed before every test.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SHOPIFY_CLIENT_SECRET", "test-shopify-client-secret")
os.environ.setdefault("STREAM_RETRY_DELAYS", "1,1")

from alloy.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
