"""Adding, nesting, copying and releasing logic and utility blocks in drafts."""

import pytest

from alloy.errors import ValidationError
from integrations import services as integration_services
from workflows import selectors
from workflows.exceptions import ReleaseValidationError
from workflows.services import versions
from workflows.tutorial import ORDER_REQUESTED_SCHEMA

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(workspace):
    integration = integration_services.integration_create(
        workspace=workspace, name="Shopify", app="shopify"
    )
    workflow = versions.workflow_create(
        integration=integration,
        name="Create order",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={
            "event_name": "order_requested",
            "schema": ORDER_REQUESTED_SCHEMA,
        },
    )
    return workflow.versions.get()


def add(draft, key, block, *, parent=None, branch="", config=None, maps=()):
    connector, operation = block.split(".")
    created = versions.action_add(
        version=draft,
        key=key,
        connector=connector,
        operation=operation,
        config=config,
        parent=parent,
        branch=branch,
    )
    for target, kind, value in maps:
        versions.mapping_set(block=created, target=target, kind=kind, value=value)
    return created


def release_problems(draft) -> list[str]:
    with pytest.raises(ReleaseValidationError) as excinfo:
        versions.version_release(version=draft)
    return [f"{p['path']}: {p['message']}" for p in excinfo.value.fields]


def field_error(excinfo) -> tuple[str, str]:
    (field,) = excinfo.value.fields
    return field["path"], field["message"]


def loop_with_line(draft):
    loop = add(draft, "lines", "logic.for_each", config={"items": "event.line_items"})
    add(
        draft,
        "line",
        "utility.transform",
        parent=loop,
        branch="body",
        maps=[("title", "expression", "item.title")],
    )
    return loop


def test_nested_blocks_numbered_in_flow_order(draft):
    check = add(draft, "check", "logic.branch", config={"condition": "event.email"})
    add(draft, "after", "utility.transform", maps=[("a", "literal", 1)])
    add(draft, "yes", "utility.transform", parent=check, branch="then")
    add(draft, "no", "utility.transform", parent=check, branch="else")
    order = list(draft.blocks.order_by("position").values_list("key", "position"))
    assert order == [
        ("trigger", 0),
        ("check", 1),
        ("yes", 2),
        ("no", 3),
        ("after", 4),
    ]


def test_remove_container_removes_nested(draft):
    check = add(draft, "check", "logic.branch", config={"condition": "event.email"})
    add(draft, "yes", "utility.transform", parent=check, branch="then")
    add(draft, "after", "utility.transform")
    versions.action_remove(block=check)
    order = list(draft.blocks.order_by("position").values_list("key", "position"))
    assert order == [("trigger", 0), ("after", 1)]


def test_release_accepts_item_in_loop(draft):
    loop_with_line(draft)
    released = versions.version_release(version=draft)
    assert released.is_released


def test_release_rejects_unknown_item_field(draft):
    loop = add(draft, "lines", "logic.for_each", config={"items": "event.line_items"})
    add(
        draft,
        "line",
        "utility.transform",
        parent=loop,
        branch="body",
        maps=[("sku", "expression", "item.sku")],
    )
    problems = release_problems(draft)
    assert problems == [
        "blocks.line.inputs.sku: 'item.sku' references 'item.sku', which the data "
        "does not have."
    ]


def test_release_rejects_item_outside_loop(draft):
    loop_with_line(draft)
    add(draft, "after", "utility.transform", maps=[("t", "expression", "item.title")])
    problems = release_problems(draft)
    assert problems == [
        "blocks.after.inputs.t: 'item.title' references 'item', which the data "
        "does not have."
    ]


def test_release_rejects_loop_step_after_loop(draft):
    loop_with_line(draft)
    add(
        draft,
        "after",
        "utility.transform",
        maps=[("t", "expression", "steps.line.title")],
    )
    problems = release_problems(draft)
    assert problems == [
        "blocks.after.inputs.t: 'steps.line.title' reads 'steps.line', a step "
        "inside the For each 'lines'; a block after a Branch or For each cannot "
        "read the steps inside it."
    ]


