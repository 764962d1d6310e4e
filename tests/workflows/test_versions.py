"""Draft editing, release validation, publish, new version and rollback."""

import threading
import time

import pytest
from django.db import IntegrityError, transaction
from django.db import connection as db_connection
from django.utils import timezone

from alloy.errors import ValidationError
from integrations import services as integration_services
from workflows.exceptions import (
    ReleasedVersionError,
    ReleaseValidationError,
    VersionStateError,
)
from workflows.models import Block, FieldMapping, Publication, WorkflowVersion
from workflows.services import versions
from workflows.tutorial import ORDER_REQUESTED_SCHEMA

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(workspace):
    return integration_services.integration_create(
        workspace=workspace, name="Shopify", app="shopify"
    )


@pytest.fixture
def workflow(integration):
    return versions.workflow_create(
        integration=integration,
        name="Create order",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "order_requested",
            "schema": ORDER_REQUESTED_SCHEMA,
        },
    )


def add_order_action(version, mappings=None):
    block = versions.action_add(
        version=version,
        key="create_order",
        connector="shopify",
        operation="create_order",
    )
    for target, kind, value in mappings or [
        ("email", "expression", "event.email"),
        (
            "line_items",
            "expression",
            "event.line_items[*].{title: title, quantity: quantity, price: price}",
        ),
    ]:
        versions.mapping_set(block=block, target=target, kind=kind, value=value)
    return block


def release_first(workflow):
    draft = workflow.versions.get()
    add_order_action(draft)
    return versions.version_release(version=draft, released_by="author@acme.test")


def problem_messages(excinfo):
    return problem_messages_of(excinfo.value)


def problem_messages_of(error):
    return [f"{p['path']}: {p['message']}" for p in error.fields]


def test_release_freezes_draft(workflow):
    released = release_first(workflow)
    assert released.status == WorkflowVersion.Status.RELEASED
    assert released.released_at is not None
    assert released.released_by == "author@acme.test"


def test_release_rejects_unmapped_required_input(workflow):
    draft = workflow.versions.get()
    add_order_action(draft, [("email", "expression", "event.email")])
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    assert problem_messages(excinfo) == [
        "blocks.create_order.inputs.line_items: "
        "The required input 'line_items' is not mapped."
    ]


def test_release_rejects_unknown_trigger_field(workflow):
    draft = workflow.versions.get()
    add_order_action(
        draft,
        [
            ("email", "expression", "event.emial"),
            (
                "line_items",
                "expression",
                "event.line_items[*].{title: titel, quantity: quantity}",
            ),
        ],
    )
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    messages = problem_messages(excinfo)
    assert len(messages) == 2
    assert "'event.emial'" in messages[0]
    assert "'event.line_items[].titel'" in messages[1]


def test_release_rejects_unknown_step_reference(workflow):
    draft = workflow.versions.get()
    block = add_order_action(draft)
    versions.mapping_set(
        block=block, target="note", kind="template", value="{{ steps.nope.id }}"
    )
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    assert "'steps.nope'" in problem_messages(excinfo)[0]


def test_release_rejects_unparsable_stored_expression(workflow):
    draft = workflow.versions.get()
    block = add_order_action(draft)
    # Written past mapping_set, which would have rejected it.
    FieldMapping.objects.filter(block=block, target="email").update(value="event.[")
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    assert "does not parse" in problem_messages(excinfo)[0]


def test_mapping_set_rejects_bad_expression(workflow):
    block = add_order_action(workflow.versions.get())
    with pytest.raises(Exception, match="does not parse"):
        versions.mapping_set(
            block=block, target="note", kind="expression", value="event.["
        )


def test_publish_requires_release(workflow):
    with pytest.raises(VersionStateError):
        versions.version_publish(version=workflow.versions.get())


def test_publish_sets_live_version(workflow):
    released = release_first(workflow)
    versions.version_publish(version=released, published_by="author")
    workflow.refresh_from_db()
    assert workflow.published_version_id == released.pk
    assert Publication.objects.filter(workflow=workflow, version=released).count() == 1


def test_new_version_copies_latest(workflow):
    released = release_first(workflow)
    draft = versions.version_create_next(workflow=workflow)
    assert draft.number == 2
    assert draft.status == WorkflowVersion.Status.DRAFT
    copied = [(b.key, b.connector, b.operation, b.config) for b in draft.blocks.all()]
    original = [
        (b.key, b.connector, b.operation, b.config) for b in released.blocks.all()
    ]
    assert copied == original
    assert FieldMapping.objects.filter(block__version=draft).count() == 2


