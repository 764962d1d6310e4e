"""The Custom Event trigger: an event the author's app sends, with its own schema."""

from connectors.registry import Connector, Trigger, register

CUSTOM_EVENT = "custom_event"

connector = register(
    Connector(
        key="custom",
        title="Custom Event",
        triggers={
            CUSTOM_EVENT: Trigger(
                connector="custom",
                name=CUSTOM_EVENT,
                title="Custom Event",
                description=(
                    "Starts a run when your app sends this event to "
                    "POST /api/v1/events; its data must match the schema you define."
                ),
            )
        },
    )
)
