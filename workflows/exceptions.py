"""Errors of the workflows app, each with a stable code for the API envelope."""

from alloy.errors import ApplicationError, ConflictError, NotFoundError, ValidationError


class ReleasedVersionError(ConflictError):
    """A write was attempted on a released version, which is frozen for good."""

    code = "version_released"

    def __init__(self, version) -> None:
        super().__init__(
            f"Version {version.number} of workflow {version.workflow_id} is released "
            "and cannot be changed; create a new version to edit it."
        )


class ReleaseValidationError(ValidationError):
    code = "release_invalid"


class VersionStateError(ConflictError):
    code = "version_state_invalid"


class EventRejected(ValidationError):
    code = "invalid_event_payload"


class UnknownEventError(NotFoundError):
    code = "unknown_event"


class EndUserNotFoundError(NotFoundError):
    code = "end_user_not_found"


class NotInstalledError(ApplicationError):
    status_code = 409
    code = "integration_not_installed"


class InvalidRunTransition(Exception):
    """A run status change outside the allowed transitions; a programming error."""
