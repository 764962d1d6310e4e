"""Template filters of the builder."""

import json

from django import template

from alloy.logging import redact_value

register = template.Library()


@register.filter
def pretty_json(value) -> str:
    """Indented JSON with secrets redacted; a dash for no value."""
    if value is None:
        return "-"
    return json.dumps(redact_value(value), indent=2, ensure_ascii=False)
