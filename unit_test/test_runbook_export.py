"""`runbook export --to orquesta`: an Orquesta workflow of the same meaning, or a refusal naming the step."""

import json
import re
import urllib.parse

import pytest
import yaml
from runbook_support import EXAMPLES, runbook, write_runbook

from pagerduty_plugin import runbooks
from pagerduty_plugin.runbooks import expressions

ENGINE_COMMANDS = {"continue", "fail", "noop", "retry"}


def export(tmp_path, path):
    out = tmp_path / "workflow.yaml"
    result = runbook(tmp_path, "export", "--to", "orquesta", path, "--out", str(out))
    return result, (yaml.safe_load(out.read_text()) if result.code == 0 else None)


def test_triage_exports_as_an_orquesta_workflow(tmp_path):
    result, workflow = export(tmp_path, f"{EXAMPLES}/triage.yaml")
    assert result.code == 0, result.stdout
    assert result.doc["tasks"] == len(workflow["tasks"])
    assert result.doc["action_refs"] == ["pagerduty_plugin.runbook_step"]
    assert workflow["version"] == 1.0
    assert workflow["input"] == [{"input_json": "{}"}, {"event_json": None}]  # JSON: no expression in it
    tasks = workflow["tasks"]
    assert {"start", "incident", "oncall", "note__if", "note", "responders__init", "responders__loop",
            "responders"} <= set(tasks)
    for name, task in tasks.items():
        assert set(task) <= {"action", "input", "next", "retry"}, name
        if "action" in task:
            assert task["action"] == "pagerduty_plugin.runbook_step"
            assert set(task["input"]) == {"pagerduty_action", "pagerduty_input"}
            assert task["input"]["pagerduty_input"].endswith("| tojson | urlencode }}")
        for transition in task.get("next", []):
            assert set(transition) <= {"when", "publish", "do"}
            targets = transition.get("do", [])
            for target in [targets] if isinstance(targets, str) else targets:
                assert target in tasks or target in ENGINE_COMMANDS, (name, target)
            for item in transition.get("publish", []):
                assert isinstance(item, dict) and len(item) == 1
    assert tasks["note"]["input"]["pagerduty_action"] == "add_note"
    assert tasks["note"]["retry"] == {"count": 3, "delay": 2}  # an int: a float fails Orquesta's TaskRetrySpec
    assert "with" not in tasks["responders"]  # a loop: with-items stops at a failed item and retries them all
    assert {"step_note_status": "skipped"} in workflow["vars"]
    assert [list(entry) for entry in workflow["output"]] == [["steps"], ["outputs"]]


def test_the_deploy_pipeline_exports_with_its_failure_path(tmp_path):
    result, workflow = export(tmp_path, f"{EXAMPLES}/deploy.yaml")
    assert result.code == 0, result.stdout
    health = workflow["tasks"]["health"]
    failed = health["next"][1]
    assert failed["when"] == "{{ failed() }}" and failed["do"] == "alert__if"
    assert health["retry"] == {"count": 2, "delay": 1}
    assert workflow["tasks"]["change"]["next"][1]["do"] == "fail"  # on_failure: fail


def test_a_delay_orquesta_cannot_wait_is_refused(tmp_path):
    path = write_runbook(tmp_path, """
        name: t
        steps:
          - id: a
            action: list_teams
            retry: {count: 1, delay: 1.5}
        """)
    result, _ = export(tmp_path, path)
    assert result.code == 1 and result.error["data"] == {"step": "a", "field": "retry.delay"}, result.stdout


@pytest.mark.parametrize("name, step, field", [
    ("resolve-stale.yaml", "note", "if"),             # hours_since()
    ("access-review.yaml", None, "outputs.admins"),   # a [?filter]
])
def test_what_cannot_be_translated_faithfully_is_refused_naming_the_step(tmp_path, name, step, field):
    result, _ = export(tmp_path, f"{EXAMPLES}/{name}")
    assert result.code == 1
    error = result.error
    assert "cannot be exported to Orquesta" in error["cause"] and field in error["cause"]
    assert error["data"] == {"step": step, "field": field}
    assert not (tmp_path / "workflow.yaml").exists()