def test_release_rejects_branch_step_after_branch(draft):
    check = add(draft, "check", "logic.branch", config={"condition": "event.email"})
    add(
        draft,
        "yes",
        "utility.transform",
        parent=check,
        branch="then",
        maps=[("flag", "literal", True)],
    )
    add(
        draft,
        "after",
        "utility.transform",
        maps=[("flag", "expression", "steps.yes.flag")],
    )
    problems = release_problems(draft)
    assert problems == [
        "blocks.after.inputs.flag: 'steps.yes.flag' reads 'steps.yes', a step "
        "inside the Branch 'check'; a block after a Branch or For each cannot "
        "read the steps inside it."
    ]


def test_release_accepts_earlier_step_in_branch(draft):
    add(draft, "first", "utility.transform", maps=[("flag", "literal", True)])
    check = add(
        draft, "check", "logic.branch", config={"condition": "steps.first.flag"}
    )
    add(
        draft,
        "yes",
        "utility.transform",
        parent=check,
        branch="then",
        maps=[("flag", "expression", "steps.first.flag")],
    )
    assert versions.version_release(version=draft).is_released


def test_release_rejects_unknown_condition_field(draft):
    add(draft, "only", "logic.filter", config={"condition": "event.totl > `1`"})
    problems = release_problems(draft)
    assert problems == [
        "blocks.only.config.condition: 'event.totl > `1`' references 'event.totl', "
        "which the data does not have."
    ]


def test_release_rejects_empty_transform(draft):
    add(draft, "shape", "utility.transform")
    problems = release_problems(draft)
    assert problems == [
        "blocks.shape.inputs: Transform builds its output from mappings; map at "
        "least one field."
    ]


def test_add_rejects_unparsable_condition(draft):
    with pytest.raises(ValidationError) as excinfo:
        add(draft, "only", "logic.filter", config={"condition": "event.total >"})
    path, message = field_error(excinfo)
    assert path == "$.config.condition"
    assert "does not parse" in message


def test_add_rejects_bad_filter_rule(draft):
    with pytest.raises(ValidationError) as excinfo:
        add(
            draft,
            "only",
            "logic.filter",
            config={"rules": [{"field": "event.total", "operator": "~"}]},
        )
    path, message = field_error(excinfo)
    assert path == "$.config.rules"
    assert '"~"' in message


def test_filter_rules_compile_to_condition(draft):
    block = add(
        draft,
        "only",
        "logic.filter",
        config={
            "rules": [
                {"field": "event.email", "operator": "exists"},
                {"field": "event.tags", "operator": "contains", "value": "vip"},
            ]
        },
    )
    assert block.config["condition"] == (
        '(event.email != `null`) && (contains(event.tags, `"vip"`))'
    )


@pytest.mark.parametrize("seconds", [0, -1, 604_801, "10", True])
def test_add_rejects_delay_out_of_range(draft, seconds):
    with pytest.raises(ValidationError) as excinfo:
        add(draft, "wait", "utility.delay", config={"seconds": seconds})
    path, _ = field_error(excinfo)
    assert path == "$.config.seconds"


def test_add_rejects_loop_limit_over_maximum(draft, settings):
    settings.FOR_EACH_MAX_ITEMS = 10
    with pytest.raises(ValidationError) as excinfo:
        add(
            draft,
            "lines",
            "logic.for_each",
            config={"items": "event.line_items", "limit": 11},
        )
    path, message = field_error(excinfo)
    assert path == "$.config.limit"
    assert "at most 10" in message


def test_add_rejects_nested_for_each(draft):
    loop = loop_with_line(draft)
    with pytest.raises(ValidationError) as excinfo:
        add(
            draft,
            "inner",
            "logic.for_each",
            parent=loop,
            branch="body",
            config={"items": "item.tags"},
        )
    path, _ = field_error(excinfo)
    assert path == "$.parent"


def test_add_rejects_unknown_list(draft):
    check = add(draft, "check", "logic.branch", config={"condition": "event.email"})
    with pytest.raises(ValidationError) as excinfo:
        add(draft, "x", "utility.transform", parent=check, branch="body")
    path, message = field_error(excinfo)
    assert path == "$.branch"
    assert message == "Use then or else."