def test_new_version_rejects_second_draft(workflow):
    with pytest.raises(VersionStateError):
        versions.version_create_next(workflow=workflow)


def test_rollback_publishes_older_release(workflow):
    first = release_first(workflow)
    versions.version_publish(version=first)
    second = versions.version_create_next(workflow=workflow)
    versions.version_release(version=second)
    versions.version_publish(version=second)
    versions.version_rollback(workflow=workflow, version=first, published_by="author")
    workflow.refresh_from_db()
    assert workflow.published_version_id == first.pk
    latest = (
        Publication.objects.filter(workflow=workflow)
        .order_by("-created_at", "-pk")
        .first()
    )
    assert latest.previous_version_id == second.pk


def test_rollback_rejects_newer_version(workflow):
    first = release_first(workflow)
    versions.version_publish(version=first)
    with pytest.raises(VersionStateError):
        versions.version_rollback(workflow=workflow, version=first)


class TestReleasedVersionIsFrozen:
    @pytest.fixture
    def released(self, workflow):
        return release_first(workflow)

    def test_service_trigger_set_rejected(self, released):
        with pytest.raises(ReleasedVersionError):
            versions.trigger_set(
                version=released,
                connector="custom",
                operation="custom_event",
                config={"event_name": "other", "schema": {"type": "object"}},
            )

    def test_service_action_add_rejected(self, released):
        with pytest.raises(ReleasedVersionError):
            versions.action_add(
                version=released,
                key="again",
                connector="shopify",
                operation="create_order",
            )

    def test_service_action_remove_rejected(self, released):
        with pytest.raises(ReleasedVersionError):
            versions.action_remove(block=released.blocks.get(key="create_order"))

    def test_service_mapping_set_rejected(self, released):
        block = released.blocks.get(key="create_order")
        with pytest.raises(ReleasedVersionError):
            versions.mapping_set(block=block, target="note", kind="literal", value="x")

    def test_service_mapping_remove_rejected(self, released):
        block = released.blocks.get(key="create_order")
        with pytest.raises(ReleasedVersionError):
            versions.mapping_remove(block=block, target="email")

    def test_service_release_again_rejected(self, released):
        with pytest.raises(ReleasedVersionError):
            versions.version_release(version=released)

    def test_model_version_save_rejected(self, released):
        released.released_by = "someone else"
        with pytest.raises(ReleasedVersionError):
            released.save()

    def test_model_version_delete_rejected(self, released):
        with pytest.raises(ReleasedVersionError):
            released.delete()

    def test_model_block_save_rejected(self, released):
        block = released.blocks.get(key="create_order")
        block.operation = "create_customer"
        with pytest.raises(ReleasedVersionError):
            block.save()

    def test_model_mapping_save_rejected(self, released):
        item = FieldMapping.objects.get(block__version=released, target="email")
        item.value = "event.phone"
        with pytest.raises(ReleasedVersionError):
            item.save()

    def test_model_new_mapping_rejected(self, released):
        block = released.blocks.get(key="create_order")
        with pytest.raises(ReleasedVersionError):
            FieldMapping.objects.create(
                block=block, target="note", kind="literal", value="x"
            )

    def test_queryset_version_update_rejected(self, released):
        with pytest.raises(IntegrityError), transaction.atomic():
            WorkflowVersion.objects.filter(pk=released.pk).update(status="draft")

    def test_queryset_block_update_rejected(self, released):
        with pytest.raises(IntegrityError), transaction.atomic():
            Block.objects.filter(version=released).update(config={"event_name": "x"})

    def test_queryset_mapping_update_rejected(self, released):
        with pytest.raises(IntegrityError), transaction.atomic():
            FieldMapping.objects.filter(block__version=released).update(
                value="event.phone"
            )

    def test_bulk_create_mapping_rejected(self, released):
        block = released.blocks.get(key="create_order")
        with pytest.raises(IntegrityError), transaction.atomic():
            FieldMapping.objects.bulk_create(
                [FieldMapping(block=block, target="note", kind="literal", value="x")]
            )

    def test_raw_sql_delete_rejected(self, released):
        with (
            pytest.raises(IntegrityError),
            transaction.atomic(),
            db_connection.cursor() as cursor,
        ):
            cursor.execute(
                "DELETE FROM workflows_fieldmapping WHERE block_id IN "
                "(SELECT id FROM workflows_block WHERE version_id = %s)",
                [released.pk],
            )

    def test_admin_change_forbidden(self, released, admin_client):
        url = f"/admin/workflows/workflowversion/{released.pk}/change/"
        response = admin_client.post(url, {"released_by": "hacker"})
        released.refresh_from_db()
        assert response.status_code == 403
        assert released.released_by == "author@acme.test"

    def test_admin_block_change_forbidden(self, released, admin_client):
        block = released.blocks.get(key="create_order")
        response = admin_client.post(
            f"/admin/workflows/block/{block.pk}/change/",
            {"operation": "create_customer"},
        )
        assert response.status_code == 403

    def test_admin_mapping_delete_forbidden(self, released, admin_client):
        item = FieldMapping.objects.get(block__version=released, target="email")
        response = admin_client.post(
            f"/admin/workflows/fieldmapping/{item.pk}/delete/", {"post": "yes"}
        )
        assert response.status_code == 403
        assert FieldMapping.objects.filter(pk=item.pk).exists()

    def test_admin_block_add_forbidden(self, released, admin_client):
        response = admin_client.post(
            "/admin/workflows/block/add/",
            {"version": released.pk, "position": 5, "kind": "action"},
        )
        assert response.status_code == 403
        assert released.blocks.count() == 2

    def test_admin_mapping_add_forbidden(self, released, admin_client):
        block = released.blocks.get(key="create_order")
        response = admin_client.post(
            "/admin/workflows/fieldmapping/add/",
            {"block": block.pk, "target": "note", "kind": "literal", "value": '"x"'},
        )
        assert response.status_code == 403

    def test_admin_publication_delete_forbidden(self, released, admin_client):
        versions.version_publish(version=released)
        publication = Publication.objects.get(version=released)
        response = admin_client.post(
            f"/admin/workflows/publication/{publication.pk}/delete/", {"post": "yes"}
        )
        assert response.status_code == 403


