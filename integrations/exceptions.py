"""Errors of the integrations app."""

from alloy.errors import ConflictError, NotFoundError, ValidationError


class InvalidConnectionError(ValidationError):
    code = "invalid_connection"


class DuplicateError(ConflictError):
    code = "already_exists"


class IntegrationNotFoundError(NotFoundError):
    code = "integration_not_found"
