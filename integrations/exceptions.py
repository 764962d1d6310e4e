"""Errors of the integrations app."""

from alloy.errors import (
    ApplicationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)


class InvalidConnectionError(ValidationError):
    code = "invalid_connection"


class DuplicateError(ConflictError):
    code = "already_exists"


class IntegrationNotFoundError(NotFoundError):
    code = "integration_not_found"


class InvalidTokenError(ApplicationError):
    status_code = 401
    code = "token_invalid"


class OAuthCallbackError(ApplicationError):
    """An app's OAuth redirect that fails a check; nothing is stored."""

    status_code = 400
    code = "oauth_callback_invalid"
