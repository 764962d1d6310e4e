"""Warehouse connection URLs: parsing, the supported schemes, and redaction."""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from connectors.warehouse.backends import BACKENDS, backend_for_scheme

# Query parameters passed on to the driver. Others are rejected, because
# libpq reads ``host``, ``hostaddr``, ``service`` and ``passfile`` from the
# query too, which would bypass the outbound address check.
ALLOWED_PARAMETERS = frozenset({"sslmode", "application_name"})
# The text shown in place of a password, or of a rejected parameter's value.
REDACTED = "***"
SSL_MODES = frozenset(
    {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
)


class WarehouseURLError(ValueError):
    """A warehouse URL that does not parse, or names an unsupported warehouse."""


@dataclass(frozen=True)
class WarehouseURL:
    backend: str
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def redacted(self) -> str:
        """The URL with its password shown as ``***``, safe to show and log."""
        user = quote(self.user, safe="") if self.user else ""
        if user and self.password:
            user += f":{REDACTED}"
        user_info = f"{user}@" if user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{user_info}{host}:{self.port}/{self.database}"


def redact(url: str) -> str:
    """Return ``url`` with its secrets replaced by ``***``, even if it is invalid.

    The password before the host is replaced, and so is the value of every
    query parameter except those in ALLOWED_PARAMETERS, since a rejected
    parameter such as ``?password=...`` may carry a secret too.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(a URL that does not parse)"
    if password:
        netloc = parts.netloc.replace(f":{password}@", f":{REDACTED}@", 1)
        parts = parts._replace(netloc=netloc)
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        safe_pairs = [
            (name, value if name in ALLOWED_PARAMETERS else REDACTED)
            for name, value in pairs
        ]
        parts = parts._replace(query=urlencode(safe_pairs, safe="*"))
    return parts.geturl()


def warehouse_url_parse(url: str) -> WarehouseURL:
    """Parse a ``postgresql://user:password@host:port/database`` URL.

    Raises WarehouseURLError naming what is wrong, with the password redacted:
    an unknown scheme, a warehouse not available yet, or a missing host,
    database or user.
    """
    if not isinstance(url, str) or not url.strip():
        raise WarehouseURLError(
            "The warehouse URL is empty; enter a postgresql:// URL."
        )
    safe_url = redact(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} is invalid: {exc}."
        ) from exc
    backend = backend_for_scheme(parts.scheme)
    if backend is None:
        schemes = ", ".join(f"{s}://" for b in BACKENDS for s in b.schemes)
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} has the unsupported scheme "
            f"{parts.scheme!r}; use one of {schemes}."
        )
    if not backend.available:
        raise WarehouseURLError(
            f"{backend.title} warehouses are not available yet; connect a "
            "PostgreSQL warehouse with a postgresql:// URL."
        )
    host = parts.hostname or ""
    if not host or "," in parts.netloc:
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} has no host, or several; give one host, "
            "as in postgresql://user:password@db.example.com:5432/analytics."
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} names no database; add it after the host, "
            "as in postgresql://user:password@db.example.com:5432/analytics."
        )
    user = unquote(parts.username or "")
    if not user:
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} names no user; add one before the host, "
            "as in postgresql://user:password@db.example.com:5432/analytics."
        )
    return WarehouseURL(
        backend=backend.key,
        host=host,
        port=port or backend.default_port,
        database=database,
        user=user,
        password=unquote(parts.password or ""),
        parameters=_parameters(parts.query, safe_url),
    )


def _parameters(query: str, safe_url: str) -> dict[str, str]:
    parameters = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(parameters) - ALLOWED_PARAMETERS)
    if unknown:
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} has the unsupported parameter "
            f"{unknown[0]!r}; only {', '.join(sorted(ALLOWED_PARAMETERS))} "
            "may follow the '?'."
        )
    mode = parameters.get("sslmode")
    if mode is not None and mode not in SSL_MODES:
        raise WarehouseURLError(
            f"The warehouse URL {safe_url} has the invalid sslmode {mode!r}; use one "
            f"of {', '.join(sorted(SSL_MODES))}."
        )
    return parameters
