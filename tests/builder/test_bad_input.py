"""Bad input on the builder's forms: refused next to the field, nothing saved lost."""

import html
import json

import pytest

from workflows import schema_fields
from workflows.models import Block
from workflows.tutorial import ORDER_REQUESTED_SAMPLE, ORDER_REQUESTED_SCHEMA

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(author_client, tutorial):
    workflow = tutorial.workflows.get(name="Create Shopify order from Acme Co")
    author_client.post(f"/builder/workflows/{workflow.pk}/versions/new")
    return workflow.versions.get(status="draft")


@pytest.fixture
def stream_draft(author_client, tutorial):
    workflow = tutorial.workflows.get(name="Send new Shopify orders to Acme Co")
    author_client.post(f"/builder/workflows/{workflow.pk}/versions/new")
    return workflow.versions.get(status="draft")


def field_html(page: str, name: str) -> str:
    """The markup of the labelled field whose input is named ``name``."""
    chunks = page.split('<div class="field')
    return html.unescape(next(c for c in chunks if f'name="{name}"' in c))


def trigger_post(draft, rows: dict | None = None, **changes) -> dict:
    """A trigger form POST of the saved settings, with ``changes`` applied.

    ``rows`` replaces the schema field rows the editor shows for the schema.
    """
    trigger = draft.blocks.get(position=0)
    schema = trigger.config.get("schema")
    data = {
        "trigger": f"{trigger.connector}.{trigger.operation}",
        "event_name": trigger.config.get("event_name", ""),
        "schema_json": json.dumps(schema) if schema else "",
        "schema_original": json.dumps(schema) if schema else "",
        "stream_url": trigger.config.get("stream_url", ""),
        "field-INITIAL_FORMS": "0",
    }
    if rows is not None:
        return data | rows | changes
    shown, _ = schema_fields.fields_from_schema(schema)
    data["field-TOTAL_FORMS"] = str(len(shown))
    for index, row in enumerate(shown):
        data[f"field-{index}-name"] = row.name
        data[f"field-{index}-type"] = row.type
        data[f"field-{index}-items"] = row.items
        data[f"field-{index}-description"] = row.description
        if row.required:
            data[f"field-{index}-required"] = "on"
    return data | changes


def test_invalid_json_schema_refused(author_client, draft):
    bad = {"type": "object", "properties": {"email": {"type": "strin"}}}
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, schema_json=json.dumps(bad)),
    )
    field = field_html(response.content.decode(), "schema_json")
    assert response.status_code == 422
    assert "Not a valid JSON Schema" in field
    assert draft.blocks.get(position=0).config["schema"] == ORDER_REQUESTED_SCHEMA


def test_schema_not_json_refused(author_client, draft):
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, schema_json='{"type": "object",'),
    )
    field = field_html(response.content.decode(), "schema_json")
    assert "is not valid JSON" in field
    assert draft.blocks.get(position=0).config["schema"] == ORDER_REQUESTED_SCHEMA


def test_duplicate_field_name_refused(author_client, draft):
    rows = {
        "field-TOTAL_FORMS": "2",
        "field-0-name": "email",
        "field-0-type": "string",
        "field-1-name": "email",
        "field-1-type": "integer",
    }
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger", trigger_post(draft, rows=rows)
    )
    field = field_html(response.content.decode(), "field-1-name")
    assert response.status_code == 422
    assert "Duplicate field name 'email'" in field
    assert draft.blocks.get(position=0).config["schema"] == ORDER_REQUESTED_SCHEMA


def test_field_rows_rebuild_schema(author_client, draft):
    rows = {
        "field-TOTAL_FORMS": "3",
        "field-0-name": "email",
        "field-0-type": "string",
        "field-0-required": "on",
        "field-1-name": "items",
        "field-1-type": "array",
        "field-1-items": "object",
        "field-2-name": "items[].sku",
        "field-2-type": "string",
    }
    author_client.post(
        f"/builder/versions/{draft.pk}/trigger", trigger_post(draft, rows=rows)
    )
    schema = draft.blocks.get(position=0).config["schema"]
    assert schema["required"] == ["email"]
    assert schema["properties"]["email"]["format"] == "email"
    assert schema["properties"]["items"]["items"]["properties"] == {
        "sku": {"type": "string"}
    }


def test_bad_stream_url_refused(author_client, stream_draft):
    before = stream_draft.blocks.get(position=0).config
    response = author_client.post(
        f"/builder/versions/{stream_draft.pk}/trigger",
        trigger_post(stream_draft, stream_url="javascript:alert(1)"),
    )
    field = field_html(response.content.decode(), "stream_url")
    assert response.status_code == 422
    assert "is not an http or https URL" in field
    assert 'value="javascript:alert(1)"' in field
    assert stream_draft.blocks.get(position=0).config == before


