"""Running a runbook: each step through the same runner as `run ACTION` (validation, masking,
retries of the HTTP layer), with the runbook's own `if`, `foreach`, `retry` and `on_failure`.

The answer is one JSON document `{status, steps: [{id, action, status, output | error, attempts}],
outputs}`, every known secret masked in it.
"""

import json
import logging
import time

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin import validate
from pagerduty_plugin.errors import PluginError, bug, contains_secret, mask_secrets
from pagerduty_plugin.runbooks import expressions as expr
from pagerduty_plugin.runbooks.model import INPUT_TYPES, SECRET_INPUT_TYPES

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


class StepFailed(Exception):
    def __init__(self, error, attempts, output=None):
        super().__init__(error.cause)
        self.error, self.attempts, self.output = error, attempts, output


def run(runbook, inputs=None, connection=None, event=None, log=None, secrets=None, spec=None, sleep=time.sleep,
        between_steps=None):
    """Run a checked runbook (model.load) and return its answer, secrets masked.

    inputs: the runbook's inputs (defaults and `${{ event… }}` defaults filled in here); connection:
    the plugin's connection settings; event: the v3 webhook event object that started it, if any;
    secrets: a set the caller's log handler masks with, filled before each step runs; between_steps():
    called before each step but the first, what it raises ends the run (a run taken over meanwhile).
    """
    spec = spec or speclib.load()
    log = log or logging.getLogger("pagerduty_plugin")
    secrets = secrets if secrets is not None else set()
    secrets.update(runner.secret_values(spec, spec.connection, connection))
    context = {"inputs": {}, "steps": {}, "event": event}
    context["inputs"] = resolve_inputs(runbook, inputs, event, secrets)
    results, failed = [], False
    needs = [step.action for step in runbook.steps]  # one OAuth token serves every step
    for step in runbook.steps:
        if failed:
            entry = {"id": step.id, "action": step.action, "status": SKIPPED, "output": None, "attempts": 0,
                     "reason": "an earlier step failed"}
        else:
            if between_steps is not None and results:
                between_steps()
            entry = run_step(spec, step, context, connection, log, secrets, sleep, needs)
            failed = entry["status"] == FAILED and step.on_failure == "fail"
        context["steps"][step.id] = {"status": entry["status"], "output": entry.get("output"),
                                     "error": entry.get("error")}
        results.append(entry)
    answer = {"status": FAILED if failed else OK, "steps": results, "outputs": {}}
    try:
        answer["outputs"] = {name: expr.render(value, context) for name, value in runbook.outputs.items()}
    except expr.EvaluationError as exc:
        answer["status"] = FAILED
        answer["error"] = PluginError(f"An output of the runbook could not be evaluated: {exc}",
                                      "Fix the expression under outputs.").to_dict()
    return masked(answer, secrets)


def masked(answer, secrets):
    """answer with every secret masked; walked only when its JSON text holds one (the C encoder
    finds out in a fraction of the walk's time)."""
    if contains_secret(json.dumps(answer, default=str), secrets):
        return mask_secrets(answer, secrets)
    return answer


