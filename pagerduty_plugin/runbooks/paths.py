"""The paths an expression reads, followed through the schemas: `runbook check`'s deepest part.

An expression is walked on its JMESPath AST (no parser of our own): a name must be one the context
has here, a step it reads must exist and run earlier, and each field of a path must exist in the
earlier step's output schema (or the webhook event's, or the foreach item's) where that schema
names its fields. Free-form objects (`object` fields) are not followed.
"""

import difflib

from pagerduty_plugin import spec as speclib
from pagerduty_plugin.runbooks import expressions as expr
from pagerduty_plugin.runbooks.model import INPUT_TYPES


def suggest(name, known):
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Marker:
    """What a path points at before it reaches data with a schema: the context, `steps`, a step, `inputs`."""

    def __init__(self, kind, name=None):
        self.kind, self.name = kind, name


CONTEXT, STEPS, INPUTS = Marker("context"), Marker("steps"), Marker("inputs")
BOOLEAN = {"type": "boolean"}
STEP_FIELDS = ("status", "output", "error")


class Paths:
    """Checks the expressions of one place (a step, an output) against what it may read.

    position: how many steps run before this place (it may read those); reads: the context names
    it may read; item: the schema of the foreach items, when known.
    """

    def __init__(self, runbook, spec, position, reads, item=None):
        self.runbook, self.spec, self.position, self.reads, self.item = runbook, spec, position, reads, item
        self.definitions = {}
        self.where = (None, None)

    def check_value(self, value, step_id, field_name):
        self.where = (step_id, field_name)
        for template in expr.templates(value):
            for expression in template.expressions:
                self.walk(expression.ast, CONTEXT, "")

    def item_schema(self, foreach):
        """The schema of one item of a foreach list, when the list's schema says it."""
        if not isinstance(foreach, expr.Template) or not foreach.whole:
            return None
        quiet = Paths(self.runbook, self.spec, self.position, self.reads)
        quiet.report = lambda message: None
        schema, _ = quiet.walk(foreach.expressions[0].ast, CONTEXT, "")
        schema = self.deref(schema) if isinstance(schema, dict) else None
        self.definitions.update(quiet.definitions)
        return schema.get("items") if schema and "array" in types_of(schema) else None

    def report(self, message):
        self.runbook.note(message, *self.where)

    def walk(self, node, current, path):
        """(schema or Marker or None for unknown, path text) of node evaluated on current."""
        if not isinstance(node, dict):
            return None, path
        kind, children = node.get("type"), [c for c in node.get("children") or [] if isinstance(c, dict)]
        if kind == "field":
            return self.field(current, node["value"], path)
        if kind == "subexpression" or kind == "pipe":  # jmespath folds a.b.c into one node of 3 children
            for child in children:
                current, path = self.walk(child, current, path)
            return current, path
        if kind == "index_expression":
            left, left_path = self.walk(children[0], current, path)
            if children[1].get("type") == "slice":
                return left, f"{left_path}[:]"
            return self.items(left, left_path), f"{left_path}[{children[1].get('value')}]"
        if kind == "projection":
            left, left_path = self.walk(children[0], current, path)
            item = self.items(left, left_path) if children[0].get("type") != "value_projection" else None
            right, _ = self.walk(children[1], item, f"{left_path}[]")
            return array_of(right), f"{left_path}[]"
        if kind == "flatten":
            return self.walk(children[0], current, path)
        if kind == "filter_projection":
            left, left_path = self.walk(children[0], current, path)
            item = self.items(left, left_path)
            self.walk(children[2], item, f"{left_path}[?]")
            right, _ = self.walk(children[1], item, f"{left_path}[?]")
            return array_of(right), f"{left_path}[?]"
        if kind == "value_projection":
            left, left_path = self.walk(children[0], current, path)
            self.walk(children[1], None, f"{left_path}.*")
            return None, f"{left_path}.*"
        if kind in ("current", "identity"):
            return current, path
        if kind == "function_expression":
            if node.get("value") not in expr.FUNCTION_NAMES and node.get("value") not in JMESPATH_FUNCTIONS:
                self.report(f"unknown function {node.get('value')}()")
            for child in children:
                self.walk(child, current, path)
            return None, path
        if kind == "expref":
            self.walk(children[0], None, path)  # applied to items the function picks: not followed
            return None, path
        for child in children:  # comparisons, and/or/not, multi-selects, literals
            self.walk(child, current, path)
        return (BOOLEAN if kind in ("comparator", "and_expression", "or_expression", "not_expression")
                else None), path

    def field(self, current, name, path):
        at = f"{path}.{name}" if path else name
        if current is CONTEXT:
            return self.context_name(name), name
        if current is STEPS:
            return self.step_reference(name), at
        if current is INPUTS:
            declared = self.runbook.inputs.get(name)
            if declared is None:
                self.report(f"{at}: the runbook declares no input '{name}'{suggest(name, self.runbook.inputs)}")
                return None, at
            return input_schema(declared["type"]), at
        if isinstance(current, Marker):  # a step: steps.ID.<status|output|error>
            return self.step_field(current, name, path), at
        return self.schema_field(current, name, path), at

    def context_name(self, name):
        if name not in expr.CONTEXT_NAMES:
            self.report(f"unknown name '{name}': expressions read {', '.join(expr.CONTEXT_NAMES)}")
            return None
        if name not in self.reads:
            self.report(f"'{name}' cannot be read here (here: {', '.join(self.reads)})")
            return None
        if name == "steps":
            return STEPS
        if name == "inputs":
            return INPUTS
        if name == "event":
            return self.event_schema()
        return self.item if name == "item" else {"type": "integer"}

    def step_reference(self, name):
        step = self.runbook.step(name)
        if step is None:
            self.report(f"steps.{name}: there is no step '{name}'{suggest(name, [s.id for s in self.runbook.steps])}")
            return None
        if self.position is None or step.position >= self.position:
            self.report(f"steps.{name}: the step '{name}' has not run yet here (a step reads only earlier steps)")
            return None
        return Marker("step", step)

    def step_field(self, marker, name, path):
        step = marker.name
        if name not in STEP_FIELDS:
            self.report(f"{path}.{name}: a step has {', '.join(STEP_FIELDS)}")
            return None
        if name == "status":
            return {"type": "string"}
        if name == "error" or step.action not in self.spec.actions:
            return None
        schema = self.spec.output_schema(step.action)
        self.definitions.update(schema.get("definitions") or {})
        return array_of(schema) if step.foreach else schema

    def schema_field(self, schema, name, path):
        schema = self.deref(schema)
        if not schema:
            return None
        path = path or "(…)"  # e.g. `!inputs.x` is `(!inputs).x` in JMESPath
        kinds = types_of(schema)
        if "object" in kinds and schema.get("properties"):
            if name in schema["properties"]:
                return schema["properties"][name]
            known = ", ".join(schema["properties"])
            self.report(f"{path}.{name}: {path} has no field '{name}'{suggest(name, schema['properties'])} "
                        f"(it has: {known})")
            return None
        if kinds and "object" not in kinds:
            hint = f" (use {path}[].{name} for each item, or {path}[0].{name})" if "array" in kinds else ""
            self.report(f"{path}.{name}: {path} is {' or '.join(sorted(kinds - {'null'}))}, not an object{hint}")
        return None

    def items(self, schema, path):
        schema = self.deref(schema)
        if not schema:
            return None
        kinds = types_of(schema)
        if kinds and "array" not in kinds:
            self.report(f"{path}[]: {path} is {' or '.join(sorted(kinds - {'null'}))}, not a list")
            return None
        return schema.get("items")

    def deref(self, schema):
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.definitions.get(schema["$ref"].rsplit("/", 1)[-1])
        return schema if isinstance(schema, dict) else None

    def event_schema(self):
        fields = self.spec.types.get("webhook_event")
        if not fields:
            return None
        schema = speclib.object_schema(fields, self.spec.types, "output")
        self.definitions.update(schema.get("definitions") or {})
        return schema


JMESPATH_FUNCTIONS = {
    "abs", "avg", "ceil", "contains", "ends_with", "floor", "join", "keys", "length", "map", "max", "max_by",
    "merge", "min", "min_by", "not_null", "reverse", "sort", "sort_by", "starts_with", "sum", "to_array",
    "to_number", "to_string", "type", "values",
}


def types_of(schema):
    kind = schema.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def array_of(schema):
    return {"type": "array", "items": schema} if isinstance(schema, dict) else {"type": "array"}


def input_schema(kind):
    if kind.startswith("[]"):
        return {"type": "array", "items": input_schema(kind[2:])}
    python_type = INPUT_TYPES.get(kind)
    names = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}
    return {"type": names.get(python_type, "number")}
