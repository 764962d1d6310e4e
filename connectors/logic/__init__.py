"""Logic and utility blocks: Filter, Branch, For each, Transform and Delay.

Filter, Branch, For each and Delay steer the run, so the engine executes them
itself from each block's config (see workflows/blocks.py). Their actions here
give the builder and release validation their names and output schemas.
Transform is an ordinary action whose output is its mapped input.
"""

from typing import Any

from connectors.registry import Action, ActionContext, Connector, register

NO_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}


def _executed_by_engine(context: ActionContext, data: dict[str, Any]) -> dict:
    raise RuntimeError("The engine executes this block from its config.")


def transform(context: ActionContext, data: dict[str, Any]) -> dict[str, Any]:
    return data


def _engine_block(name: str, title: str, description: str, output: dict) -> Action:
    return Action(
        connector="logic" if name != "delay" else "utility",
        name=name,
        title=title,
        description=description,
        input_schema=NO_INPUT,
        output_schema={"type": "object", "properties": output},
        execute=_executed_by_engine,
        requires_connection=False,
    )


logic = register(
    Connector(
        key="logic",
        title="Logic",
        actions={
            "filter": _engine_block(
                "filter",
                "Filter",
                "Stops the run, marked as filtered, when the condition is false.",
                {"passed": {"type": "boolean"}},
            ),
            "branch": _engine_block(
                "branch",
                "Branch",
                "Runs the Then blocks when the condition is true, else the Else "
                "blocks.",
                {
                    "branch": {"type": "string", "enum": ["then", "else"]},
                    "condition": {"type": "boolean"},
                },
            ),
            "for_each": _engine_block(
                "for_each",
                "For each",
                "Runs its blocks once per item of an array, each item a step of "
                "its own.",
                {"count": {"type": "integer"}},
            ),
        },
    )
)

utility = register(
    Connector(
        key="utility",
        title="Utility",
        actions={
            "transform": Action(
                connector="utility",
                name="transform",
                title="Transform",
                description="Builds an object from mappings, for later steps to read.",
                input_schema={"type": "object", "additionalProperties": True},
                output_schema={"type": "object"},
                execute=transform,
                requires_connection=False,
                side_effects=False,
            ),
            "delay": _engine_block(
                "delay",
                "Delay",
                "Waits a number of seconds without holding a worker, then goes on.",
                {
                    "seconds": {"type": "number"},
                    "resume_at": {"type": "string", "format": "date-time"},
                },
            ),
        },
    )
)
