"""GraphQL request errors of the Shopify sandbox in the shape Shopify returns them.

Shopify runs graphql-ruby, whose validation errors carry ``extensions.code`` values
such as ``undefinedField`` and a ``path`` of names from the operation down to the faulty
node.
The sandbox validates with graphql-core, so it runs each validation rule on its own to
learn which rule produced an error and attaches graphql-ruby's code for that rule.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    ObjectFieldNode,
    OperationDefinitionNode,
    VariableDefinitionNode,
    Visitor,
    get_variable_values,
    is_non_null_type,
    print_ast,
    specified_rules,
    type_from_ast,
    validate,
    visit,
)
from graphql.utilities import validate_input_value
from graphql.validation import (
    FieldsOnCorrectTypeRule,
    FragmentsOnCompositeTypesRule,
    KnownArgumentNamesRule,
    KnownDirectivesRule,
    KnownFragmentNamesRule,
    KnownTypeNamesRule,
    NoUndefinedVariablesRule,
    NoUnusedFragmentsRule,
    NoUnusedVariablesRule,
    OverlappingFieldsCanBeMergedRule,
    PossibleFragmentSpreadsRule,
    ProvidedRequiredArgumentsRule,
    ScalarLeafsRule,
    UniqueArgumentNamesRule,
    UniqueOperationNamesRule,
    ValuesOfCorrectTypeRule,
    VariablesAreInputTypesRule,
    VariablesInAllowedPositionRule,
)

# graphql-ruby's error code for each graphql-core rule that has a counterpart.
RULE_CODES: dict[type, str] = {
    FieldsOnCorrectTypeRule: "undefinedField",
    FragmentsOnCompositeTypesRule: "fragmentOnNonCompositeType",
    KnownArgumentNamesRule: "argumentNotAccepted",
    KnownDirectivesRule: "undefinedDirective",
    KnownFragmentNamesRule: "useAndDefineFragment",
    KnownTypeNamesRule: "undefinedType",
    NoUndefinedVariablesRule: "variableNotDefined",
    NoUnusedFragmentsRule: "useAndDefineFragment",
    NoUnusedVariablesRule: "variableNotUsed",
    OverlappingFieldsCanBeMergedRule: "fieldConflict",
    PossibleFragmentSpreadsRule: "cannotSpreadFragment",
    ProvidedRequiredArgumentsRule: "missingRequiredArguments",
    ScalarLeafsRule: "selectionMismatch",
    UniqueArgumentNamesRule: "argumentNotUnique",
    UniqueOperationNamesRule: "uniquelyNamedOperations",
    ValuesOfCorrectTypeRule: "argumentLiteralsIncompatible",
    VariablesAreInputTypesRule: "variableRequiresValidType",
    VariablesInAllowedPositionRule: "variableMismatch",
}
# graphql-core reports a missing field of an input object literal from the same rule
# as a wrongly typed literal, where graphql-ruby has a code of its own.
MISSING_INPUT_FIELD_CODE = "missingRequiredInputObjectAttribute"
INVALID_VARIABLE_CODE = "INVALID_VARIABLE"


class _PathRecorder(Visitor):
    """Records, for every AST node, graphql-ruby's path of names leading to it."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: dict[int, list[str]] = {}
        self._stack: list[str | None] = []

    def enter(self, node: Node, *_args: Any) -> None:
        label = _path_label(node)
        self._stack.append(label)
        self.paths[id(node)] = [part for part in self._stack if part is not None]

    def leave(self, node: Node, *_args: Any) -> None:
        self._stack.pop()


def _path_label(node: Node) -> str | None:
    if isinstance(node, OperationDefinitionNode):
        operation = node.operation.value
        return f"{operation} {node.name.value}" if node.name else operation
    if isinstance(node, FragmentDefinitionNode):
        return f"fragment {node.name.value}"
    if isinstance(node, FieldNode | ArgumentNode | ObjectFieldNode):
        return node.name.value
    if isinstance(node, InlineFragmentNode):
        return (
            f"... on {node.type_condition.name.value}" if node.type_condition else "..."
        )
    if isinstance(node, FragmentSpreadNode):
        return f"... {node.name.value}"
    if isinstance(node, DirectiveNode):
        return f"@{node.name.value}"
    if isinstance(node, VariableDefinitionNode):
        return f"${node.variable.name.value}"
    return None


def format_error(
    error: GraphQLError, code: str | None = None, path: list[Any] | None = None
) -> dict[str, Any]:
    """Return an error as an entry of the response's ``errors`` list."""
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": location.line, "column": location.column}
            for location in error.locations
        ]
    if path is not None:
        formatted["path"] = path
    elif error.path is not None:
        formatted["path"] = list(error.path)
    extensions = dict(error.extensions or {})
    if code is not None:
        extensions["code"] = code
    if extensions:
        formatted["extensions"] = extensions
    return formatted


def validation_errors(
    schema: GraphQLSchema, document: DocumentNode
) -> list[dict[str, Any]]:
    """Validate ``document`` and return its errors with graphql-ruby codes and paths."""
    recorder = _PathRecorder()
    visit(document, recorder)
    errors: list[dict[str, Any]] = []
    for rule in specified_rules:
        for error in validate(schema, document, [rule]):
            code = RULE_CODES.get(rule)
            if rule is ValuesOfCorrectTypeRule and "was not provided" in error.message:
                code = MISSING_INPUT_FIELD_CODE
            path = None
            if error.nodes:
                path = recorder.paths.get(id(error.nodes[0]))
            errors.append(format_error(error, code, path))
    return errors


def _variable_problems(
    schema: GraphQLSchema, definition: VariableDefinitionNode, inputs: dict[str, Any]
) -> list[dict[str, Any]]:
    """Return the problems of one variable as Shopify's ``{path, explanation}`` list."""
    name = definition.variable.name.value
    var_type = type_from_ast(schema, definition.type)
    if var_type is None:
        return []
    if name not in inputs or inputs[name] is None:
        if definition.default_value is None and is_non_null_type(var_type):
            return [{"path": [], "explanation": "Expected value to not be null"}]
        return []
    problems: list[dict[str, Any]] = []

    def on_error(error: GraphQLError, path: list[str | int]) -> None:
        problems.append({"path": list(path), "explanation": error.message})

    validate_input_value(inputs[name], var_type, on_error)  # type: ignore[arg-type]
    return problems


def coerce_variables(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    inputs: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Coerce the operation's variables, returning the values and Shopify-style errors.

    Shopify reports each invalid variable as one error with code ``INVALID_VARIABLE``,
    the value as sent and a list of problems with their paths inside the value.
    """
    definitions = operation.variable_definitions or ()
    result = get_variable_values(schema, definitions, inputs)
    if not isinstance(result, list):
        return result.coerced, []
    errors: list[dict[str, Any]] = []
    for definition in definitions:
        problems = _variable_problems(schema, definition, inputs)
        if not problems:
            continue
        name = definition.variable.name.value
        type_text = print_ast(definition.type)
        first = problems[0]
        location = ""
        if first["path"]:
            location = " for " + ".".join(str(part) for part in first["path"])
        message = (
            f"Variable ${name} of type {type_text} was provided invalid value"
            f"{location} ({first['explanation']})"
        )
        error = GraphQLError(message, definition)
        formatted = format_error(error, INVALID_VARIABLE_CODE)
        formatted["extensions"]["value"] = inputs.get(name)
        formatted["extensions"]["problems"] = problems
        errors.append(formatted)
    if not errors:
        # A failure that no single variable explains, such as an unknown type name.
        errors = [format_error(error, INVALID_VARIABLE_CODE) for error in result]
    return {}, errors
