"""Forms of the workflow builder: triggers, schema fields, actions, mappings, runs."""

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from alloy.jsonbody import (
    InvalidJsonError,
    PayloadTooLargeError,
    first_unstorable,
    json_body_parse,
)
from connectors import registry, schedule
from connectors.schedule.cron import MAX_EXPRESSION_LENGTH
from workflows import mapping, schema_fields, validation
from workflows.models import Run
from workflows.services.versions import (
    BLOCK_KEY_PATTERN,
    EVENT_NAME_PATTERN,
    stream_url_problem,
)

MAPPING_KINDS = [
    ("", "Not mapped"),
    (mapping.LITERAL, "Literal"),
    (mapping.EXPRESSION, "Expression"),
    (mapping.TEMPLATE, "Template"),
]


def _operation_choices(kind: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Group each app's triggers or actions (``kind``) by app, for a select."""
    groups = []
    for connector in registry.connector_list():
        options = [
            (f"{connector.key}.{name}", operation.title)
            for name, operation in getattr(connector, kind).items()
        ]
        if options:
            groups.append((connector.title, options))
    return groups


def trigger_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    return _operation_choices("triggers")


def action_choices() -> list:
    return [("", "Choose an app, then an action"), *_operation_choices("actions")]


def parse_json_field(text: str, *, what: str) -> Any:
    """Parse a JSON form field with the API's checks, naming the field in errors."""
    try:
        return json_body_parse(text.encode("utf-8", "surrogatepass"))
    except (InvalidJsonError, PayloadTooLargeError) as exc:
        raise ValidationError(
            exc.message.replace("The body", f"The {what}", 1)
        ) from None


def check_stream_url(value: str) -> str:
    problem = stream_url_problem(value)
    if problem:
        raise ValidationError(
            f"{problem} Enter one such as https://api.example.com/alloy/orders."
        )
    return value


class WorkflowCreateForm(forms.Form):
    name = forms.CharField(max_length=200, label="Workflow name")
    trigger = forms.ChoiceField(label="Trigger", choices=trigger_choices)


class TriggerForm(forms.Form):
    """The trigger block's settings; the schema comes from the JSON or the rows."""

    trigger = forms.ChoiceField(label="Trigger", choices=trigger_choices)
    event_name = forms.CharField(
        label="Event name",
        required=False,
        max_length=200,
        help_text="The name your app sends in POST /api/v1/events, e.g. "
        "order_requested.",
    )
    schema_json = forms.CharField(
        label="JSON Schema",
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text="Edit the schema here or with the fields above, not both at once.",
    )
    schema_original = forms.CharField(required=False, widget=forms.HiddenInput)
    sample_json = forms.CharField(
        label="Sample payload",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="JSON the previews and test runs use as the event's data.",
    )
    cron = forms.CharField(
        label="Cron expression",
        required=False,
        max_length=MAX_EXPRESSION_LENGTH,
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. "
        "0 9 * * mon-fri; or @hourly, @daily, @weekly, @monthly.",
    )
    timezone = forms.CharField(
        label="Time zone",
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "timezone-names", "autocomplete": "off"}),
        help_text="The IANA name the times are read in, e.g. Europe/London.",
    )
    stream_url = forms.CharField(
        label="Stream execution data URL",
        required=False,
        max_length=2000,
        help_text="Every run's data is POSTed here, signed; http or https.",
    )

    def clean_stream_url(self) -> str:
        value = self.cleaned_data["stream_url"].strip()
        return check_stream_url(value) if value else ""

    def clean_event_name(self) -> str:
        value = self.cleaned_data["event_name"].strip()
        if value and not EVENT_NAME_PATTERN.match(value):
            raise ValidationError(
                f"{value!r} is not an event name: use letters, digits and _ . : - "
                "starting with a letter."
            )
        return value

    def clean_sample_json(self) -> Any:
        text = self.cleaned_data["sample_json"].strip()
        return parse_json_field(text, what="sample payload") if text else None

    def clean_schema_json(self) -> Any:
        text = self.cleaned_data["schema_json"].strip()
        if not text:
            return None
        schema = parse_json_field(text, what="JSON Schema")
        problems = validation.check_custom_event_schema(schema, path="$")
        if problems:
            raise ValidationError([p["message"] for p in problems])
        return schema

    def clean_schema_original(self) -> Any:
        text = self.cleaned_data["schema_original"].strip()
        try:
            return json.loads(text) if text else None
        except json.JSONDecodeError:
            return None

    def clean(self) -> dict:
        data = super().clean()
        connector, _, _ = data.get("trigger", "").partition(".")
        if connector == "custom" and not data.get("event_name"):
            self.add_error("event_name", "A custom event needs a name.")
        if connector == schedule.SCHEDULE:
            settings = {key: data.get(key, "").strip() for key in schedule.CONFIG_KEYS}
            for problem in schedule.config_problems(settings, path="$"):
                self.add_error(problem["path"][2:], problem["message"])
        return data


