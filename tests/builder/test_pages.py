"""The builder's pages: sign-in, integrations, the editor, versions and runs."""

import json

import pytest

from integrations.models import Integration
from workflows.models import Block, FieldMapping, Workflow, WorkflowVersion

pytestmark = pytest.mark.django_db


def create_order_workflow(tutorial) -> Workflow:
    return tutorial.workflows.get(name="Create Shopify order from Acme Co")


def new_draft(client, workflow) -> WorkflowVersion:
    client.post(f"/builder/workflows/{workflow.pk}/versions/new")
    return workflow.versions.get(status="draft")


def preview_email(client, tutorial, expression: str):
    block = Block.objects.get(
        version__workflow=create_order_workflow(tutorial), key="create_order"
    )
    return client.post(
        f"/builder/steps/{block.pk}/preview",
        {"target": "email", "kind": "expression", "value": expression},
    )


def test_builder_requires_sign_in(client):
    response = client.get("/builder/")
    assert response.status_code == 302
    assert response["Location"].startswith("/builder/sign-in")


def test_sign_in_with_password(client, author):
    response = client.post(
        "/builder/sign-in",
        {"username": "ada", "password": "correct-horse-battery"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/builder/"


def test_integration_new_searches_apps(author_client):
    response = author_client.get("/builder/integrations/new", {"q": "shop"})
    page = response.content.decode()
    assert 'value="shopify"' in page
    assert 'value="http"' not in page


def test_integration_new_creates_integration(author_client, workspace):
    response = author_client.post(
        "/builder/integrations/new", {"app": "shopify", "name": "Shopify"}
    )
    integration = Integration.objects.get(workspace=workspace, name="Shopify")
    assert response["Location"] == f"/builder/integrations/{integration.pk}"


def test_workflow_create_opens_editor(author_client, workspace, tutorial):
    response = author_client.post(
        f"/builder/integrations/{tutorial.pk}/workflows",
        {"name": "New orders", "trigger": "shopify.order_created"},
    )
    version = WorkflowVersion.objects.get(workflow__name="New orders")
    assert response["Location"] == f"/builder/versions/{version.pk}?block=trigger"


def test_editor_draws_blocks(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    page = author_client.get(f"/builder/versions/{version.pk}").content.decode()
    assert "<strong>Custom Event</strong>" in page
    assert "Shopify: Create Order" in page


def test_released_editor_shows_banner(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    page = author_client.get(f"/builder/versions/{version.pk}").content.decode()
    assert "cannot be changed" in page


def test_mapping_page_marks_required(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    page = author_client.get(
        f"/builder/versions/{version.pk}?block=create_order"
    ).content.decode()
    assert 'data-target="line_items"' in page
    assert '<span class="req" title="required">*</span>' in page


def test_mapping_page_previews_sample(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    page = author_client.get(
        f"/builder/versions/{version.pk}?block=create_order"
    ).content.decode()
    assert "jane.doe@example.com" in page


def test_preview_reports_parse_error(author_client, tutorial):
    response = preview_email(author_client, tutorial, "event.[email")
    assert "does not parse" in response.json()["error"]


def test_preview_evaluates_expression(author_client, tutorial):
    response = preview_email(author_client, tutorial, "event.email")
    assert response.json() == {"value": '"jane.doe@example.com"'}


def test_preview_names_missing_field(author_client, tutorial):
    response = preview_email(author_client, tutorial, "event.mail")
    assert "event.mail" in response.json()["error"]


def test_new_version_copies_mappings(author_client, tutorial):
    draft = new_draft(author_client, create_order_workflow(tutorial))
    assert FieldMapping.objects.filter(block__version=draft).count() == 10


def test_mappings_save_on_draft(author_client, tutorial):
    draft = new_draft(author_client, create_order_workflow(tutorial))
    block = draft.blocks.get(key="create_order")
    response = author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {
            "kind:line_items": "expression",
            "value:line_items": "event.line_items",
            "kind:note": "template",
            "value:note": "From {{ event.email }}",
        },
    )
    assert response.status_code == 302
    assert set(block.mappings.values_list("target", flat=True)) == {
        "line_items",
        "note",
    }


def test_release_then_publish_draft(author_client, tutorial, author):
    workflow = create_order_workflow(tutorial)
    draft = new_draft(author_client, workflow)
    author_client.post(f"/builder/versions/{draft.pk}/release")
    author_client.post(f"/builder/versions/{draft.pk}/publish")
    workflow.refresh_from_db()
    assert workflow.published_version_id == draft.pk
    assert workflow.published_version.released_by == "ada"


def test_release_lists_problems(author_client, tutorial):
    draft = new_draft(author_client, create_order_workflow(tutorial))
    block = draft.blocks.get(key="create_order")
    author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {"kind:note": "literal", "value:note": "no line items"},
    )
    response = author_client.post(f"/builder/versions/{draft.pk}/release")
    assert response.status_code == 422
    assert "line_items" in response.content.decode()


def test_history_diffs_two_versions(author_client, tutorial):
    workflow = create_order_workflow(tutorial)
    draft = new_draft(author_client, workflow)
    block = draft.blocks.get(key="create_order")
    author_client.post(
        f"/builder/steps/{block.pk}/mappings",
        {"kind:line_items": "expression", "value:line_items": "event.line_items"},
    )
    page = author_client.get(
        f"/builder/workflows/{workflow.pk}/versions", {"older": 1, "newer": 2}
    ).content.decode()
    assert '<tr class="delete">' in page or '<tr class="replace">' in page
    assert "published by demo" in page


def test_dry_test_run_shows_input(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    response = author_client.post(
        f"/builder/versions/{version.pk}/test",
        {"sample_json": json.dumps({"email": "dry@example.com", "line_items": []})},
    )
    page = response.content.decode()
    assert "Dry test run" in page
    assert "dry@example.com" in page


def test_preview_names_end_of_text(author_client, tutorial):
    response = preview_email(author_client, tutorial, "event.[email")
    assert "the end of the text" in response.json()["error"]


def test_test_run_checks_trigger_schema(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    response = author_client.post(
        f"/builder/versions/{version.pk}/test",
        {"sample_json": json.dumps({"phone": 5})},
    )
    page = response.content.decode()
    assert "does not match the trigger's schema" in page
    assert "<code>$.phone</code>" in page


def test_test_run_rejects_infinite_number(author_client, tutorial):
    version = create_order_workflow(tutorial).versions.get()
    response = author_client.post(
        f"/builder/versions/{version.pk}/test", {"sample_json": '{"email": 1e999}'}
    )
    assert response.status_code == 422
    assert "the number is too large" in response.content.decode()
