"""Forms of the builder's integration pages."""

from django import forms

from connectors import registry

# Blocks of every integration rather than apps to build one around.
BUILT_IN_CONNECTORS = frozenset({"custom", "logic", "utility"})


def app_choices() -> list[tuple[str, str]]:
    """Apps an integration can be centred on: connectors with actions or events."""
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
