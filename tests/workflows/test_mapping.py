"""The mapping engine: literals, expressions, templates, nesting, missing fields."""

import pytest

from workflows import mapping

CONTEXT = {
    "event": {
        "email": "jane@example.com",
        "note": None,
        "customer": {"first_name": "Jane", "address": {"city": "Ottawa"}},
        "line_items": [
            {"title": "Widget", "quantity": 2, "price": "19.99", "sku": "W-1"},
            {"title": "Gadget", "quantity": 1, "price": "5.00", "sku": "G-1"},
        ],
        "id": 820982911946154508,
    },
    "steps": {"create_order": {"id": "gid://shopify/Order/1", "name": "#1001"}},
    "user": {"id": "merchant-1", "name": "Merchant", "email": ""},
}


def evaluate(mappings, required=frozenset()):
    return mapping.evaluate(mappings, CONTEXT, required=required)


def test_literal_passes_value_through():
    result, failures = evaluate([("tags", "literal", ["a", "b"])])
    assert result == {"tags": ["a", "b"]}
    assert failures == []


def test_expression_reads_nested_field():
    result, _ = evaluate([("city", "expression", "event.customer.address.city")])
    assert result == {"city": "Ottawa"}


def test_expression_projects_array_of_objects():
    result, _ = evaluate(
        [("items", "expression", "event.line_items[*].{title: title, qty: quantity}")]
    )
    assert result["items"] == [
        {"title": "Widget", "qty": 2},
        {"title": "Gadget", "qty": 1},
    ]


def test_expression_keeps_large_integer_exact():
    result, _ = evaluate([("id", "expression", "event.id")])
    assert result["id"] == 820982911946154508


def test_expression_reads_earlier_step_output():
    result, _ = evaluate([("order", "expression", "steps.create_order.name")])
    assert result == {"order": "#1001"}


def test_dotted_target_builds_nested_object():
    result, _ = evaluate(
        [
            ("customer.email", "expression", "event.email"),
            ("customer.first_name", "expression", "event.customer.first_name"),
        ]
    )
    assert result == {"customer": {"email": "jane@example.com", "first_name": "Jane"}}


def test_template_renders_text_with_expressions():
    result, _ = evaluate(
        [
            (
                "note",
                "template",
                "For {{ user.id }}: {{ length(event.line_items) }} items",
            )
        ]
    )
    assert result == {"note": "For merchant-1: 2 items"}


def test_template_renders_object_as_json():
    result, _ = evaluate([("note", "template", "first={{ event.line_items[0].sku }}")])
    assert result == {"note": "first=W-1"}


def test_missing_field_fails_required_input():
    _, failures = evaluate(
        [("email", "expression", "event.customer.email")], required={"email"}
    )
    assert len(failures) == 1
    assert "event.customer.email" in failures[0].message
    assert failures[0].target == "email"


def test_missing_field_names_first_missing_part():
    _, failures = evaluate(
        [("city", "expression", "event.shipping.address.city")], required={"city"}
    )
    assert "field 'event.shipping'" in failures[0].message


def test_missing_index_fails_required_input():
    _, failures = evaluate(
        [("sku", "expression", "event.line_items[5].sku")], required={"sku"}
    )
    assert "item 'event.line_items[5]'" in failures[0].message


def test_missing_field_omits_optional_input():
    result, failures = evaluate([("phone", "expression", "event.phone")])
    assert result == {}
    assert failures == []


def test_explicit_null_is_not_missing():
    result, failures = evaluate(
        [("note", "expression", "event.note")], required={"note"}
    )
    assert result == {"note": None}
    assert failures == []


def test_template_with_missing_field_fails_required():
    _, failures = evaluate(
        [("note", "template", "Hi {{ event.nickname }}")], required={"note"}
    )
    assert "event.nickname" in failures[0].message


def test_every_failure_is_reported():
    _, failures = evaluate(
        [
            ("a", "expression", "event.nope"),
            ("b", "expression", "event.also_nope"),
        ],
        required={"a", "b"},
    )
    assert [f.target for f in failures] == ["a", "b"]


@pytest.mark.parametrize("text", ["event.", "event[", "length(", "event.a ||"])
def test_compile_rejects_bad_expression(text):
    with pytest.raises(mapping.ExpressionSyntaxError):
        mapping.compile_expression(text)


def test_template_rejects_unbalanced_braces():
    with pytest.raises(mapping.ExpressionSyntaxError):
        mapping.parse_template("Hello {{ event.email")


def test_template_rejects_bad_inner_expression():
    with pytest.raises(mapping.ExpressionSyntaxError):
        mapping.parse_template("Hello {{ event.[ }}")


def test_failure_field_uses_json_path():
    _, failures = evaluate([("email", "expression", "event.x")], required={"email"})
    assert failures[0].as_field()["path"] == "$.email"


def test_type_error_fails_mapping():
    expression = "max_by(event.line_items, &title).quantity | merge(@, `1`)"
    result, failures = evaluate([("x", "expression", expression)], required={"x"})
    assert "x" not in result
    assert [failure.target for failure in failures] == ["x"]


def test_string_ordered_by_number_is_null():
    # The JMESPath specification orders numbers only; prices here are strings.
    result, failures = evaluate(
        [("x", "expression", "event.line_items[?price > `1`].title")]
    )
    assert failures == []
    assert result == {"x": []}


def test_to_number_orders_string_amounts():
    result, failures = evaluate(
        [("x", "expression", "event.line_items[?to_number(price) > `10`].title")]
    )
    assert failures == []
    assert result == {"x": ["Widget"]}


def test_double_index_missing_item_named():
    context = {"event": {"grid": [[1, 2]]}, "steps": {}, "user": {}}
    _, failures = mapping.evaluate(
        [("x", "expression", "event.grid[0][3]")], context, required={"x"}
    )
    assert "item 'event.grid[0][3]'" in failures[0].message


def test_deeply_nested_expression_rejected():
    with pytest.raises(mapping.ExpressionSyntaxError):
        mapping.compile_expression("(" * 3000 + "event" + ")" * 3000)
