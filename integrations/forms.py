"""Forms of the builder's integration pages."""

from django import forms

from connectors import registry
from connectors.warehouse.backends import BACKENDS, backend_get

# Blocks of every integration rather than apps to build one around.
BUILT_IN_CONNECTORS = frozenset({"custom", "logic", "schedule", "utility"})


def app_choices() -> list[tuple[str, str]]:
    """Apps an integration can be centred on: connectors with actions or events.

    Custom Event and Schedule are triggers of the platform, which any
    integration can use, so neither is an app.
    """
    return [
        (connector.key, connector.title)
        for connector in registry.connector_list()
        if connector.key not in BUILT_IN_CONNECTORS
    ]


class IntegrationCreateForm(forms.Form):
    app = forms.ChoiceField(label="App", choices=app_choices, widget=forms.RadioSelect)
    name = forms.CharField(label="Integration name", max_length=200)
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AppSearchForm(forms.Form):
    q = forms.CharField(label="Search apps", required=False, max_length=100)

    def matches(self) -> list[tuple[str, str]]:
        query = (self.cleaned_data.get("q") or "").strip().lower()
        return [
            (key, title)
            for key, title in app_choices()
            if not query or query in title.lower() or query in key
        ]


class BackendSelect(forms.Select):
    """A select whose options for warehouses not available yet are disabled."""

    def create_option(self, name, value, label, selected, index, **kwargs):
        option = super().create_option(name, value, label, selected, index, **kwargs)
        backend = backend_get(value)
        if backend is not None and not backend.available:
            option["attrs"]["disabled"] = True
        return option


def backend_choices() -> list[tuple[str, str]]:
    return [
        (b.key, b.title if b.available else f"{b.title} (not available yet)")
        for b in BACKENDS
    ]


class WarehouseConnectForm(forms.Form):
    """The workspace's own warehouse: the kind and the connection URL."""

    backend = forms.ChoiceField(
        label="Warehouse",
        choices=backend_choices,
        initial="postgresql",
        widget=BackendSelect,
    )
    url = forms.CharField(
        label="Connection URL",
        max_length=2000,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}
        ),
        help_text="Such as postgresql://user:password@db.example.com:5432/analytics. "
        "It is checked by connecting, stored encrypted and never shown again.",
    )

    def clean_backend(self) -> str:
        backend = backend_get(self.cleaned_data["backend"])
        if backend is None or not backend.available:
            title = backend.title if backend else self.cleaned_data["backend"]
            raise forms.ValidationError(
                f"{title} warehouses are not available yet; connect PostgreSQL."
            )
        return backend.key
