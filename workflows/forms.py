"""Forms of the workflow builder: triggers, schema fields, actions, mappings, runs."""

import json
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from alloy.jsonbody import (
    InvalidJsonError,
    PayloadTooLargeError,
    first_unstorable,
    json_body_parse,
)
from connectors import registry, schedule
from connectors.schedule.cron import MAX_EXPRESSION_LENGTH
from workflows import blocks, mapping, schema_fields, validation
from workflows.models import Run
from workflows.services.versions import (
    BLOCK_KEY_PATTERN,
    EVENT_NAME_PATTERN,
    MAPPING_TARGET_PATTERN,
    stream_url_problem,
)

# Empty rows a Transform's mapping form offers for new fields.
OPEN_INPUT_ROWS = 3

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
    place = forms.ChoiceField(label="Add to", required=False)

    def __init__(self, *args, places: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["place"].choices = [("", "The end of the workflow")] + (
            places or []
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
        # A Transform's fields are named by the author: its mapped fields,
        # then empty rows to add more.
        self.open_rows = 0
        if validation.input_is_open(action):
            self.targets = [(target, {}, False) for target in sorted(current)]
            self.open_rows = OPEN_INPUT_ROWS
        for index in range(self.open_rows):
            self.fields[f"new_target:{index}"] = forms.CharField(
                label=f"New field {index + 1}: name",
                required=False,
                max_length=255,
            )
            self.fields[f"new_kind:{index}"] = forms.ChoiceField(
                label=f"New field {index + 1}: source",
                choices=MAPPING_KINDS,
                required=False,
            )
            self.fields[f"new_value:{index}"] = forms.CharField(
                label=f"New field {index + 1}: value", required=False
            )
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
        for index in range(self.open_rows):
            self._clean_new_row(data, index)
        return data

    def _clean_new_row(self, data: dict, index: int) -> None:
        name = data.get(f"new_target:{index}", "").strip()
        kind = data.get(f"new_kind:{index}")
        text = data.get(f"new_value:{index}", "")
        if not name:
            if kind and text.strip():
                self.add_error(f"new_target:{index}", "Name the field, or clear it.")
            return
        if not MAPPING_TARGET_PATTERN.match(name):
            self.add_error(
                f"new_target:{index}",
                f"{name!r} is not a field name: use letters, digits and _, joined "
                "by dots for nesting, such as customer.email.",
            )
        elif any(name == target for target, _, _ in self.targets):
            self.add_error(f"new_target:{index}", f"{name!r} is mapped already.")
        if not kind:
            self.add_error(f"new_kind:{index}", "Choose where the value comes from.")
            return
        error = mapping_value_error(kind, mapping_value_parse(kind, text))
        if error:
            self.add_error(f"new_value:{index}", error)

    def mappings(self) -> dict[str, tuple[str, Any]]:
        result = {}
        for target, _, _ in self.targets:
            kind = self.cleaned_data.get(f"kind:{target}")
            if kind:
                text = self.cleaned_data.get(f"value:{target}", "")
                result[target] = (kind, mapping_value_parse(kind, text))
        for index in range(self.open_rows):
            name = self.cleaned_data.get(f"new_target:{index}", "").strip()
            kind = self.cleaned_data.get(f"new_kind:{index}")
            if name and kind:
                text = self.cleaned_data.get(f"new_value:{index}", "")
                result[name] = (kind, mapping_value_parse(kind, text))
        return result

    def new_rows(self) -> list[list]:
        """Return the empty rows for new fields, each as its name, source and value."""
        return [
            [
                self[f"new_target:{index}"],
                self[f"new_kind:{index}"],
                self[f"new_value:{index}"],
            ]
            for index in range(self.open_rows)
        ]


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


FILTER_RULE_ROWS = 3


class BlockConfigForm(forms.Form):
    """The settings of a Filter, Branch, For each or Delay block."""

    def __init__(self, *args, block_type: tuple[str, str], config: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.block_type = block_type
        if block_type in (blocks.FILTER, blocks.BRANCH):
            rules = config.get("rules") or []
            self.fields["condition"] = forms.CharField(
                label="Condition",
                required=False,
                initial="" if rules else config.get("condition", ""),
                widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
                help_text="A JMESPath expression, such as event.total > `100`. False, "
                "null and empty values are false; everything else is true.",
            )
        if block_type == blocks.FILTER:
            self.rule_rows = []
            for index in range(FILTER_RULE_ROWS):
                rule = rules[index] if index < len(rules) else {}
                self.fields[f"rule_field_{index}"] = forms.CharField(
                    label=f"Rule {index + 1}: field",
                    required=False,
                    initial=rule.get("field", ""),
                )
                self.fields[f"rule_operator_{index}"] = forms.ChoiceField(
                    label=f"Rule {index + 1}: operator",
                    required=False,
                    choices=[(op, op) for op in blocks.OPERATORS],
                    initial=rule.get("operator", "=="),
                )
                self.fields[f"rule_value_{index}"] = forms.CharField(
                    label=f"Rule {index + 1}: value",
                    required=False,
                    initial=literal_format(rule["value"]) if "value" in rule else "",
                )
                self.rule_rows.append(
                    [
                        self[f"rule_field_{index}"],
                        self[f"rule_operator_{index}"],
                        self[f"rule_value_{index}"],
                    ]
                )
        if block_type == blocks.FOR_EACH:
            self.fields["items"] = forms.CharField(
                label="Items",
                required=False,
                initial=config.get("items", ""),
                help_text="A JMESPath expression that returns an array, such as "
                "event.line_items. Inside, item is the current item and index "
                "its position from 0.",
            )
            self.fields["limit"] = forms.IntegerField(
                label="Limit",
                required=False,
                min_value=1,
                max_value=settings.FOR_EACH_MAX_ITEMS,
                initial=config.get("limit"),
                help_text="The most items to run; more fails the step. At most "
                f"{settings.FOR_EACH_MAX_ITEMS}, the default.",
            )
        if block_type == blocks.DELAY:
            # The range is checked with the rest of the config, so the
            # message matches the help text: more than 0, at most the maximum.
            self.fields["seconds"] = forms.FloatField(
                label="Wait (seconds)",
                required=False,
                initial=config.get("seconds"),
                help_text="From more than 0 to "
                f"{settings.DELAY_MAX_SECONDS:g} seconds; no worker is held "
                "while the run waits.",
            )

    def config(self) -> dict[str, Any]:
        """Return the settings to store, with filled-in rule rows as ``rules``."""
        data = self.cleaned_data
        config: dict[str, Any] = {}
        if self.block_type == blocks.FILTER:
            rules = []
            for index in range(FILTER_RULE_ROWS):
                field = data.get(f"rule_field_{index}", "").strip()
                if not field:
                    continue
                rule = {"field": field, "operator": data[f"rule_operator_{index}"]}
                if rule["operator"] != "exists":
                    rule["value"] = literal_parse(data.get(f"rule_value_{index}", ""))
                rules.append(rule)
            if rules:
                config["rules"] = rules
        if data.get("condition", "").strip() and "rules" not in config:
            config["condition"] = data["condition"].strip()
        if data.get("items", "").strip():
            config["items"] = data["items"].strip()
        for name in ("limit", "seconds"):
            if data.get(name) is not None:
                value = data[name]
                config[name] = int(value) if float(value).is_integer() else value
        return config
