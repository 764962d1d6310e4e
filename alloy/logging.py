"""Logging setup: a key=value formatter and a filter that redacts secrets."""

import logging
import re
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
) | {"message", "asctime", "taskName"}

_SECRET_PATTERNS = [
    # Platform API keys, Shopify access tokens and signing secrets.
    re.compile(r"\b(ak_live|ak_test|shpat|shpss|whsec)_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=]{8,}"),
    re.compile(r"(?i)(x-shopify-access-token['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
]
# Names whose values are credentials, compared lower-case: JSON keys, log
# record attributes, and request and response header names. Every run record
# shown or stored goes through redact_value, so the rule is the same everywhere.
SECRET_NAMES = frozenset(
    {
        "access_token",
        "token",
        "secret",
        "signing_secret",
        "password",
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
        "x-shopify-access-token",
    }
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + "[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


def is_secret_name(name: str) -> bool:
    """True when a key or header called ``name`` contains a credential."""
    return name.lower() in SECRET_NAMES


def redact_value(value: Any) -> Any:
    """Return a JSON value with secret-named keys and credential-shaped text hidden."""
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_name(key) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


class RedactSecretsFilter(logging.Filter):
    """Replace anything shaped like a credential in a record with ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {
                key: redact(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        elif record.args:
            record.args = tuple(
                redact(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS:
                continue
            if is_secret_name(key):
                setattr(record, key, REDACTED)
            elif isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class KeyValueFormatter(logging.Formatter):
    """Format ``time level logger event key=value ...`` with the `extra` ids."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD_ATTRS
        ]
        if extras:
            line = f"{line} {' '.join(extras)}"
        return redact(line)
