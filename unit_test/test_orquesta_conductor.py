"""Exported workflows under Orquesta's own code (orquesta 1.2.0 from PyPI, in a Python 3.8 venv: its
networkx<2.0 imports only there): inspected as st2 inspects them, then driven through Orquesta's
WorkflowConductor as st2's workflow service drives it (orquesta_driver.py), each action answered by the pack's
own action module (exports/stackstorm_action.run) over scripted stand-ins. The same scenarios run with
`runbook run`'s engine (runbooks.execute.run) over the same stand-ins: step statuses, every call and the outputs
must be the same, or the runbook is refused at export."""

import json
import os
import subprocess
import textwrap
import urllib.parse

import pytest
import yaml

import cached_env
from conftest import ROOT
from runbook_support import EXAMPLES
from stand_in_actions import scripted

from pagerduty_plugin import runbooks
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.exports import stackstorm_action
from pagerduty_plugin.exports.stackstorm_sensor import inert_json
from pagerduty_plugin.runbooks import execute, orquesta

ORQUESTA = ["orquesta==1.2.0"]
DRIVER = os.path.join(ROOT, "unit_test", "orquesta_driver.py")
CONNECTION = {"api_key": "scripted-stand-in-key-0123456789"}
HOSTILE = "Ann {{ 6 * 7 }} {% if true %}yes{% endif %} <% 6 * 7 %> {# c #}"

USER = {"id": "PU1", "type": "user_reference", "summary": HOSTILE}
OTHER = {"id": "PU2", "type": "user_reference", "summary": "Bob <% $.x %>"}
ON_CALL = {"output": {"oncalls": [], "users": [USER, OTHER], "count": 2, "truncated": False}}
NOBODY = {"output": {"oncalls": [], "users": [], "count": 0, "truncated": False}}
CHANGE = {"output": {"status": "success", "message": "Change event processed"}}
HEALTHY = {"output": {"status": 200, "body": {"ok": True}}}
DOWN = {"error": "GET /health answered 503"}
ALERT = {"output": {"status": "success", "message": "Event processed", "incident_key": "deploy/web/1.2",
                    "dedup_key": "deploy/web/1.2"}}
FAILED = {"error": "PagerDuty refused it {{ 6 * 7 }}"}
KICKOFF = {"output": {"incident_workflow_instance": {"id": "PWFI1", "type": "incident_workflow_instance"}}}
DIAGNOSED = {"output": {"invocation": {"id": "PINV1", "state": "completed {{ 6 * 7 }}"}, "finished": True}}
FIELDS = {"output": {"custom_fields": [{"id": "PCF1", "name": "diagnostic_result"}]}}


def incident(urgency, title=HOSTILE):
    return {"output": {"incident": {
        "id": "PINC1", "type": "incident", "title": title, "urgency": urgency, "status": "triggered",
        "incident_number": 7, "created_at": "2026-12-01T00:00:00Z", "html_url": "https://x.pagerduty.com/i/PINC1",
        "service": {"id": "PSVC1", "type": "service_reference", "summary": "Checkout API"},
        "escalation_policy": {"id": "PEP1", "type": "escalation_policy_reference", "summary": "EP"}}}}


NOTE = {"output": {"note": {"id": "PN1", "content": "noted", "created_at": "2026-12-01T00:00:00Z"}}}
RESPONDERS = {"output": {"responder_request": {"incident": {"id": "PINC1", "type": "incident_reference"},
                                               "message": "Please look"}}}
EVENT = {"id": "E1", "event_type": "incident.triggered", "resource_type": "incident",
         "occurred_at": "2026-12-01T00:00:00Z", "agent": None, "client": None,
         "data": {"id": "PINC1", "type": "incident", "title": HOSTILE, "service": {"summary": "Checkout API"}}}
DEPLOY = {"service": "web", "version": "1.2", "health_check_path": "/health"}

