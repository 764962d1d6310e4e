"""Django settings, read from the environment with django-environ.

Without any environment the project runs embedded: SQLite in ``var/``, jobs
executed in-process, loopback outbound URLs allowed. Production sets at least
``SECRET_KEY``, ``ENCRYPTION_KEY``, ``DATABASE_URL``, ``REDIS_URL`` and
``ALLOWED_HOSTS``.
"""

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))


_RATE_PATTERN = re.compile(r"^[1-9][0-9]*/(s|sec|m|min|h|hour|d|day)$")


def _setting(name: str, parse, default, expected: str):
    """Read one variable, or stop at start-up naming it, its value and the fix."""
    try:
        return parse(name, default=default)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"The environment variable {name}={env.str(name)!r} is invalid: "
            f"set it to {expected}."
        ) from exc


def _seconds_list(name: str, default: list[str]) -> list[float]:
    values = [float(item) for item in env.list(name, default=default)]
    if not values or any(value < 0 for value in values):
        raise ValueError(name)
    return values


def _networks(name: str, default: list[str]) -> list[str]:
    values = env.list(name, default=default)
    for value in values:
        ipaddress.ip_network(value, strict=False)
    return values


def _strict_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(name)


def _url(schemes: tuple[str, ...]):
    def read(name: str, default: str) -> str:
        value = env.str(name, default=default)
        parsed = urlsplit(value)
        if value and (
            parsed.scheme not in schemes or not (parsed.netloc or parsed.path)
        ):
            raise ValueError(name)
        return value

    return read


def _positive(parse):
    def read(name: str, default):
        value = parse(name, default=default)
        if value <= 0:
            raise ValueError(name)
        return value

    return read


DEBUG = _setting("DEBUG", _strict_bool, False, "true or false")

# The embedded defaults are for the demo and local development only. A
# deployment that sets DEBUG=False and keeps them would sign sessions and
# encrypt credentials with keys published in this file.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105
_DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktZW5jcnlwdGlvbi1rZXktMzItYnl0ZSE="

SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
# A Fernet key (32 url-safe base64-encoded bytes) that encrypts credentials at
# rest. Generate one with ``python -c "from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())"``.
ENCRYPTION_KEY = env.str("ENCRYPTION_KEY", default=_DEV_ENCRYPTION_KEY)
try:
    _encryption_key_bytes = base64.urlsafe_b64decode(ENCRYPTION_KEY)
except (binascii.Error, ValueError):
    _encryption_key_bytes = b""
if len(_encryption_key_bytes) != 32:
    raise ImproperlyConfigured(
        "The environment variable ENCRYPTION_KEY is not a Fernet key (32 url-safe "
        'base64-encoded bytes); generate one with python -c "from '
        'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())".'
    )
ALLOW_INSECURE_DEFAULTS = _setting(
    "ALLOW_INSECURE_DEFAULTS", _strict_bool, True, "true or false"
)
if not ALLOW_INSECURE_DEFAULTS and (
    SECRET_KEY == _DEV_SECRET_KEY or ENCRYPTION_KEY == _DEV_ENCRYPTION_KEY
):
    raise ImproperlyConfigured(
        "SECRET_KEY and ENCRYPTION_KEY must be set when "
        "ALLOW_INSECURE_DEFAULTS is false."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    # The admin, discovering the apps' admin modules when the URLconf loads.
    "alloy.admin_apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "alloy",
    "integrations",
    "workflows",
    "connectors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "alloy.urls"
WSGI_APPLICATION = "alloy.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'alloy.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded server, the in-process job thread and the demo write from
    # several threads; a busy timeout makes them wait rather than fail.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE"
    )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
else:
    # A connection costs a few milliseconds to open, more than a whole intake
    # request spends in queries, so web and worker processes keep theirs
    # between requests and jobs, checking it before reuse.
    DATABASES["default"]["CONN_MAX_AGE"] = _setting(
        "DATABASE_CONN_MAX_AGE",
        _positive(env.int),
        600,
        "a whole number of seconds above zero",
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "integrations:integration-list"
LOGOUT_REDIRECT_URL = "login"

# Jobs: with REDIS_URL set, runs go through RQ; without it they execute in a
# thread of the process that accepted the event.
REDIS_URL = _setting(
    "REDIS_URL",
    _url(("redis", "rediss", "unix")),
    "",
    "a Redis URL such as redis://127.0.0.1:6379/0, or nothing",
)
RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        "DEFAULT_TIMEOUT": _setting(
            "RQ_DEFAULT_TIMEOUT", _positive(env.int), 300, "a whole number of seconds"
        ),
    },
}
# RQ's SimpleWorker, which keeps imported code and compiled versions between
# jobs where the forking default re-imports Django for every job. With
# --with-scheduler it runs the scheduler and the reconciler in threads rather
# than in processes of their own (see workflows/worker.py).
RQ = {"WORKER_CLASS": "workflows.worker.Worker"}
JOBS_IN_PROCESS = not REDIS_URL

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["alloy.jsonbody.StrictJsonParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "alloy.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "alloy.api.CursorPage",
    "DEFAULT_THROTTLE_CLASSES": ["alloy.api.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": None},
}

