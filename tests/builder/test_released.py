"""A released version cannot be edited from the builder, the admin or a raw POST."""

import pytest

from workflows.models import Block, FieldMapping

pytestmark = pytest.mark.django_db


@pytest.fixture
def released(tutorial):
    workflow = tutorial.workflows.get(name="Create Shopify order from Acme Co")
    return workflow.versions.get()


@pytest.fixture
def released_action(released):
    return released.blocks.get(key="create_order")


def mapping_snapshot(block: Block) -> list:
    return list(
        block.mappings.order_by("target").values_list("target", "kind", "value")
    )


def test_released_editor_disables_forms(author_client, released):
    page = author_client.get(f"/builder/versions/{released.pk}").content.decode()
    assert "<fieldset disabled>" in page
    assert "Save trigger" not in page


def test_released_mapping_post_rejected(author_client, released_action):
    before = mapping_snapshot(released_action)
    response = author_client.post(
        f"/builder/steps/{released_action.pk}/mappings",
        {"kind:email": "literal", "value:email": "evil@example.com"},
    )
    assert response.status_code == 409
    assert mapping_snapshot(released_action) == before


def test_released_trigger_post_rejected(author_client, released):
    trigger = released.blocks.get(position=0)
    response = author_client.post(
        f"/builder/versions/{released.pk}/trigger",
        {
            "trigger": "shopify.order_created",
            "stream_url": "https://evil.example/",
            "field-TOTAL_FORMS": "0",
            "field-INITIAL_FORMS": "0",
        },
    )
    trigger.refresh_from_db()
    assert response.status_code == 409
    assert trigger.connector == "custom"


def test_released_action_add_rejected(author_client, released):
    response = author_client.post(
        f"/builder/versions/{released.pk}/actions",
        {"action": "shopify.create_customer", "key": "extra"},
    )
    assert response.status_code == 409
    assert not released.blocks.filter(key="extra").exists()


def test_released_step_remove_rejected(author_client, released_action):
    author_client.post(f"/builder/steps/{released_action.pk}/remove")
    assert Block.objects.filter(pk=released_action.pk).exists()


def test_released_release_again_rejected(author_client, released):
    response = author_client.post(f"/builder/versions/{released.pk}/release")
    assert response.status_code == 409


def test_admin_version_change_forbidden(admin_client, released):
    response = admin_client.post(
        f"/admin/workflows/workflowversion/{released.pk}/change/",
        {"workflow": released.workflow_id, "number": 7},
    )
    released.refresh_from_db()
    assert response.status_code == 403
    assert released.number == 1


def test_admin_block_change_forbidden(admin_client, released_action):
    response = admin_client.post(
        f"/admin/workflows/block/{released_action.pk}/change/",
        {"key": "renamed", "position": 1, "kind": "action", "config": "{}"},
    )
    released_action.refresh_from_db()
    assert response.status_code == 403
    assert released_action.key == "create_order"


def test_admin_mapping_change_forbidden(admin_client, released_action):
    item = released_action.mappings.get(target="email")
    response = admin_client.post(
        f"/admin/workflows/fieldmapping/{item.pk}/change/",
        {"target": "email", "kind": "literal", "value": '"evil@example.com"'},
    )
    item.refresh_from_db()
    assert response.status_code == 403
    assert item.kind == "expression"


def test_admin_mapping_delete_forbidden(admin_client, released_action):
    item = released_action.mappings.get(target="email")
    response = admin_client.post(
        f"/admin/workflows/fieldmapping/{item.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert FieldMapping.objects.filter(pk=item.pk).exists()
