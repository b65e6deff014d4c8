"""`runbook check`: each class of mistake refused before any request, naming file, step and field."""

import pytest
from runbook_support import EXAMPLES, problems, run_book, runbook, write_runbook

GOOD_STEP = """
          - id: incident
            action: get_incident
            input: {incident_id: PABC123}"""


def check(tmp_path, text):
    path = write_runbook(tmp_path, text)
    return path, runbook(tmp_path, "check", path)


def only_problem(tmp_path, text):
    path, result = check(tmp_path, text)
    found = problems(result)
    assert len(found) == 1, found
    assert found[0]["file"] == path
    return found[0]


def test_the_examples_pass_the_check(tmp_path):
    import glob

    files = sorted(glob.glob(f"{EXAMPLES}/*.yaml"))
    assert len(files) == 5
    result = runbook(tmp_path, "check", *files)
    assert result.code == 0 and result.doc["ok"], result.doc


def test_unknown_action(tmp_path):
    problem = only_problem(tmp_path, """
        name: t
        steps:
          - id: incident
            action: get_incidnt
            input: {incident_id: PABC123}
        """)
    assert (problem["step"], problem["field"]) == ("incident", "action")
    assert "unknown action 'get_incidnt'" in problem["message"] and "get_incident" in problem["message"]


def test_input_field_the_action_does_not_have(tmp_path):
    problem = only_problem(tmp_path, """
        name: t
        steps:
          - id: incident
            action: get_incident
            input: {incident_id: PABC123, urgency: high}
        """)
    assert (problem["step"], problem["field"]) == ("incident", "input.urgency")
    assert "has no input 'urgency'" in problem["message"]


def test_missing_required_input(tmp_path):
    problem = only_problem(tmp_path, """
        name: t
        steps:
          - id: note
            action: add_note
            input: {incident_id: PABC123}
        """)
    assert (problem["step"], problem["field"]) == ("note", "input.note")
    assert "missing required input 'note'" in problem["message"]


def test_reference_to_a_step_that_does_not_exist(tmp_path):
    problem = only_problem(tmp_path, """
        name: t
        steps:
          - id: note
            action: add_note
            input: {incident_id: "${{ steps.incidnet.output.incident.id }}", note: hi}
        """)
    assert (problem["step"], problem["field"]) == ("note", "input.incident_id")
    assert "there is no step 'incidnet'" in problem["message"]


@pytest.mark.parametrize("target", ["later", "note"])
def test_reference_to_a_later_step_or_itself(tmp_path, target):
    problem = only_problem(tmp_path, f"""
        name: t
        steps:
          - id: note
            action: add_note
            input: {{incident_id: "${{{{ steps.{target}.output.incident.id }}}}", note: hi}}
          - id: later
            action: get_incident
            input: {{incident_id: PABC123}}
        """)
    assert (problem["step"], problem["field"]) == ("note", "input.incident_id")
    assert "has not run yet" in problem["message"]


@pytest.mark.parametrize("expression", ["steps.incident.output.[", "join(', ', ", "", "a ||"])
def test_expression_that_does_not_parse(tmp_path, expression):
    problem = only_problem(tmp_path, f"""
        name: t
        steps:{GOOD_STEP}
          - id: note
            action: add_note
            input: {{incident_id: PABC123, note: "x ${{{{ {expression} }}}}"}}
        """)
    assert (problem["step"], problem["field"]) == ("note", "input.note")
    assert "does not parse" in problem["message"]


def test_an_unclosed_expression(tmp_path):
    problem = only_problem(tmp_path, """
        name: t
        steps:
          - id: note
            action: add_note
            if: "${{ inputs.x"
            input: {incident_id: PABC123, note: hi}
        """)
    assert (problem["step"], problem["field"]) == ("note", "if")
    assert "not closed" in problem["message"]


def test_duplicate_id(tmp_path):
    problem = only_problem(tmp_path, f"""
        name: t
        steps:{GOOD_STEP}{GOOD_STEP}
        """)
    assert (problem["step"], problem["field"]) == ("incident", "id")
    assert "duplicate step id" in problem["message"]


def test_path_checked_against_the_earlier_steps_output_schema(tmp_path):
    problem = only_problem(tmp_path, f"""
        name: t
        steps:{GOOD_STEP}
          - id: note
            action: add_note
            input: {{incident_id: "${{{{ steps.incident.output.incidnet.id }}}}", note: hi}}
        """)
    assert (problem["step"], problem["field"]) == ("note", "input.incident_id")
    assert "steps.incident.output has no field 'incidnet'" in problem["message"]
    assert "did you mean 'incident'" in problem["message"]


@pytest.mark.parametrize("expression, message", [
    ("steps.incident.output.incident.assignments.assignee", "is array, not an object"),
    ("steps.incident.output.incident.service.nmae", "has no field 'nmae'"),
    ("steps.incident.outptu", "a step has status, output, error"),
    ("inputs.missing", "declares no input 'missing'"),
    ("input.incident_id", "unknown name 'input'"),
    ("item.id", "'item' cannot be read here"),
    ("event.dat.id", "has no field 'dat'"),
    ("steps.incident.output.incident.teams[].nmae", "has no field 'nmae'"),
    ("nosuchfn(steps.incident.output.incident.id)", "unknown function nosuchfn()"),
])
def test_other_paths_that_cannot_hold(tmp_path, expression, message):
    problem = only_problem(tmp_path, f"""
        name: t
        steps:{GOOD_STEP}
          - id: note
            action: add_note
            input: {{incident_id: PABC123, note: "${{{{ {expression} }}}}"}}
        """)
    assert (problem["step"], problem["field"]) == ("note", "input.note")
    assert message in problem["message"]


