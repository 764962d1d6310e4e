"""The editor's logic and utility blocks: adding, nesting, settings and Transform."""

import json

import pytest

from workflows.models import Block, FieldMapping
from workflows.services import test_runs, versions
from workflows.tutorial import ORDER_REQUESTED_SAMPLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(author_client, tutorial):
    workflow = tutorial.workflows.get(name="Create Shopify order from Acme Co")
    author_client.post(f"/builder/workflows/{workflow.pk}/versions/new")
    return workflow.versions.get(status="draft")


def add_step(client, draft, action, key, place=""):
    return client.post(
        f"/builder/versions/{draft.pk}/actions",
        {"action": action, "key": key, "place": place},
    )


def test_add_step_inside_branch(author_client, draft):
    add_step(author_client, draft, "logic.branch", "check")
    page = author_client.get(f"/builder/versions/{draft.pk}").content.decode()
    response = add_step(
        author_client, draft, "utility.transform", "shape", "check.else"
    )
    nested = Block.objects.get(version=draft, key="shape")
    assert 'value="check.then"' in page
    assert 'value="check.else"' in page
    assert response.status_code == 302
    assert nested.parent.key == "check"
    assert nested.branch == "else"
    editor = author_client.get(response["Location"]).content.decode()
    assert "in check: Else" in editor
    assert "depth-1" in editor


def test_add_step_lists_logic_blocks(author_client, draft):
    page = author_client.get(f"/builder/versions/{draft.pk}").content.decode()
    for value in (
        "logic.filter",
        "logic.branch",
        "logic.for_each",
        "utility.transform",
        "utility.delay",
        "http.request",
    ):
        assert f'value="{value}"' in page


def test_filter_rules_saved_as_condition(author_client, draft):
    add_step(author_client, draft, "logic.filter", "only")
    block = Block.objects.get(version=draft, key="only")
    response = author_client.post(
        f"/builder/steps/{block.pk}/settings",
        {
            "condition": "",
            "rule_field_0": "event.email",
            "rule_operator_0": "!=",
            "rule_value_0": "test@example.com",
        },
    )
    block.refresh_from_db()
    assert response.status_code == 302
    assert block.config["condition"] == '(event.email != `"test@example.com"`)'
    page = author_client.get(response["Location"]).content.decode()
    assert 'value="event.email"' in page


def test_bad_condition_shown_on_field(author_client, draft):
    add_step(author_client, draft, "logic.branch", "check")
    block = Block.objects.get(version=draft, key="check")
    response = author_client.post(
        f"/builder/steps/{block.pk}/settings", {"condition": "event.email =="}
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert "does not parse" in page
    block.refresh_from_db()
    assert block.config == {}


def test_delay_out_of_range_rejected(author_client, draft):
    add_step(author_client, draft, "utility.delay", "wait")
    block = Block.objects.get(version=draft, key="wait")
    response = author_client.post(
        f"/builder/steps/{block.pk}/settings", {"seconds": "9999999"}
    )
    assert response.status_code == 422
    assert "604800" in response.content.decode()


def test_for_each_settings_saved(author_client, draft):
    add_step(author_client, draft, "logic.for_each", "lines")
    block = Block.objects.get(version=draft, key="lines")
    response = author_client.post(
        f"/builder/steps/{block.pk}/settings",
        {"items": "event.line_items", "limit": "50"},
    )
    block.refresh_from_db()
    assert response.status_code == 302
    assert block.config == {"items": "event.line_items", "limit": 50}


def test_transform_maps_new_field(author_client, draft):
    add_step(author_client, draft, "utility.transform", "shape")
    block = Block.objects.get(version=draft, key="shape")
    response = author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {
            "new_target:0": "contact",
            "new_kind:0": "expression",
            "new_value:0": "event.email",
        },
    )
    mapping = FieldMapping.objects.get(block=block)
    assert response.status_code == 302
    assert (mapping.target, mapping.kind, mapping.value) == (
        "contact",
        "expression",
        "event.email",
    )
    page = author_client.get(response["Location"]).content.decode()
    assert 'data-target="contact"' in page


def test_transform_rejects_bad_field_name(author_client, draft):
    add_step(author_client, draft, "utility.transform", "shape")
    block = Block.objects.get(version=draft, key="shape")
    response = author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {"new_target:0": "bad name", "new_kind:0": "literal", "new_value:0": "1"},
    )
    assert response.status_code == 422
    assert "is not a field name" in response.content.decode()
    assert not FieldMapping.objects.filter(block=block).exists()


