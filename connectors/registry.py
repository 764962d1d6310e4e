"""The connector registry: each app's triggers and actions, with their JSON Schemas.

A connector package registers one :class:`Connector` at import time; the rest
of the project finds triggers and actions here by ``(connector, name)`` and
never handles an app's wire format.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JSONSchema = dict[str, Any]


class ActionError(Exception):
    """An action failed; the step records the code, the message and each field.

    ``retryable`` marks failures worth another attempt (timeouts, throttling,
    5xx); validation failures and rejected credentials are not.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        fields: list[dict[str, str]] | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or []
        self.retryable = retryable
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "fields": self.fields,
            "retryable": self.retryable,
        }
        if self.retry_after is not None:
            error["retry_after"] = self.retry_after
        return error


@dataclass(frozen=True)
class ActionContext:
    """The end user's connection and idempotency key, passed to an action."""

    account_id: str
    credentials: dict[str, Any]
    # Unique per run step and stable across retries of that step, so an action
    # can tag its side effect with it and find it again.
    idempotency_key: str
    # True when an earlier attempt of this step may have taken effect (the
    # worker died during the call, or the call timed out): an action with a
    # side effect looks for it by the idempotency key before acting again.
    outcome_unknown: bool = False
    # The step's block config, for actions configured beyond their mappings.
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Trigger:
    connector: str
    name: str
    title: str
    description: str
    # The webhook topic for app events; None for triggers the author's app fires.
    topic: str | None = None
    # JSON Schema of the event data; a custom event defines its own per block.
    output_schema: JSONSchema | None = None
    # An example of the event data, the default sample payload of a test run.
    sample: dict[str, Any] | None = None


@dataclass(frozen=True)
class Action:
    connector: str
    name: str
    title: str
    description: str
    input_schema: JSONSchema
    output_schema: JSONSchema
    execute: Callable[[ActionContext, dict[str, Any]], dict[str, Any]]
    requires_connection: bool = True
    # Check a block's config and its mapping targets, and return the problems,
    # each with a path such as ``$.config.table``. None for actions without config.
    config_problems: (
        Callable[[dict[str, Any], list[str]], list[dict[str, str]]] | None
    ) = None
    # The mapping targets a block's config defines, as ``(target, schema,
    # required)``. None when the input schema's properties are the targets.
    input_targets: (
        Callable[[dict[str, Any]], list[tuple[str, JSONSchema, bool]]] | None
    ) = None
    # Return the input as the step record keeps it, with credentials hidden.
    redact_input: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # False for an action that only computes its output, such as Transform:
    # a dry test run calls it, where other actions get a stand-in output.
    side_effects: bool = True

    @property
    def required_inputs(self) -> list[str]:
        return list(self.input_schema.get("required", []))


@dataclass(frozen=True)
class Connector:
    key: str
    title: str
    triggers: dict[str, Trigger] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)
    # Check a new connection's account id and credentials; returns bad fields.
    validate_connection: (
        Callable[[str, dict[str, Any]], list[dict[str, str]]] | None
    ) = None
    # Make the account's webhook subscriptions to this deployment exactly
    # these topics: create the missing ones, delete the rest.
    sync_subscriptions: Callable[[str, dict[str, Any], list[str]], None] | None = None


_connectors: dict[str, Connector] = {}


def register(connector: Connector) -> Connector:
    if connector.key in _connectors:
        raise ValueError(f"Connector {connector.key!r} is already registered.")
    _connectors[connector.key] = connector
    return connector


def connector_list() -> list[Connector]:
    return sorted(_connectors.values(), key=lambda c: c.title)


def connector_get(key: str) -> Connector | None:
    return _connectors.get(key)


def trigger_get(connector: str, name: str) -> Trigger | None:
    app = _connectors.get(connector)
    return app.triggers.get(name) if app else None


def action_get(connector: str, name: str) -> Action | None:
    app = _connectors.get(connector)
    return app.actions.get(name) if app else None


def trigger_for_topic(connector: str, topic: str) -> Trigger | None:
    app = _connectors.get(connector)
    if app is None:
        return None
    for trigger in app.triggers.values():
        if trigger.topic == topic:
            return trigger
    return None