CUSTOM = {
    "items.yaml": """
        name: items
        inputs:
          ids: {type: "[]string"}
        steps:
          - id: notes
            foreach: "${{ inputs.ids }}"
            action: add_note
            input: {incident_id: "${{ item }}", note: "item ${{ index }}: ${{ item }}"}
            retry: {count: 2, delay: 0}
            on_failure: %s
          - id: after
            action: list_teams
        outputs:
          notes: "${{ steps.notes.output[].note.id }}"
          status: "${{ steps.notes.status }}"
        """,
    "guards.yaml": """
        name: guards
        inputs:
          label: {type: string, default: "plain {{ literal }}"}
        steps:
          - id: oncall
            action: get_on_call
            input: {escalation_policy_id: PEP1}
          - id: skipped
            if: "${{ steps.oncall.output.count == `5` }}"
            action: get_incident
            input: {incident_id: PINC1}
          - id: note
            if: "${{ steps.oncall.output.count }}"
            action: add_note
            input:
              incident_id: PINC1
              note: "${{ inputs.label }}: ${{ steps.skipped.output.incident.title }}/${{ steps.oncall.output.users[0].summary }}/${{ steps.oncall.output.users[5].summary }}"
        outputs:
          title: "${{ steps.skipped.output.incident.title }}"
          first: "${{ steps.oncall.output.users[0].summary }}"
          names: "${{ join(', ', steps.oncall.output.users[].summary) }}"
          more: "${{ steps.oncall.output.count > `1` }}"
          odd: "${{ steps.oncall.output.users > `1` }}"
          empty: "${{ !(steps.oncall.output.users) }}"
        """,
}

SCENARIOS = [  # (name, runbook, inputs, event, answers)
    ("deploy healthy", "deploy.yaml", DEPLOY, None,
     {"send_change_event": [CHANGE], "api_request": [HEALTHY], "send_trigger_event": [ALERT]}),
    ("deploy failing", "deploy.yaml", DEPLOY, None,
     {"send_change_event": [CHANGE], "api_request": [DOWN], "send_trigger_event": [ALERT]}),
    ("deploy healthy at its retry", "deploy.yaml", DEPLOY, None,
     {"send_change_event": [CHANGE], "api_request": [DOWN, HEALTHY], "send_trigger_event": [ALERT]}),
    ("deploy change refused", "deploy.yaml", DEPLOY, None, {"send_change_event": [FAILED]}),
    ("deploy alert refused", "deploy.yaml", DEPLOY, None,
     {"send_change_event": [CHANGE], "api_request": [DOWN], "send_trigger_event": [FAILED]}),
    ("triage from an event", "triage.yaml", {}, EVENT,
     {"get_incident": [incident("high")], "get_on_call": [ON_CALL], "add_note": [NOTE],
      "add_responders": [RESPONDERS]}),
    ("triage low urgency", "triage.yaml", {"incident_id": "PINC1"}, None,
     {"get_incident": [incident("low")], "get_on_call": [ON_CALL]}),
    ("triage a failed item under continue", "triage.yaml", {"incident_id": "PINC1"}, None,
     {"get_incident": [incident("high")], "get_on_call": [ON_CALL], "add_note": [NOTE],
      "add_responders": [FAILED, RESPONDERS]}),
    ("triage note at its third try", "triage.yaml", {"incident_id": "PINC1"}, None,
     {"get_incident": [incident("high")], "get_on_call": [ON_CALL], "add_note": [FAILED, FAILED, NOTE],
      "add_responders": [RESPONDERS]}),
    ("triage nobody on call: an empty foreach", "triage.yaml", {"incident_id": "PINC1"}, None,
     {"get_incident": [incident("high")], "get_on_call": [NOBODY], "add_note": [NOTE]}),
    ("triage incident refused", "triage.yaml", {"incident_id": "PINC1"}, None, {"get_incident": [FAILED]}),
    ("a foreach retried at its second item", "items continue", {"ids": ["PA", "PB", "PC"]}, None,
     {"add_note": [NOTE, FAILED, NOTE, NOTE], "list_teams": [{"output": {"teams": [], "count": 0,
                                                                          "truncated": False}}]}),
    ("a foreach failing at its second item", "items fail", {"ids": ["PA", "PB", "PC"]}, None,
     {"add_note": [NOTE, FAILED]}),
    ("a failed item under continue, the rest run", "items continue", {"ids": ["PA", "PB", "PC"]}, None,
     {"add_note": [NOTE, FAILED, FAILED, FAILED, NOTE], "list_teams": [{"output": {
         "teams": [], "count": 0, "truncated": False}}]}),
    ("an empty foreach", "items continue", {"ids": []}, None,
     {"list_teams": [{"output": {"teams": [], "count": 0, "truncated": False}}]}),
    ("guards: skipped outputs, 0 is true, PagerDuty text holding {{ }} and <% %>", "guards.yaml", {}, None,
     {"get_on_call": [ON_CALL], "add_note": [NOTE]}),
    ("guards: nobody on call", "guards.yaml", {}, None, {"get_on_call": [NOBODY], "add_note": [NOTE]}),
    ("diagnose: workflow, automation action, custom field and note", "diagnose.yaml", {"incident_id": "PINC1"}, None,
     {"start_incident_workflow": [KICKOFF], "invoke_automation_action": [DIAGNOSED],
      "set_incident_custom_field_values": [FIELDS], "add_note": [NOTE]}),
    ("diagnose: the automation action refused", "diagnose.yaml", {"incident_id": "PINC1"}, None,
     {"start_incident_workflow": [KICKOFF], "invoke_automation_action": [FAILED]}),
]