class SchemaFieldForm(forms.Form):
    name = forms.CharField(
        label="Field name",
        required=False,
        max_length=200,
    )
    type = forms.ChoiceField(
        label="Type", choices=[(t, t) for t in schema_fields.FIELD_TYPES]
    )
    items = forms.ChoiceField(
        label="Item type",
        required=False,
        choices=[("", "-")]
        + [(t, t) for t in schema_fields.FIELD_TYPES if t != "array"],
    )
    required = forms.BooleanField(label="Required", required=False)
    description = forms.CharField(label="Description", required=False, max_length=500)


class BaseSchemaFieldFormSet(forms.BaseFormSet):
    def rows(self) -> list[tuple[int, schema_fields.SchemaField]]:
        """Return the filled-in rows as fields, each with its form index."""
        rows = []
        for index, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("name", "").strip():
                rows.append(
                    (
                        index,
                        schema_fields.SchemaField(
                            name=data["name"].strip(),
                            type=data["type"],
                            items=data.get("items", ""),
                            required=data.get("required", False),
                            description=data.get("description", "").strip(),
                        ),
                    )
                )
        return rows

    def build_schema(self, previous: Any) -> dict | None:
        """Return the schema of the rows, or None after adding the row's error."""
        rows = self.rows()
        try:
            return schema_fields.schema_from_fields(
                [row for _, row in rows], previous=previous
            )
        except schema_fields.FieldProblem as problem:
            self.forms[rows[problem.index][0]].add_error("name", problem.message)
            return None


SchemaFieldFormSet = forms.formset_factory(
    SchemaFieldForm, formset=BaseSchemaFieldFormSet, extra=2
)


class ActionAddForm(forms.Form):
    action = forms.ChoiceField(label="App and action", choices=action_choices)
    key = forms.CharField(
        label="Step name",
        max_length=64,
        help_text="Later steps read this step's output as steps.<name>.",
    )

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if not BLOCK_KEY_PATTERN.match(key) or key == "trigger":
            raise ValidationError(
                f"{key!r} is not a step name: use lower-case letters, digits and _, "
                "starting with a letter (not 'trigger')."
            )
        return key