def test_paths_that_hold_pass(tmp_path):
    _, result = check(tmp_path, f"""
        name: t
        inputs:
          hours: {{type: number, default: 4}}
        steps:{GOOD_STEP}
          - id: oncall
            action: get_on_call
            input: {{escalation_policy_id: "${{{{ steps.incident.output.incident.escalation_policy.id }}}}"}}
          - id: each
            foreach: "${{{{ steps.oncall.output.oncalls }}}}"
            if: "${{{{ item.escalation_level == `1` && index < `5` }}}}"
            action: add_note
            input:
              incident_id: "${{{{ steps.incident.output.incident.id }}}}"
              note: "${{{{ item.user.summary }}}} ${{{{ join(', ', steps.oncall.output.oncalls[].user.summary) }}}}"
        outputs:
          first: "${{{{ steps.each.output[0].note.content }}}}"
          count: "${{{{ length(steps.incident.output.incident.teams[?summary == 'x']) }}}}"
          event: "${{{{ event.data.id }}}}"
        """)
    assert result.code == 0, result.doc


def test_foreach_item_checked_against_the_list_items_schema(tmp_path):
    problem = only_problem(tmp_path, f"""
        name: t
        steps:{GOOD_STEP}
          - id: oncall
            action: get_on_call
            input: {{escalation_policy_id: PEP0001}}
          - id: each
            foreach: "${{{{ steps.oncall.output.oncalls }}}}"
            action: add_note
            input: {{incident_id: PABC123, note: "${{{{ item.usr.summary }}}}"}}
        """)
    assert (problem["step"], problem["field"]) == ("each", "input.note")
    assert "has no field 'usr'" in problem["message"]


def test_literal_values_validated_against_the_field(tmp_path):
    problem = only_problem(tmp_path, """
        name: t
        steps:
          - id: done
            action: update_status
            input: {incident_id: PABC123, status: closed}
        """)
    assert (problem["step"], problem["field"]) == ("done", "input.status")
    assert "acknowledged, resolved" in problem["message"]


@pytest.mark.parametrize("text, field, message", [
    ("name: t\non: {trigger: incident_evnt}\nsteps: [{id: a, action: list_teams}]", "on.trigger", "unknown trigger"),
    ("name: t\non: {if: '${{ steps.a.status }}'}\nsteps: [{id: a, action: list_teams}]", "on.if", "cannot be read"),
    ("name: t\nsteps: [{id: a, action: list_teams, retry: {count: -1}}]", "retry.count", "retry.count"),
    ("name: t\nsteps: [{id: a, action: list_teams, on_failure: ignore}]", "on_failure", "fail or continue"),
    ("name: t\nsteps: [{id: a, action: list_teams, when: x}]", "when", "unknown key 'when'"),
    ("name: t\nsteps: []", "steps", "non-empty list"),
    ("steps: [{id: a, action: list_teams}]", "name", "needs a name"),
    ("name: t\ninputs: {x: {type: strng}}\nsteps: [{id: a, action: list_teams}]", "inputs.x.type", "unknown type"),
    ("name: t\nsteps: [{id: A-1, action: list_teams}]", "id", "lower_snake_case"),
])
def test_shape_problems(tmp_path, text, field, message):
    path, result = check(tmp_path, text)
    found = problems(result)
    assert any(p["field"] == field and message in p["message"] and p["file"] == path for p in found), found


def test_not_yaml(tmp_path):
    _, result = check(tmp_path, "name: [unclosed")
    assert "not valid YAML" in problems(result)[0]["message"]


def test_every_problem_is_listed_at_once(tmp_path):
    _, result = check(tmp_path, """
        name: t
        steps:
          - id: a
            action: get_incidnt
          - id: b
            action: add_note
            input: {incident_id: "${{ steps.zz.id }}", nope: 1}
        """)
    assert len(problems(result)) >= 3


def test_run_refuses_a_runbook_that_fails_the_check_and_sends_nothing(tmp_path, connection, journal):
    result = run_book(tmp_path, connection, """
        name: t
        steps:
          - id: incident
            action: get_incident
            input: {incident_id: PABC123}
          - id: note
            action: add_note
            input: {incident_id: "${{ steps.incident.output.incidnet.id }}", note: hi}
        """)
    assert result.code == 1
    error = result.error
    assert "is invalid" in error["cause"] and "runbook check" in error["assistance"]
    assert error["data"]["problems"][0]["step"] == "note"
    assert journal() == []


def test_an_unreadable_file_is_one_problem_among_the_others(tmp_path):
    good = write_runbook(tmp_path, "name: t\nsteps: [{id: a, action: list_teams}]")
    result = runbook(tmp_path, "check", str(tmp_path / "missing.yaml"), good)
    found = problems(result)
    assert len(found) == 1 and "Cannot read the runbook" in found[0]["message"]
    assert result.doc["runbooks"][good]["ok"] is True


def test_the_readme_runbook_passes_the_check(tmp_path):
    import os
    import re

    from conftest import ROOT

    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Runbooks"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    path = tmp_path / "readme.yaml"
    path.write_text(block)
    result = runbook(tmp_path, "check", str(path))
    assert result.code == 0, result.doc


def test_a_fifo_named_as_a_runbook_or_an_event_is_refused_not_waited_on(tmp_path):
    import os

    from conftest import run_command

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for argv in (["runbook", "check", str(fifo)], ["runbook", "run", str(fifo)]):
        result = run_command(argv, timeout=20)
        assert result.code == 1 and "not a regular file" in result.stdout