def test_loop_body_picker_offers_item(author_client, draft):
    add_step(author_client, draft, "logic.for_each", "lines")
    loop = Block.objects.get(version=draft, key="lines")
    author_client.post(
        f"/builder/steps/{loop.pk}/settings", {"items": "event.line_items"}
    )
    add_step(author_client, draft, "http.request", "call", "lines.body")
    page = author_client.get(
        f"/builder/versions/{draft.pk}?block=call"
    ).content.decode()
    assert "For each item: item, index" in page
    assert 'data-path="item.title"' in page


def build_branch(client, draft):
    add_step(client, draft, "logic.branch", "check")
    check = Block.objects.get(version=draft, key="check")
    client.post(
        f"/builder/steps/{check.pk}/settings", {"condition": "event.email == 'x'"}
    )
    add_step(client, draft, "http.request", "call", "check.else")
    call = Block.objects.get(version=draft, key="call")
    client.post(
        f"/builder/steps/{call.pk}/mappings",
        {
            "kind:method": "literal",
            "value:method": "POST",
            "kind:url": "literal",
            "value:url": "http://127.0.0.1:9/hook",
            "kind:headers": "literal",
            "value:headers": '{"Authorization": "Bearer sk_live_1234567890"}',
        },
    )
    return check


def test_dry_test_run_follows_branch(author_client, draft):
    build_branch(author_client, draft)
    response = author_client.post(
        f"/builder/versions/{draft.pk}/test",
        {"sample_json": json.dumps(ORDER_REQUESTED_SAMPLE), "connection": ""},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "&quot;branch&quot;: &quot;else&quot;" in page
    assert "[redacted]" in page
    assert "sk_live_1234567890" not in page


def test_admin_shows_nested_released_version(admin_client, author_client, draft):
    build_branch(author_client, draft)
    released = versions.version_release(version=draft)
    response = admin_client.get(
        f"/admin/workflows/workflowversion/{released.pk}/change/"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "call" in page
    assert "Else" in page


def test_negative_delay_message_matches_help(author_client, draft):
    add_step(author_client, draft, "utility.delay", "wait")
    block = Block.objects.get(version=draft, key="wait")
    response = author_client.post(
        f"/builder/steps/{block.pk}/settings", {"seconds": "-5"}
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert "-5 is out of range; use more than 0 and at most 604800." in page
    assert "greater than or equal to" not in page


def test_dry_test_run_computes_transform(author_client, draft):
    add_step(author_client, draft, "utility.transform", "shape")
    add_step(author_client, draft, "utility.transform", "reader")
    shape = Block.objects.get(version=draft, key="shape")
    reader = Block.objects.get(version=draft, key="reader")
    versions.mapping_set(
        block=shape, target="contact", kind="expression", value="event.email"
    )
    versions.mapping_set(
        block=reader, target="copied", kind="expression", value="steps.shape.contact"
    )
    result = test_runs.version_test_run(version=draft, event=ORDER_REQUESTED_SAMPLE)
    shape_result = next(step for step in result.steps if step.key == "shape")
    reader_result = next(step for step in result.steps if step.key == "reader")
    assert shape_result.output == {"contact": "jane.doe@example.com"}
    assert shape_result.placeholder_output is False
    assert reader_result.output == {"copied": "jane.doe@example.com"}
    response = author_client.post(
        f"/builder/versions/{draft.pk}/test",
        {"sample_json": json.dumps(ORDER_REQUESTED_SAMPLE), "connection": ""},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "&quot;copied&quot;: &quot;jane.doe@example.com&quot;" in page


def test_dry_test_run_shows_null_as_json(author_client, draft):
    sample = {**ORDER_REQUESTED_SAMPLE, "note": None}
    response = author_client.post(
        f"/builder/versions/{draft.pk}/test",
        {"sample_json": json.dumps(sample), "connection": ""},
    )
    page = response.content.decode()
    assert "null is not of type" in page
    assert "None is not of type" not in page


def test_release_page_names_problem_once(author_client, draft):
    build_branch(author_client, draft)
    add_step(author_client, draft, "utility.transform", "after")
    after = Block.objects.get(version=draft, key="after")
    versions.mapping_set(
        block=after, target="status", kind="expression", value="steps.call.status_code"
    )
    response = author_client.post(f"/builder/versions/{draft.pk}/release")
    page = response.content.decode()
    assert response.status_code == 422
    assert page.count("cannot read the steps inside it") == 1
    assert "a step inside the Branch &#x27;check&#x27;" in page