def literal_parse(text: str) -> Any:
    """Read a literal as JSON when it parses, else as the text itself.

    JSON that the database could not store, such as ``"\\ud800"`` or ``NaN``,
    is kept as the text itself too.
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if first_unstorable(value) is not None:
        return text
    return value


def literal_format(value: Any) -> str:
    """Show a literal so that literal_parse reads back the same value."""
    if isinstance(value, str) and literal_parse(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def mapping_value_parse(kind: str, text: str) -> Any:
    return literal_parse(text) if kind == mapping.LITERAL else text


def mapping_value_error(kind: str, value: Any) -> str:
    """Return why a mapping does not parse, or an empty string."""
    try:
        mapping.expressions_of(kind, value)
    except mapping.ExpressionSyntaxError as exc:
        return f"The {kind} does not parse: {exc}"
    return ""


def action_targets(
    action: registry.Action, config: dict | None = None
) -> list[tuple[str, dict, bool]]:
    """List the inputs a mapping can set, as ``(target, schema, required)``.

    An object input's own fields are listed too, as ``customer.email``. An
    action whose targets follow its block's config (a warehouse step's
    columns) lists those.
    """
    if action.input_targets is not None:
        return action.input_targets(config or {})
    required = set(action.required_inputs)
    targets = []
    for name, schema in action.input_schema.get("properties", {}).items():
        targets.append((name, schema, name in required))
        if schema.get("type") == "object":
            for child, child_schema in schema.get("properties", {}).items():
                targets.append((f"{name}.{child}", child_schema, False))
    return targets


class MappingForm(forms.Form):
    """One kind and value per input of an action."""

    def __init__(
        self,
        *args,
        action: registry.Action,
        current: dict,
        config: dict | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.targets = action_targets(action, config)
        for target, schema, required in self.targets:
            kind, value = current.get(target, ("", ""))
            label = target + (" (required)" if required else "")
            self.fields[f"kind:{target}"] = forms.ChoiceField(
                label=f"{label}: source",
                choices=MAPPING_KINDS,
                required=False,
                initial=kind,
            )
            shown = literal_format(value) if kind == mapping.LITERAL else value
            self.fields[f"value:{target}"] = forms.CharField(
                label=f"{label}: value",
                required=False,
                initial=shown if kind else "",
                help_text=schema.get("description", ""),
            )

    def clean(self) -> dict:
        data = super().clean()
        for target, _, _ in self.targets:
            kind = data.get(f"kind:{target}")
            text = data.get(f"value:{target}", "")
            if not kind:
                continue
            if kind != mapping.LITERAL and not text.strip():
                self.add_error(f"value:{target}", f"Enter the {kind}, or unmap it.")
                continue
            error = mapping_value_error(kind, mapping_value_parse(kind, text))
            if error:
                self.add_error(f"value:{target}", error)
        return data

    def mappings(self) -> dict[str, tuple[str, Any]]:
        result = {}
        for target, _, _ in self.targets:
            kind = self.cleaned_data.get(f"kind:{target}")
            if kind:
                text = self.cleaned_data.get(f"value:{target}", "")
                result[target] = (kind, mapping_value_parse(kind, text))
        return result


class PreviewForm(forms.Form):
    target = forms.CharField(max_length=255)
    kind = forms.ChoiceField(choices=MAPPING_KINDS[1:])
    value = forms.CharField(required=False, strip=False)


class TestRunForm(forms.Form):
    sample_json = forms.CharField(
        label="Event data",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )
    connection = forms.TypedChoiceField(
        label="Run",
        coerce=int,
        required=False,
        empty_value=None,
        help_text="Dry evaluates the mappings only; a connection makes real calls.",
    )

    def __init__(self, *args, connections: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connection"].choices = [("", "Dry run: no side effects")] + [
            (c.pk, f"Live: {c.end_user.external_id} ({c.app} {c.account_id})")
            for c in connections
        ]

    def clean_sample_json(self) -> Any:
        return parse_json_field(self.cleaned_data["sample_json"], what="event data")


class RunFilterForm(forms.Form):
    workflow = forms.TypedChoiceField(
        label="Workflow", coerce=int, required=False, empty_value=None
    )
    version = forms.IntegerField(label="Version", required=False, min_value=1)
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any"), *Run.Status.choices]
    )
    end_user = forms.CharField(label="End user id", required=False, max_length=255)
    since = forms.DateTimeField(
        label="From",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = forms.DateTimeField(
        label="Until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, workflows: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workflow"].choices = [("", "Any")] + [
            (w.pk, f"{w.integration.name}: {w.name}") for w in workflows
        ]


class DiffForm(forms.Form):
    older = forms.TypedChoiceField(label="Compare version", coerce=int)
    newer = forms.TypedChoiceField(label="with version", coerce=int)

    def __init__(self, *args, numbers: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(n, f"v{n}") for n in numbers]
        self.fields["older"].choices = choices
        self.fields["newer"].choices = choices