def release_problems(workflow, mappings):
    draft = workflow.versions.get()
    line_items = (
        "line_items",
        "expression",
        "event.line_items[*].{title: title, quantity: quantity}",
    )
    add_order_action(draft, [line_items, *mappings])
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    return problem_messages(excinfo)


@pytest.mark.parametrize(
    "expression",
    [
        "event.line_items[0:2].nope",
        "event.email.nope",
        "event.line_items.title",
        "nosuchfn(event.email)",
        "length(`1`, `2`)",
    ],
    ids=["slice", "field-of-string", "field-of-array", "function", "arity"],
)
def test_release_rejects_bad_reference(workflow, expression):
    messages = release_problems(workflow, [("note", "expression", expression)])
    assert len(messages) == 1
    assert messages[0].startswith("blocks.create_order.inputs.note:")


@pytest.mark.parametrize(
    "expression",
    [
        "sort_by(event.line_items, &title)[0].title",
        "join(',', map(&title, event.line_items))",
        "max_by(event.line_items, &quantity).title",
    ],
    ids=["sort_by", "map", "max_by"],
)
def test_release_accepts_expression_reference(workflow, expression):
    draft = workflow.versions.get()
    add_order_action(
        draft,
        [
            ("line_items", "expression", "event.line_items"),
            ("note", "expression", expression),
        ],
    )
    released = versions.version_release(version=draft)
    assert released.is_released


def test_release_rejects_unknown_nested_target(workflow):
    messages = release_problems(
        workflow, [("customer.nope", "expression", "event.email")]
    )
    assert messages == [
        "blocks.create_order.inputs.customer.nope: The input 'customer' has no "
        "field 'nope'."
    ]


def test_release_rejects_literal_outside_enum(workflow):
    messages = release_problems(workflow, [("financial_status", "literal", "bogus")])
    assert "is not accepted" in messages[0]


def test_release_rejects_template_for_array(workflow):
    messages = release_problems(workflow, [("tags", "template", "{{ event.email }}")])
    assert "takes array" in messages[0]


def test_release_accepts_boolean_subschema(integration):
    workflow = versions.workflow_create(
        integration=integration,
        name="Boolean schema",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "anything",
            "schema": {
                "type": "object",
                "properties": {"email": True, "line_items": True},
            },
        },
    )
    released = release_first(workflow)
    assert released.is_released


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("http://127.0.0.1:9/schema.json", "points outside the schema"),
        ("#/$defs/missing", "does not resolve"),
    ],
    ids=["remote", "unresolvable"],
)
def test_schema_ref_rejected(integration, reference, reason):
    schema = {"type": "object", "properties": {"email": {"$ref": reference}}}
    with pytest.raises(ValidationError) as excinfo:
        versions.workflow_create(
            integration=integration,
            name="Remote ref",
            trigger_connector="custom",
            trigger_operation="custom_event",
            trigger_config={"event_name": "remote", "schema": schema},
        )
    assert reason in excinfo.value.fields[0]["message"]
    assert not integration.workflows.filter(name="Remote ref").exists()


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * 201, "a\x00b"], ids=["empty", "blank", "long", "nul"]
)
def test_workflow_create_rejects_bad_name(integration, name):
    with pytest.raises(ValidationError) as excinfo:
        versions.workflow_create(
            integration=integration,
            name=name,
            trigger_connector="shopify",
            trigger_operation="order_created",
        )
    assert excinfo.value.fields[0]["path"] == "$.name"