# Shopify: the platform's Shopify app. The client secret signs webhooks. With
# SHOPIFY_API_URL set (the sandbox's address), every shop is reached there and
# addressed by its domain in the Host header.
SHOPIFY_CLIENT_SECRET = env.str("SHOPIFY_CLIENT_SECRET", default="dev-shopify-secret")
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2026-07")
SHOPIFY_API_URL = _setting(
    "SHOPIFY_API_URL", _url(("http", "https")), "", "an http(s) URL, or nothing"
)
SHOPIFY_REQUEST_TIMEOUT = _setting(
    "SHOPIFY_REQUEST_TIMEOUT", _positive(env.float), 10.0, "a number of seconds"
)

# The address at which Shopify reaches this deployment's webhook endpoint.
PUBLIC_BASE_URL = _setting(
    "PUBLIC_BASE_URL",
    _url(("http", "https")),
    "http://127.0.0.1:8000",
    "the http(s) URL at which Shopify reaches this server",
)

# Stream execution data deliveries, and the seconds before each retry of a
# failed one (jittered by +-20%).
STREAM_REQUEST_TIMEOUT = _setting(
    "STREAM_REQUEST_TIMEOUT", _positive(env.float), 10.0, "a number of seconds"
)
STREAM_RETRY_DELAYS = _setting(
    "STREAM_RETRY_DELAYS",
    _seconds_list,
    ["2", "10", "60", "300", "1800"],
    "comma-separated seconds, such as 2,10,60",
)

# Warehouse connections: seconds to wait for a connection, and for one
# statement, before the step fails as retryable.
WAREHOUSE_CONNECT_TIMEOUT = _setting(
    "WAREHOUSE_CONNECT_TIMEOUT", _positive(env.int), 5, "a whole number of seconds"
)
WAREHOUSE_STATEMENT_TIMEOUT = _setting(
    "WAREHOUSE_STATEMENT_TIMEOUT", _positive(env.int), 30, "a whole number of seconds"
)

# The warehouse `manage.py demo` writes to; it creates the database if missing.
DEMO_WAREHOUSE_URL = env.str(
    "DEMO_WAREHOUSE_URL",
    default="postgresql://postgres@127.0.0.1:5432/alloy_demo_warehouse",
)

# Intake limits.
EVENT_MAX_BODY_BYTES = _setting(
    "EVENT_MAX_BODY_BYTES", _positive(env.int), 1_048_576, "a whole number of bytes"
)
DATA_UPLOAD_MAX_MEMORY_SIZE = EVENT_MAX_BODY_BYTES
# The deepest nesting of objects and arrays accepted in a JSON body.
JSON_MAX_DEPTH = _setting(
    "JSON_MAX_DEPTH", _positive(env.int), 64, "a whole number of levels"
)

# The JSON API's rate limit per API key, such as 1200/min (s, min, hour, day).
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="1200/min")
if not _RATE_PATTERN.match(API_RATE_LIMIT):
    raise ImproperlyConfigured(
        f"The environment variable API_RATE_LIMIT={API_RATE_LIMIT!r} is invalid: "
        "set it to a count per period, such as 1200/min (periods: s, min, hour, day)."
    )
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key"] = API_RATE_LIMIT
# Rate-limit counters live in the cache: Redis when REDIS_URL is set, so every
# process shares them; process memory otherwise.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Alloy API",
    "DESCRIPTION": "Manage end users, installations, events and runs of a workspace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "workflows.models.Run.Status",
        "RunStepStatusEnum": "workflows.models.RunStep.Status",
        "ConnectionStatusEnum": "integrations.models.Connection.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "alloy.api.add_error_responses",
    ],
}