def test_unparsable_expression_refused(author_client, draft):
    block = draft.blocks.get(key="create_order")
    before = sorted(block.mappings.values_list("target", "kind", "value"))
    response = author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {
            "kind:line_items": "expression",
            "value:line_items": "event.line_items",
            "kind:email": "expression",
            "value:email": "event.[email",
        },
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert (
        "does not parse"
        in page.split('data-target="email"')[1].split('class="mapping-row')[0]
    )
    assert 'value="event.line_items"' in page
    assert sorted(block.mappings.values_list("target", "kind", "value")) == before


def test_bad_event_name_refused(author_client, draft):
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, event_name="9 lives"),
    )
    field = field_html(response.content.decode(), "event_name")
    assert "is not an event name" in field
    assert draft.blocks.get(position=0).config["event_name"] == "order_requested"


def test_bad_step_name_refused(author_client, draft):
    response = author_client.post(
        f"/builder/versions/{draft.pk}/actions",
        {"action": "shopify.create_customer", "key": "Create Customer"},
    )
    field = field_html(response.content.decode(), "key")
    assert "is not a step name" in field
    assert draft.blocks.count() == 2


def test_bad_sample_json_refused(author_client, draft):
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, sample_json="{'email': 1}"),
    )
    field = field_html(response.content.decode(), "sample_json")
    assert "is not valid JSON" in field


def test_both_schema_edits_refused(author_client, draft):
    rows = {
        "field-TOTAL_FORMS": "1",
        "field-0-name": "email",
        "field-0-type": "string",
    }
    changed = {"type": "object", "properties": {"name": {"type": "string"}}}
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, rows=rows, schema_json=json.dumps(changed)),
    )
    field = field_html(response.content.decode(), "schema_json")
    assert "Both the fields and the JSON Schema changed" in field
    assert draft.blocks.get(position=0).config["schema"] == ORDER_REQUESTED_SCHEMA


def test_run_filter_bad_date_refused(author_client):
    response = author_client.get("/builder/runs", {"since": "yesterday"})
    assert response.status_code == 422
    assert "Enter a valid date/time" in field_html(response.content.decode(), "since")


def test_sample_breaking_schema_refused(author_client, draft):
    sample = {"email": "jane@example.com", "line_items": [{"title": "Widget"}]}
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, sample_json=json.dumps(sample)),
    )
    field = field_html(response.content.decode(), "sample_json")
    assert response.status_code == 422
    assert "at $.line_items[0]: 'quantity' is a required property" in field
    assert draft.blocks.get(position=0).config["sample"] == ORDER_REQUESTED_SAMPLE


def test_unchanged_trigger_keeps_schema(author_client, draft):
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger", trigger_post(draft)
    )
    assert response.status_code == 302
    assert draft.blocks.get(position=0).config["schema"] == ORDER_REQUESTED_SCHEMA


def test_json_schema_edit_saved(author_client, draft):
    changed = json.loads(json.dumps(ORDER_REQUESTED_SCHEMA))
    changed["properties"]["note"]["maxLength"] = 500
    response = author_client.post(
        f"/builder/versions/{draft.pk}/trigger",
        trigger_post(draft, schema_json=json.dumps(changed)),
    )
    assert response.status_code == 302
    assert draft.blocks.get(position=0).config["schema"] == changed


def test_malformed_ipv6_stream_url_refused(author_client, stream_draft):
    response = author_client.post(
        f"/builder/versions/{stream_draft.pk}/trigger",
        trigger_post(stream_draft, stream_url="http://[::1"),
    )
    field = field_html(response.content.decode(), "stream_url")
    assert response.status_code == 422
    assert "is not an http or https URL" in field


def test_surrogate_literal_saved_as_text(author_client, draft):
    block = draft.blocks.get(key="create_order")
    response = author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {
            "kind:line_items": "expression",
            "value:line_items": "event.line_items",
            "kind:note": "literal",
            "value:note": '"\\ud800"',
        },
    )
    assert response.status_code in (200, 302)
    assert block.mappings.get(target="note").value == '"\\ud800"'


def test_surrogate_sample_refused(author_client, draft):
    response = author_client.post(
        f"/builder/versions/{draft.pk}/test",
        {"sample_json": '{"email": "a@example.com", "note": "\\ud800"}'},
    )
    assert response.status_code == 422
    assert "unpaired UTF-16 surrogate" in response.content.decode()


def test_oversized_form_html_page(author_client, tutorial, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    block = Block.objects.filter(version__workflow__integration=tutorial).first()
    response = author_client.post(
        f"/builder/steps/{block.pk}/preview",
        {"target": "email", "kind": "literal", "value": "x" * 5000},
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "larger than the server accepts (1000 bytes)" in response.content.decode()


def test_unknown_builder_url_html_page(author_client):
    response = author_client.get("/builder/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "There is no page at /builder/no-such-page" in response.content.decode()