def resolve_inputs(runbook, given, event, secrets):
    """The runbook's inputs: given values, else defaults (which may read the event), type-checked."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(runbook.inputs))
    if unknown:
        raise PluginError(f"The runbook {runbook.name} has no input {', '.join(map(repr, unknown))}",
                          f"Its inputs: {', '.join(runbook.inputs) or 'none'}.",
                          {"field": unknown[0], "unknown": unknown})
    values = {}
    for name, declared in runbook.inputs.items():
        if given.get(name) not in (None, ""):
            value = given[name]
        elif declared["has_default"]:
            try:
                value = expr.render(declared["default"], {"inputs": dict(values), "steps": {}, "event": event})
            except expr.EvaluationError as exc:
                raise PluginError(f"The default of input '{name}' could not be evaluated: {exc}",
                                  f"Give {name} with --input.") from None
        else:
            value = None
        if value is None:
            if declared["required"]:
                raise PluginError(f"The runbook {runbook.name} needs the input '{name}'",
                                  f"Give it: --input '{{\"{name}\": ...}}'. {declared['description']}".strip(),
                                  {"field": name})
        elif not of_type(value, declared["type"]):
            raise PluginError(f"The input '{name}' must be {declared['type']}, not {validate.type_name(value)}",
                              f"Give {name} as {declared['type']}.", {"field": name})
        if declared["type"] in SECRET_INPUT_TYPES and isinstance(value, str) and value:
            secrets.add(value)
        values[name] = value
    return values


def of_type(value, kind):
    if kind.startswith("[]"):
        return isinstance(value, list) and all(of_type(item, kind[2:]) for item in value)
    expected = INPUT_TYPES[kind]
    if isinstance(value, bool) and expected is not bool:
        return False
    return isinstance(value, expected)


def run_step(spec, step, context, connection, log, secrets, sleep, needs=None):
    entry = {"id": step.id, "action": step.action}
    try:
        if step.foreach is None:
            if step.condition is not None and not expr.truthy(render(step, "if", step.condition, context)):
                log.info("step %s: skipped (its if is false)", step.id)
                return {**entry, "status": SKIPPED, "output": None, "attempts": 0}
            output, attempts = attempt(spec, step, context, connection, log, secrets, sleep, needs)
            log.info("step %s: ok (%d attempt%s)", step.id, attempts, "" if attempts == 1 else "s")
            return {**entry, "status": OK, "output": output, "attempts": attempts}
        return run_foreach(spec, step, context, connection, log, secrets, sleep, entry, needs)
    except StepFailed as exc:
        log.warning("step %s: failed after %d attempt(s): %s", step.id, exc.attempts, exc.error.cause)
        failed = {**entry, "status": FAILED, "error": exc.error.to_dict(), "attempts": exc.attempts}
        if exc.output is not None:  # a foreach keeps the outputs of the items that ran
            failed["output"] = exc.output
        return failed


def run_foreach(spec, step, context, connection, log, secrets, sleep, entry, needs=None):
    """One run of the action per item; the step's output is the list of outputs (null where skipped
    or failed). Items stop at the first failure unless on_failure is continue."""
    try:
        items = expr.render(step.foreach, context)
    except expr.EvaluationError as exc:
        raise StepFailed(expression_error(step, "foreach", exc), 0) from None
    if items is None:
        items = []
    if not isinstance(items, list):
        raise StepFailed(PluginError(f"foreach of step {step.id} gave {validate.type_name(items)}, not a list",
                                     "Make foreach an expression giving a list."), 0)
    outputs, failures, attempts, ran = [], [], 0, 0
    for index, item in enumerate(items):
        scope = {**context, "item": item, "index": index}
        if step.condition is not None and not expr.truthy(render(step, "if", step.condition, scope)):
            outputs.append(None)
            continue
        try:
            output, used = attempt(spec, step, scope, connection, log, secrets, sleep, needs)
        except StepFailed as exc:
            attempts += exc.attempts
            failures.append({"index": index, "error": exc.error.to_dict()})
            outputs.append(None)
            if step.on_failure != "continue":
                break
            continue
        attempts += used
        ran += 1
        outputs.append(output)
    if failures:
        first = failures[0]["error"]
        error = PluginError(f"{len(failures)} of {len(items)} items failed; item {failures[0]['index']}: "
                            f"{first['cause']}", first["assistance"], {"items": failures})
        raise StepFailed(error, attempts, outputs)
    if not ran:
        log.info("step %s: skipped (no item to run)", step.id)
        return {**entry, "status": SKIPPED, "output": outputs, "attempts": 0}
    log.info("step %s: ok (%d items, %d attempts)", step.id, ran, attempts)
    return {**entry, "status": OK, "output": outputs, "attempts": attempts}


def render(step, where, value, context):
    try:
        return expr.render(value, context)
    except expr.EvaluationError as exc:
        raise StepFailed(expression_error(step, where, exc), 0) from None


def expression_error(step, where, exc):
    return PluginError(f"Step {step.id}: {where} could not be evaluated: {exc}",
                       "Fix the expression (`pagerduty-plugin runbook run --dry-run` shows what it resolves to).")


def attempt(spec, step, context, connection, log, secrets, sleep, needs=None):
    """(output, attempts) of the action, tried 1 + retry.count times; StepFailed after the last.
    needs: the actions of the whole runbook, whose scopes an OAuth token is asked for."""
    values = render(step, "input", step.input, context)
    action = spec.actions.get(step.action) or {}
    secrets.update(runner.secret_values(spec, action.get("input"), values))
    tries = 1 + step.retry_count
    for number in range(1, tries + 1):
        try:
            output = runner.run_action(spec, step.action, values, connection, log, steps=needs)
            # a secret the step was answered (a webhook signing secret) is never kept in the runs store
            secrets.update(runner.secret_values(spec, action.get("output"), output))
            return output, number
        except PluginError as exc:
            error = exc
        except Exception as exc:  # a bug in an action fails the step with its cause, not the process
            error = bug(exc)
        if number < tries:
            log.info("step %s: attempt %d failed (%s); retrying in %gs", step.id, number, error.cause,
                     step.retry_delay)
            sleep(step.retry_delay)
    raise StepFailed(error, tries)
