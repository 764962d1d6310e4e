"""Django settings, read from the environment with django-environ.

Without any environment the project runs embedded: SQLite in ``var/``, jobs
executed in-process, loopback outbound URLs allowed. Production sets at least
``SECRET_KEY``, ``ENCRYPTION_KEY``, ``DATABASE_URL``, ``REDIS_URL`` and
``ALLOWED_HOSTS``.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))

DEBUG = env.bool("DEBUG", default=False)

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
ALLOW_INSECURE_DEFAULTS = env.bool("ALLOW_INSECURE_DEFAULTS", default=True)
if not ALLOW_INSECURE_DEFAULTS and _DEV_SECRET_KEY in (SECRET_KEY, ENCRYPTION_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY and ENCRYPTION_KEY must be set when "
        "ALLOW_INSECURE_DEFAULTS is false."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
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

# Jobs: with REDIS_URL set, runs go through RQ; without it they execute in a
# thread of the process that accepted the event.
REDIS_URL = env.str("REDIS_URL", default="")
RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        "DEFAULT_TIMEOUT": env.int("RQ_DEFAULT_TIMEOUT", default=300),
    },
}
# The non-forking worker keeps imported code and compiled versions between
# jobs; the forking default re-imports Django for every job.
RQ = {"WORKER_CLASS": "rq.worker.SimpleWorker"}
JOBS_IN_PROCESS = not REDIS_URL

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "alloy.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# Shopify: the platform's Shopify app. The client secret signs webhooks. With
# SHOPIFY_API_URL set (the sandbox's address), every shop is reached there and
# addressed by its domain in the Host header.
SHOPIFY_CLIENT_SECRET = env.str("SHOPIFY_CLIENT_SECRET", default="dev-shopify-secret")
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2026-07")
SHOPIFY_API_URL = env.str("SHOPIFY_API_URL", default="")
SHOPIFY_REQUEST_TIMEOUT = env.float("SHOPIFY_REQUEST_TIMEOUT", default=10.0)

# The address at which Shopify reaches this deployment's webhook endpoint.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# Stream execution data deliveries, and the seconds before each retry of a
# failed one (jittered by +-20%).
STREAM_REQUEST_TIMEOUT = env.float("STREAM_REQUEST_TIMEOUT", default=10.0)
STREAM_RETRY_DELAYS = [
    float(delay)
    for delay in env.list(
        "STREAM_RETRY_DELAYS", default=["2", "10", "60", "300", "1800"]
    )
]

# Intake limits.
EVENT_MAX_BODY_BYTES = env.int("EVENT_MAX_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = EVENT_MAX_BODY_BYTES

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
