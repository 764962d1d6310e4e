"""The builder's form for a warehouse step's table, columns, key and rows."""

from django import forms

from connectors.warehouse.columns import COLUMN_TYPE_DESCRIPTIONS, COLUMN_TYPES
from workflows.models import Block

COLUMN_TYPES_HELP = "; ".join(
    f"{name} ({COLUMN_TYPE_DESCRIPTIONS[name]})" for name in COLUMN_TYPES
)
# The form field that shows a config problem, by the problem's path.
CONFIG_ERROR_FIELDS = {
    "$.config.table": "table",
    "$.config.columns": "columns",
    "$.config.key": "key",
    "$.config.version_column": "version_column",
    "$.config.rows_from": "rows_from",
}


class WarehouseStepForm(forms.Form):
    # The editor's Add step form has a field named key too.
    prefix = "config"

    table = forms.CharField(
        label="Table",
        max_length=63,
        help_text="Created from the columns below if it does not exist.",
    )
    columns = forms.CharField(
        label="Columns",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=f"One per line: name and type, such as order_id bigint. Types: "
        f"{COLUMN_TYPES_HELP}.",
    )
    key = forms.CharField(
        label="Key",
        required=False,
        help_text="Upsert only: the columns that identify a row, separated by "
        "commas, such as order_id.",
    )
    version_column = forms.CharField(
        label="Version column",
        required=False,
        help_text="Upsert only: a column such as updated_at; a row with a newer "
        "value is never overwritten by an older one.",
    )
    rows_from = forms.CharField(
        label="One row per item of",
        required=False,
        help_text="A JMESPath expression that yields an array, such as "
        "event.line_items; map columns from item, as in item.sku.",
    )

    def clean_columns(self) -> list[dict[str, str]]:
        declared = []
        for number, line in enumerate(self.cleaned_data["columns"].splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise forms.ValidationError(
                    f"Line {number} ({line.strip()!r}) is not a name and a type, "
                    "such as order_id bigint."
                )
            declared.append({"name": parts[0], "type": parts[1].lower()})
        return declared

    def clean_key(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["key"].split(",") if name]

    def config(self) -> dict:
        data = self.cleaned_data
        config: dict = {"table": data["table"].strip(), "columns": data["columns"]}
        if data["key"]:
            config["key"] = data["key"]
        for name in ("version_column", "rows_from"):
            if data[name].strip():
                config[name] = data[name].strip()
        return config

    def add_problems(self, problems: list[dict[str, str]]) -> None:
        """Show a service's config problems on the fields their paths name."""
        for problem in problems:
            path = problem.get("path", "")
            field = next(
                (f for p, f in CONFIG_ERROR_FIELDS.items() if path.startswith(p)),
                None,
            )
            self.add_error(field, problem["message"])


def step_config_form(block: Block) -> WarehouseStepForm:
    config = block.config
    columns = "\n".join(
        f"{c.get('name', '')} {c.get('type', '')}"
        for c in config.get("columns") or []
        if isinstance(c, dict)
    )
    return WarehouseStepForm(
        initial={
            "table": config.get("table", ""),
            "columns": columns,
            "key": ", ".join(config.get("key") or []),
            "version_column": config.get("version_column", ""),
            "rows_from": config.get("rows_from", ""),
        }
    )