def test_workflow_create_bad_trigger_stores_nothing(integration):
    with pytest.raises(ValidationError):
        versions.workflow_create(
            integration=integration,
            name="Bad stream",
            trigger_connector="shopify",
            trigger_operation="order_created",
            trigger_config={"stream_url": "ftp://example.test/"},
        )
    assert not integration.workflows.exists()


@pytest.mark.parametrize(
    "stream_url",
    ["http://127.0.0.1:99999/x", "http://127.0.0.1/" + "x" * 2000],
    ids=["port", "length"],
)
def test_trigger_rejects_bad_stream_url(workflow, stream_url):
    with pytest.raises(ValidationError) as excinfo:
        versions.trigger_set(
            version=workflow.versions.get(),
            connector="shopify",
            operation="order_created",
            config={"stream_url": stream_url},
        )
    assert excinfo.value.fields[0]["path"] == "$.config.stream_url"


@pytest.mark.parametrize(
    ("target", "kind", "value", "path"),
    [
        ("note\n", "literal", "x", "$.target"),
        ("body..x", "literal", "x", "$.target"),
        (7, "literal", "x", "$.target"),
        ("note", "literal", "a\x00b", "$.value"),
        ("note", "literal", float("nan"), "$.value"),
        ("note", "template", 5, "$.value"),
    ],
    ids=["newline", "empty-part", "not-string", "nul", "nan", "template-number"],
)
def test_mapping_set_rejects_bad_input(workflow, target, kind, value, path):
    block = versions.action_add(
        version=workflow.versions.get(),
        key="create_order",
        connector="shopify",
        operation="create_order",
    )
    with pytest.raises(ValidationError) as excinfo:
        versions.mapping_set(block=block, target=target, kind=kind, value=value)
    assert excinfo.value.fields[0]["path"] == path


def test_queryset_update_cannot_release_draft(workflow):
    draft = workflow.versions.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowVersion.objects.filter(pk=draft.pk).update(
            status="released", released_at=timezone.now()
        )


@pytest.mark.django_db(transaction=True)
def test_release_waits_for_open_edit(workflow):
    """An edit still open when release starts is validated, not slipped in."""
    draft = workflow.versions.get()
    block = add_order_action(draft)
    edited = threading.Event()
    outcome: dict = {}

    def edit() -> None:
        try:
            with transaction.atomic():
                versions.mapping_set(
                    block=block, target="note", kind="expression", value="event.nope"
                )
                edited.set()
                # Hold the transaction open while the release waits for it.
                time.sleep(0.5)
        finally:
            edited.set()
            db_connection.close()

    def release() -> None:
        edited.wait(timeout=10)
        try:
            versions.version_release(version=WorkflowVersion.objects.get(pk=draft.pk))
        except ReleaseValidationError as exc:
            outcome["problems"] = problem_messages_of(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=edit), threading.Thread(target=release)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    draft.refresh_from_db()
    assert draft.status == WorkflowVersion.Status.DRAFT
    assert any("event.nope" in problem for problem in outcome.get("problems", []))


def test_oversized_event_schema_rejected(settings):
    from workflows.validation import check_custom_event_schema

    settings.SCHEMA_MAX_BYTES = 200
    schema = {"type": "object", "description": "x" * 300}
    problems = check_custom_event_schema(schema, path="$.config.schema")
    assert len(problems) == 1
    assert "SCHEMA_MAX_BYTES" in problems[0]["message"]


def test_deep_event_schema_rejected(settings):
    from workflows.validation import check_custom_event_schema

    settings.SCHEMA_MAX_DEPTH = 5
    schema: dict = {"type": "object"}
    inner = schema
    for _ in range(5):
        inner["properties"] = {"a": {"type": "object"}}
        inner = inner["properties"]["a"]
    problems = check_custom_event_schema(schema, path="$.config.schema")
    assert len(problems) == 1
    assert "SCHEMA_MAX_DEPTH" in problems[0]["message"]