@pytest.fixture(scope="module")
def scripted_spec(tmp_path_factory):
    """The real spec with every action answered by stand_in_actions.scripted."""
    directory = tmp_path_factory.mktemp("scripted")
    with open(os.path.join(ROOT, "plugin.spec.yaml"), encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    raw["python"] = {**raw["python"], "actions": "stand_in_actions",
                     "connection": "stand_in_actions.scripted:Connection",
                     "implementations": {**raw["python"]["implementations"],
                                         "actions": {name: f"scripted:{name}" for name in raw["actions"]}}}
    path = directory / "plugin.spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path), str(directory / "cache")


def runbook_file(tmp_path, name):
    if name.endswith(".yaml") and name not in CUSTOM:
        return os.path.join(EXAMPLES, name)
    base, _, mode = name.partition(" ")
    text = CUSTOM[base if base.endswith(".yaml") else base + ".yaml"]
    path = tmp_path / (base.replace(".yaml", "") + (f"-{mode}" if mode else "") + ".yaml")
    path.write_text(textwrap.dedent(text % mode if mode else text))
    return str(path)


def test_sixteen_scenarios_mean_the_same_under_orquesta_and_runbook_run(tmp_path, scripted_spec, monkeypatch):
    path, cache = scripted_spec
    monkeypatch.setenv("PAGERDUTY_PLUGIN_SPEC", path)
    monkeypatch.setenv("PAGERDUTY_PLUGIN_CACHE", cache)
    python = cached_env.venv("orquesta", ORQUESTA, python="3.8")
    spec = speclib.load(path)
    expected, workflows = [], []
    for name, book_name, inputs, event, answers in SCENARIOS:
        book = runbooks.load(runbook_file(tmp_path, book_name), spec)
        scripted.script(answers)
        answer = execute.run(book, inputs, CONNECTION, event, spec=spec, sleep=lambda seconds: None)
        expected.append((answer, list(scripted.CALLS)))
        text, _ = orquesta.export(book, spec)
        workflows.append({"name": name, "workflow": text,
                          "input": {"input_json": inert_json(inputs), "event_json": inert_json(event) if event
                                    else None}})
    driver = subprocess.Popen([python, DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for (name, _, _, _, answers), workflow, (answer, calls) in zip(SCENARIOS, workflows, expected):
            scripted.script(answers)
            driver.stdin.write(json.dumps(workflow) + "\n")
            driver.stdin.flush()
            done = serve_calls(driver)
            assert "inspection" not in done, (name, done)
            steps = done["output"]["steps"] if done.get("output") else {}
            assert {k: v["status"] for k, v in steps.items()} == {s["id"]: s["status"] for s in answer["steps"]}, \
                (name, done)
            assert scripted.CALLS == calls, name
            assert {k: v["output"] for k, v in steps.items()} == \
                {s["id"]: s.get("output") for s in answer["steps"]}, name
            assert done["output"]["outputs"] == answer["outputs"], name
            assert (done["status"] == "succeeded") is (answer["status"] == "ok"), (name, done, answer["status"])
            assert "42" not in json.dumps(done["output"]) + json.dumps(scripted.CALLS), name
    finally:
        driver.stdin.close()
        driver.wait(timeout=60)


def serve_calls(driver):
    """Answer the driver's calls with the pack's action module (as st2's python runner runs it) until the
    scenario is done."""
    while True:
        line = driver.stdout.readline()
        assert line, "the Orquesta driver stopped"
        message = json.loads(line)
        if "done" in message:
            return message["done"]
        call = message["call"]
        assert call["action"] == orquesta.STEP_ACTION
        ok, result = stackstorm_action.run(CONNECTION, call["input"])
        driver.stdin.write(json.dumps({"status": "succeeded" if ok else "failed", "result": result}) + "\n")
        driver.stdin.flush()


def test_the_step_input_reaches_the_action_as_text_without_an_expression():
    """The pack's runbook_step decodes pagerduty_input; a control: anything else is refused."""
    encoded = urllib.parse.quote(json.dumps({"note": HOSTILE}))
    assert not any(d in encoded for d in ("{{", "{%", "{#", "<%"))
    assert stackstorm_action.step_input(encoded) == {"note": HOSTILE}
    ok, result = stackstorm_action.run({}, {"pagerduty_action": "add_note", "pagerduty_input": "not json"})
    assert ok is False and "pagerduty_input" in result["error"]["cause"]


def test_the_event_reaches_a_workflow_as_json_holding_no_expression():
    """What the pack's sensors dispatch beside each event (event_json), and how scenarios give inputs: JSON in
    which no delimiter of Jinja or YAQL appears, read back as the same value."""
    event = {**EVENT, "data": {"title": HOSTILE + " {{{ x }}} %> {%- y -%} <%", "nested": [{"a": {}}]}}
    text = inert_json(event)
    assert not any(d in text for d in ("{{", "{%", "{#", "<%")) and json.loads(text) == event
    assert "{{" in json.dumps(event)  # the control: plain JSON would hold one


def content_problems(workflow, pack):
    """st2's inspect_task_contents (st2common/st2common/services/workflows.py), which st2 runs with Orquesta's
    inspection before a start: each task's action is registered, given its required inputs and nothing else
    (action_param_utils.validate_action_parameters; a python-script runner adds no required parameter)."""
    problems = []
    for name, task in workflow["tasks"].items():
        if "action" not in task:
            continue
        pack_name, _, action = task["action"].partition(".")
        metadata = pack.get(f"actions/{action}.yaml") if pack_name == "pagerduty_plugin" else None
        if metadata is None:
            problems.append(f"{name}: the action {task['action']} is not registered")
            continue
        parameters = yaml.safe_load(metadata)["parameters"]
        given = task.get("input") or {}
        problems += [f"{name}: missing {p}" for p, schema in parameters.items()
                     if schema.get("required") and "default" not in schema and p not in given]
        problems += [f"{name}: unexpected {p}" for p in given if p not in parameters]
    return problems


@pytest.mark.parametrize("name", sorted(os.listdir(EXAMPLES)))
def test_every_example_exports_to_what_st2_accepts_or_is_refused_naming_the_step(name):
    from pagerduty_plugin.exports.stackstorm import pack_files

    spec = speclib.load()
    book = runbooks.load(os.path.join(EXAMPLES, name), spec)
    try:
        text, _ = orquesta.export(book, spec)
    except Exception as exc:  # a refusal names the step and the field
        assert "cannot be exported to Orquesta" in exc.cause and set(exc.data) == {"step", "field"}
        assert name not in {book_name for _, book_name, _, _, _ in SCENARIOS}
        return
    assert name in {book_name for _, book_name, _, _, _ in SCENARIOS}, "every exported example is driven above"
    workflow, pack = yaml.safe_load(text), pack_files(spec)
    assert content_problems(workflow, pack) == []
    broken = {**workflow, "tasks": {**workflow["tasks"], "extra": {"action": orquesta.STEP_ACTION, "input": {"x": 1}}}}
    assert content_problems(broken, pack) == ["extra: missing pagerduty_action", "extra: missing pagerduty_input",
                                              "extra: unexpected x"]