@pytest.mark.parametrize("expression", ["hours_since(inputs.when)", "steps.a.error.cause", "inputs.x || inputs.when",
                                        "inputs.xs[1:]", "inputs.xs[-1]", "{a: inputs.x}", "max(inputs.xs)"])
def test_refused_expressions(tmp_path, expression):
    path = write_runbook(tmp_path, f"""
        name: t
        inputs:
          when: {{type: string}}
          xs: {{type: "[]number"}}
          x: {{type: string}}
        steps:
          - id: a
            action: list_teams
            on_failure: continue
          - id: b
            foreach: "${{{{ inputs.xs }}}}"
            action: add_note
            input: {{incident_id: PABC123, note: "${{{{ {expression} }}}}"}}
        """)
    result, _ = export(tmp_path, path)
    assert result.code == 1 and result.error["data"] == {"step": "b", "field": "input.note"}, result.stdout


jinja2 = pytest.importorskip("jinja2")


def jinja_value(code, context, item=None):
    """An exported value as Orquesta renders it: one whole {{ }} keeps its type."""
    body = re.fullmatch(r"\{\{(.*)\}\}", code, re.S).group(1)
    return jinja2.Environment().compile_expression(body.strip())(ctx=lambda: context, item=lambda: item)


def test_translations_give_what_jmespath_gives(tmp_path):
    """The exported expressions, evaluated by Jinja over the same data, equal the runbook's values."""
    path = write_runbook(tmp_path, """
        name: t
        inputs:
          incident_id: {type: string}
          n: {type: integer, default: 2}
        steps:
          - id: a
            action: get_on_call
          - id: b
            if: "${{ steps.a.output.count > `1` && !(steps.a.output.truncated) || inputs.n == `0` }}"
            action: add_note
            input:
              incident_id: "${{ inputs.incident_id }}"
              note: "On call: ${{ join(', ', steps.a.output.oncalls[].user.summary) }}; n=${{ inputs.n }}; x=${{ steps.a.output.oncalls[0].schedule }}; users=${{ steps.a.output.users[].id }}"
        outputs:
          levels: "${{ steps.a.output.oncalls[].escalation_level }}"
          first: "${{ steps.a.output.oncalls[1].user.id }}"
          count: "${{ length(steps.a.output.users) }}"
          missing: "${{ steps.a.output.oncalls[].schedule.summary }}"
          name: '${{ steps.a.output.oncalls[0].user."summary" }}'
          beyond: "${{ steps.a.output.oncalls[7].user.id }}"
        """)
    book = runbooks.load(path)
    user = {"id": "PU1", "type": "user_reference", "summary": "Nia Oncall"}
    output = {"oncalls": [{"user": user, "escalation_level": 1, "schedule": None},
                          {"user": {**user, "id": "PU2", "summary": "Olive Owner"}, "escalation_level": 2,
                           "schedule": {"id": "PS1", "summary": "Primary"}}],
              "users": [user], "count": 2, "truncated": False}
    inputs = {"incident_id": "PABC123", "n": 2}
    jmes = {"inputs": inputs, "steps": {"a": {"status": "ok", "output": output, "error": None}}, "event": None}
    ctx = {"runbook_inputs": inputs, "step_a_status": "ok", "step_a_output": output}
    result, workflow = export(tmp_path, path)
    assert result.code == 0, result.stdout
    gate = workflow["tasks"]["b__if"]["next"][0]["when"]
    assert jinja_value(gate, ctx) is expressions.truthy(book.step("b").condition.render(jmes))
    sent = json.loads(urllib.parse.unquote(jinja_value(workflow["tasks"]["b"]["input"]["pagerduty_input"], ctx)))
    assert sent == expressions.render(book.step("b").input, jmes)
    outputs = jinja_value(workflow["output"][1]["outputs"], ctx)
    assert outputs == {name: expressions.render(value, jmes) for name, value in book.outputs.items()}
