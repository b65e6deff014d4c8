"""`runbook check`: everything wrong with a runbook, found before any request is sent.

Beyond the shape (runbook.schema.json, validated by model.py) it checks each step against the spec:
a known action, input fields the action has, its required inputs given, literal values valid for
their field; and each expression's paths (paths.py): names the context has, earlier steps only,
fields their schemas have.
"""

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin import validate
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.runbooks import expressions as expr
from pagerduty_plugin.runbooks.paths import Paths, suggest


def check(runbook, spec=None):
    """The runbook's problems, each {file, step, field, message}; empty when it may run."""
    spec = spec or speclib.load()
    problems_before = len(runbook.problems)
    check_on(runbook, spec)
    for name, declared in runbook.inputs.items():
        check_default(runbook, name, declared)
        Paths(runbook, spec, None, reads=("inputs", "event")).check_value(declared["default"], None,
                                                                         f"inputs.{name}.default")
    for step in runbook.steps:
        check_step(runbook, spec, step)
    paths = Paths(runbook, spec, len(runbook.steps), reads=("inputs", "steps", "event"))
    for name, value in runbook.outputs.items():
        paths.check_value(value, None, f"outputs.{name}")
    problems = runbook.problems
    runbook.problems = problems[:problems_before]  # check may be run again on the same runbook
    return problems


def check_default(runbook, name, declared):
    """A literal default of the wrong type, refused now rather than by `run` (a default holding
    expressions is checked when it is evaluated)."""
    from pagerduty_plugin.runbooks.execute import of_type

    default = declared["default"]
    if default is None or any(True for _ in expr.templates(default)) or of_type(default, declared["type"]):
        return
    runbook.note(f"the default {validate.short(default)} is not {declared['type']}", None,
                 f"inputs.{name}.default")


def check_on(runbook, spec):
    if not runbook.on:
        return
    trigger = runbook.on.get("trigger")
    if trigger is not None and trigger not in spec.triggers:
        runbook.note(f"unknown trigger '{trigger}'{suggest(trigger, spec.triggers)} "
                     f"(triggers: {', '.join(sorted(spec.triggers))})", None, "on.trigger")
    Paths(runbook, spec, None, reads=("event",)).check_value(runbook.on.get("if"), None, "on.if")


def check_step(runbook, spec, step):
    if step.action and step.action not in spec.actions:
        runbook.note(f"unknown action '{step.action}'{suggest(step.action, spec.actions)} "
                     "(`pagerduty-plugin info` lists them)", step.id, "action")
    reads = ("inputs", "steps", "event")
    Paths(runbook, spec, step.position, reads=reads).check_value(step.foreach, step.id, "foreach")
    paths = Paths(runbook, spec, step.position, reads=reads + (("item", "index") if step.foreach else ()))
    paths.item = paths.item_schema(step.foreach) if step.foreach else None
    paths.check_value(step.condition, step.id, "if")
    for name, value in step.input.items():
        paths.check_value(value, step.id, f"input.{name}")
    if step.action in spec.actions:
        check_input_fields(runbook, spec, step)


def check_input_fields(runbook, spec, step):
    fields = spec.actions[step.action].get("input") or {}
    aliases = spec.aliases(step.action)
    earlier = {alias for names in aliases.values() for alias in names}
    for name in step.input:
        if name not in fields and name not in earlier:
            runbook.note(f"the action {step.action} has no input '{name}'{suggest(name, fields)} "
                         f"(its inputs: {', '.join(fields) or 'none'})", step.id, f"input.{name}")
    for name, field in fields.items():
        given = name in step.input or any(alias in step.input for alias in aliases.get(name, ()))
        if field.get("required") and "default" not in field and not given:
            runbook.note(f"missing required input '{name}' of {step.action}: {field.get('description', '')}",
                         step.id, f"input.{name}")
    schema = spec.input_schema(step.action)
    for name, value in step.input.items():
        if name in fields and value is not None and not any(True for _ in expr.templates(value)):
            problem = literal_problem(spec, fields, schema, name, value)
            if problem:
                runbook.note(problem, step.id, f"input.{name}")


def literal_problem(spec, fields, schema, name, value):
    """Why a value written out in the runbook is not valid for the field, or None."""
    single = {"type": "object", "properties": {name: schema["properties"][name]}}
    if "definitions" in schema:
        single["definitions"] = schema["definitions"]
    try:
        values = runner.prepare(spec, {name: fields[name]}, {name: value}, "input")
        validate.check_against_schema(single, values, "input")
    except PluginError as exc:
        return exc.cause
    return None