def test_add_rejects_action_as_parent(draft):
    shape = add(draft, "shape", "utility.transform")
    with pytest.raises(ValidationError) as excinfo:
        add(draft, "x", "utility.transform", parent=shape, branch="then")
    path, _ = field_error(excinfo)
    assert path == "$.parent"


def test_new_version_copies_nesting(draft):
    check = add(draft, "check", "logic.branch", config={"condition": "event.email"})
    add(
        draft,
        "yes",
        "utility.transform",
        parent=check,
        branch="then",
        maps=[("a", "literal", 1)],
    )
    versions.version_release(version=draft)
    copy = versions.version_create_next(workflow=draft.workflow)
    old_document = selectors.version_document(draft)
    new_document = selectors.version_document(copy)
    nested = copy.blocks.get(key="yes")
    assert nested.parent == copy.blocks.get(key="check")
    assert nested.branch == "then"
    assert new_document["blocks"] == old_document["blocks"]
    assert old_document["blocks"][2]["in"] == "check.then"


def test_plan_nests_lists(draft):
    loop_with_line(draft)
    add(draft, "after", "utility.transform", maps=[("a", "literal", 1)])
    plan = selectors.version_plan(draft.pk)
    assert [step.key for step in plan.actions] == ["lines", "after"]
    assert [step.key for step in plan.actions[0].lists["body"]] == ["line"]


def test_block_config_set_checks_settings(draft):
    wait = add(draft, "wait", "utility.delay", config={"seconds": 5})
    with pytest.raises(ValidationError):
        versions.block_config_set(block=wait, config={"seconds": 10**9})
    versions.block_config_set(block=wait, config={"seconds": 60})
    wait.refresh_from_db()
    assert wait.config == {"seconds": 60}


def test_release_names_branch_step_once(draft):
    check = add(draft, "check", "logic.branch", config={"condition": "event.email"})
    add(
        draft,
        "vt",
        "utility.transform",
        parent=check,
        branch="then",
        maps=[("kind", "literal", "vip")],
    )
    add(
        draft,
        "after",
        "utility.transform",
        maps=[("kind", "expression", "steps.vt.kind")],
    )
    problems = release_problems(draft)
    assert problems == [
        "blocks.after.inputs.kind: 'steps.vt.kind' reads 'steps.vt', a step inside "
        "the Branch 'check'; a block after a Branch or For each cannot read the "
        "steps inside it."
    ]


SHOPIFY_AMOUNT_SCHEMA = {
    "type": "object",
    "properties": {"total_price": {"type": "string"}},
}


@pytest.fixture
def shopify_draft(workspace):
    integration = integration_services.integration_create(
        workspace=workspace, name="Shopify", app="shopify"
    )
    workflow = versions.workflow_create(
        integration=integration,
        name="Big orders",
        trigger_connector="custom",
        trigger_operation="custom_event",
        trigger_config={"event_name": "order_paid", "schema": SHOPIFY_AMOUNT_SCHEMA},
    )
    return workflow.versions.get()


def test_release_rejects_string_ordered_by_number(shopify_draft):
    add(
        shopify_draft,
        "big",
        "logic.filter",
        config={"condition": "event.total_price > `100`"},
    )
    problems = release_problems(shopify_draft)
    assert problems == [
        "blocks.big.config.condition: 'event.total_price > `100`' compares "
        "'event.total_price', which is a string, with a number by '>', which is "
        "null (false) on every run; convert it with to_number(event.total_price)."
    ]


def test_release_accepts_to_number_comparison(shopify_draft):
    add(
        shopify_draft,
        "big",
        "logic.filter",
        config={"condition": "to_number(event.total_price) > `100`"},
    )
    assert versions.version_release(version=shopify_draft).is_released


def test_numeric_filter_rule_uses_to_number(shopify_draft):
    block = add(
        shopify_draft,
        "big",
        "logic.filter",
        config={
            "rules": [
                {"field": "event.total_price", "operator": ">=", "value": 10},
                {"field": "event.total_price", "operator": "<", "value": "9"},
            ]
        },
    )
    assert block.config["condition"] == (
        '(to_number(event.total_price) >= `10`) && (event.total_price < `"9"`)'
    )
    assert versions.version_release(version=shopify_draft).is_released
