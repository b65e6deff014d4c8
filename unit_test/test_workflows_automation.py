"""Incident workflows and automation actions through the CLI against the sandbox, in message and
plain mode (and, through the sandbox fixture, in strict-contract mode)."""

import pytest


def test_incident_workflows_listed_read_and_started(act, sandbox, journal):
    listed = act("list_incident_workflows", query="kickoff", include_steps=True)
    assert listed.output["count"] == 1
    workflow = listed.output["incident_workflows"][0]
    assert act.plain("get_incident_workflow", {"incident_workflow_id": workflow["id"]}).output[
        "incident_workflow"]["id"] == workflow["id"]
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    notes_before = act("list_notes", incident_id=incident).output["count"]
    started = act.plain("start_incident_workflow", {"incident_workflow": "Major incident kickoff",
                                                    "incident_id": incident})
    instance = started.output["incident_workflow_instance"]
    assert instance["incident"]["id"] == incident
    post = [e for e in journal() if e["method"] == "POST"][-1]
    assert post["path"] == f"/incident_workflows/{workflow['id']}/instances"
    notes = act("list_notes", incident_id=incident).output
    assert notes["count"] == notes_before + 1 and "war room opened" in notes["notes"][-1]["content"]
    entries = act("list_log_entries", incident_id=incident).output["log_entries"]
    assert [e["type"] for e in entries].count("annotate_log_entry") == 1


def test_start_incident_workflow_refuses_a_bad_incident_id_before_any_request(act, journal):
    result = act("start_incident_workflow", incident_workflow="PSFEVL7", incident_id="../users")
    assert result.code == 1 and "incident id" in result.error["cause"] and journal() == []


def test_automation_actions_listed_and_read(act, sandbox):
    listed = act.plain("list_automation_actions", {"classification": "diagnostic"})
    assert [a["name"] for a in listed.output["actions"]] == ["Collect diagnostics"]
    action_id = listed.output["actions"][0]["id"]
    assert act("get_automation_action", action_id=action_id).output["action"]["id"] == action_id


def test_an_invocation_waited_for_reaches_its_final_state(act, sandbox):
    sandbox.automation_pace(0.02)
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    result = act("invoke_automation_action", automation_action="Collect diagnostics", incident_id=incident,
                 wait_seconds=30, poll_seconds=0.05)
    invocation = result.output["invocation"]
    assert (invocation["state"], result.output["finished"]) == ("completed", True)
    got = act.plain("get_automation_action_invocation", {"invocation_id": invocation["id"]}).output
    assert got["finished"] is True and got["invocation"]["state"] == "completed"
    listed = act("list_automation_action_invocations", incident_id=incident, invocation_state="completed")
    assert [i["id"] for i in listed.output["invocations"]] == [invocation["id"]]


def test_an_invocation_without_waiting_answers_at_once(act, sandbox):
    sandbox.automation_pace(3600)
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    action = sandbox.seed_ids["automation_actions"][0]
    result = act.plain("invoke_automation_action", {"automation_action": action, "incident_id": incident})
    assert result.output["finished"] is False and result.output["invocation"]["state"] == "created"


def test_an_invocation_that_never_finishes_ends_at_its_deadline(act, sandbox, journal):
    sandbox.automation_pace(0.01, stall=True)
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    result = act("invoke_automation_action", automation_action="Collect diagnostics", incident_id=incident,
                 wait_seconds=1, poll_seconds=0.1)
    assert result.code == 1
    error = result.error
    assert "did not finish within 1 s" in error["cause"] and "last state: sent" in error["cause"]
    assert "get_automation_action_invocation" in error["assistance"]
    assert error["data"]["state"] == "sent" and error["data"]["invocation_id"]
    reads = [e for e in journal() if e["path"].startswith("/automation_actions/invocations/")]
    assert 1 <= len(reads) <= 12, "polled at poll_seconds, not in a tight loop"
    posts = [e for e in journal() if e["method"] == "POST"]
    assert len(posts) == 1, "invoked once, never again"


@pytest.mark.parametrize("values, field", [
    ({"automation_action": "Collect diagnostics", "incident_id": "P1?x=y"}, "incident id"),
    ({"automation_action": "Collect diagnostics", "incident_id": "PABC123", "alert_id": "a/b"}, "alert id"),
])
def test_invoke_refuses_bad_ids_before_any_request(act, journal, values, field):
    result = act("invoke_automation_action", **values)
    assert result.code == 1 and field in result.error["cause"] + result.error["assistance"]
    assert journal() == []


def test_a_remediation_only_for_open_incidents_is_refused_on_a_resolved_one(act, sandbox):
    resolved = sandbox.seed_ids["incidents"]["resolved"][0]
    result = act("invoke_automation_action", automation_action="Restart web tier", incident_id=resolved)
    assert result.code == 1 and "unresolved" in result.error["cause"]


def test_an_action_name_is_looked_up_never_pasted_into_a_path(act, journal):
    result = act("invoke_automation_action", automation_action="../actions", incident_id="PABC123")
    assert result.code == 1 and "No automation action is named '../actions'" in result.error["cause"]
    assert [(e["method"], e["path"]) for e in journal()] == [("GET", "/automation_actions/actions")]


def test_the_pace_is_set_over_http_too(sandbox):
    import requests

    url = sandbox.info["api_url"] + "/_sandbox/automation"
    answer = requests.post(url, json={"step_seconds": 0, "stall": False}, timeout=5)
    assert answer.json()["automation"] == {"step": 0.0, "stall": False}
    assert requests.post(url, json={"step_seconds": "fast"}, timeout=5).status_code == 400