# The platform's Shopify app, for the connect page's OAuth flow: its client
# id and the access scopes it requests.
SHOPIFY_CLIENT_ID = env.str("SHOPIFY_CLIENT_ID", default="dev-shopify-client-id")
SHOPIFY_SCOPES = env.list(
    "SHOPIFY_SCOPES",
    default=["read_orders", "write_orders", "read_customers", "write_customers"],
)
# Delivery guarantees. Each limit is described in docs/operations.md.
# A running run's lease: its worker renews it every third of this time, and the
# reconciler (manage.py runs_reconcile) takes over a run whose lease expired.
RUN_LEASE_SECONDS = _setting(
    "RUN_LEASE_SECONDS", _positive(env.float), 60.0, "a number of seconds"
)
# A queued run whose job is not in Redis after this long is enqueued again.
RUN_ENQUEUE_GRACE_SECONDS = _setting(
    "RUN_ENQUEUE_GRACE_SECONDS", _positive(env.float), 30.0, "a number of seconds"
)
# New runs wait in a Redis list, and drain jobs execute them in batches (see
# workflows/services/dispatch.py). The three settings below are the most drain
# jobs at once, the most runs popped per batch, and the seconds after which a
# job hands over to a new one.
RUN_DRAIN_SLOTS = _setting(
    "RUN_DRAIN_SLOTS", _positive(env.int), 4, "a whole number of jobs"
)
RUN_DRAIN_BATCH = _setting(
    "RUN_DRAIN_BATCH", _positive(env.int), 16, "a whole number of runs"
)
RUN_DRAIN_SECONDS = _setting(
    "RUN_DRAIN_SECONDS", _positive(env.float), 60.0, "a number of seconds"
)
if RUN_DRAIN_SECONDS > 600:
    # A drain job's RQ timeout is 1800 s, and the run in progress when it
    # hands over may take up to RQ_DEFAULT_TIMEOUT more.
    raise ImproperlyConfigured(
        f"The environment variable RUN_DRAIN_SECONDS={RUN_DRAIN_SECONDS!r} is "
        "invalid: set it to at most 600 seconds."
    )
# Seconds an idle drain job waits for the next run before it ends.
RUN_DRAIN_LINGER = _setting(
    "RUN_DRAIN_LINGER", _positive(env.float), 0.5, "a number of seconds"
)
RUNS_RECONCILE_INTERVAL = _setting(
    "RUNS_RECONCILE_INTERVAL", _positive(env.int), 30, "a whole number of seconds"
)
# The default retry policy of an action step; a block's `retry` config
# overrides it. Delays grow as base * 2**(attempt - 1), with full jitter,
# up to the cap; a Retry-After or throttle wait from the app is honoured.
STEP_RETRY_MAX_ATTEMPTS = _setting(
    "STEP_RETRY_MAX_ATTEMPTS", _positive(env.int), 5, "a whole number of attempts"
)
STEP_RETRY_BASE_DELAY = _setting(
    "STEP_RETRY_BASE_DELAY", _positive(env.float), 2.0, "a number of seconds"
)
STEP_RETRY_MAX_DELAY = _setting(
    "STEP_RETRY_MAX_DELAY", _positive(env.float), 300.0, "a number of seconds"
)
# Custom event schemas: the largest, as JSON bytes, and the deepest nesting of
# objects and arrays a workflow's trigger may declare.
SCHEMA_MAX_BYTES = _setting(
    "SCHEMA_MAX_BYTES", _positive(env.int), 65_536, "a whole number of bytes"
)
SCHEMA_MAX_DEPTH = _setting(
    "SCHEMA_MAX_DEPTH", _positive(env.int), 32, "a whole number of levels"
)
# A step output larger than this, as JSON, is stored truncated and marked.
STEP_OUTPUT_MAX_BYTES = _setting(
    "STEP_OUTPUT_MAX_BYTES", _positive(env.int), 65_536, "a whole number of bytes"
)
# Logic and utility blocks: the most items one For each may run (a block's
# own `limit` may only lower it), the longest wait of a Delay block, and the
# seconds before an HTTP request block's call times out.
FOR_EACH_MAX_ITEMS = _setting(
    "FOR_EACH_MAX_ITEMS", _positive(env.int), 1000, "a whole number of items"
)
DELAY_MAX_SECONDS = _setting(
    "DELAY_MAX_SECONDS", _positive(env.float), 604_800.0, "a number of seconds"
)
HTTP_REQUEST_TIMEOUT = _setting(
    "HTTP_REQUEST_TIMEOUT", _positive(env.float), 10.0, "a number of seconds"
)
# Outbound URLs (stream URLs, the HTTP action) may not reach private,
# loopback, link-local or metadata addresses unless a network listed here
# contains the address. The embedded default allows loopback for the demo.
OUTBOUND_ALLOWED_NETWORKS = _setting(
    "OUTBOUND_ALLOWED_NETWORKS",
    _networks,
    ["127.0.0.0/8", "::1/128"] if JOBS_IN_PROCESS else [],
    "comma-separated networks, such as 127.0.0.0/8,10.1.0.0/16",
)
# HTTPS_ONLY=true for a deployment served over HTTPS only: redirects plain
# HTTP, sends HSTS for a year and marks the session and CSRF cookies secure.
HTTPS_ONLY = _setting("HTTPS_ONLY", _strict_bool, False, "true or false")
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31_536_000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
# Joining the browsers' HSTS preload list binds every subdomain for good, so
# it stays the operator's decision rather than a default.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    # Behind a proxy that terminates TLS and sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# With a token set, /metrics answers only requests that send it as a bearer
# token; without one it is open, so keep it off the public network.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "alloy.logging.RedactSecretsFilter"}},
    "formatters": {
        "keyvalue": {"()": "alloy.logging.KeyValueFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "keyvalue",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "rq.worker": {"level": env.str("RQ_LOG_LEVEL", default="WARNING")},
    },
}
