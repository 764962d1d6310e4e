"""Test settings: the project's settings against the local PostgreSQL and Redis."""

import hashlib
import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
# Database 15 is flushed before every test.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SHOPIFY_CLIENT_SECRET", "test-shopify-client-secret")
os.environ.setdefault("STREAM_RETRY_DELAYS", "1,1")
# The sandbox, the receivers and the live server listen on loopback.
os.environ.setdefault("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
os.environ.setdefault("STEP_RETRY_BASE_DELAY", "0.2")
os.environ.setdefault("STEP_RETRY_MAX_DELAY", "5")
# A burst worker ends when the queue is empty; an idle drain job would hold it.
os.environ.setdefault("RUN_DRAIN_LINGER", "0.01")

from alloy.settings import *  # noqa: F403

# A test database per checkout, so that suites run from two clones on one
# machine do not drop each other's database. They still share the Redis
# database unless REDIS_URL differs.
_checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8]  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": f"test_alloy_{_checkout}"}  # noqa: F405
# The database that plays a customer's warehouse in the warehouse tests.
WAREHOUSE_TEST_DATABASE = f"alloy_test_warehouse_{_checkout}"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
