"""`runbook run --dry-run`: the plan, resolved as far as the inputs and the event allow, nothing sent.

A value that reads only inputs and the event is shown resolved (and a step whose input is all
resolved is validated against the action's input schema); one that reads an earlier step's
result or a foreach item is shown as written.
"""

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.errors import PluginError, mask_secrets
from pagerduty_plugin.runbooks import expressions as expr
from pagerduty_plugin.runbooks.execute import resolve_inputs

KNOWN_BEFORE_RUN = {"inputs", "event"}


def plan(runbook, inputs=None, event=None, spec=None, secrets=None):
    spec = spec or speclib.load()
    secrets = secrets if secrets is not None else set()
    context = {"inputs": resolve_inputs(runbook, inputs, event, secrets), "steps": {}, "event": event}
    steps = [plan_step(spec, step, context, secrets) for step in runbook.steps]
    invalid = any("error" in step for step in steps)
    outputs = {name: resolved(value, context) for name, value in runbook.outputs.items()}
    answer = {"status": "invalid" if invalid else "planned", "dry_run": True, "inputs": context["inputs"],
              "steps": steps, "outputs": outputs}
    return mask_secrets(answer, secrets)


def plan_step(spec, step, context, secrets):
    entry = {"id": step.id, "action": step.action}
    if step.condition is not None:
        entry["if"] = resolved(step.condition, context)
        if known(step.condition) and not expr.truthy(entry["if"]):
            return {**entry, "would": "skip"}
    if step.foreach is not None:
        entry["foreach"] = resolved(step.foreach, context)
    entry["input"] = resolved(step.input, context)
    if step.retry_count:
        entry["retry"] = {"count": step.retry_count, "delay": step.retry_delay}
    entry["on_failure"] = step.on_failure
    entry["would"] = "run"
    if known(step.input) and (step.foreach is None or known(step.foreach)):
        problem = input_problem(spec, step.action, entry["input"], secrets)
        if problem:
            entry["error"] = problem
    return entry


def known(value):
    """True when every expression in value reads only what is known before the run."""
    return all(expr.roots(expression) <= KNOWN_BEFORE_RUN
               for template in expr.templates(value) for expression in template.expressions)


def resolved(value, context):
    """value resolved where it is known before the run, else as written."""
    if isinstance(value, expr.Template):
        if not known(value):
            return value.source()
        try:
            return value.render(context)
        except expr.EvaluationError as exc:
            return {"unresolved": value.source(), "error": str(exc)}
    if isinstance(value, dict):
        return {key: resolved(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [resolved(item, context) for item in value]
    return value


def input_problem(spec, action_name, values, secrets):
    action = spec.actions.get(action_name) or {}
    secrets.update(runner.secret_values(spec, action.get("input"), values))
    try:
        runner.checked_input(spec, action_name, values)
    except PluginError as exc:
        return exc.to_dict()
    return None
