"""The sandbox's own side of the 2025–2026 families, read over raw HTTP: custom field values checked as
PagerDuty checks them, invocations moving through their states, cursor pages."""

import pytest
import requests


def call(sandbox, method, path, body=None, **params):
    info = sandbox.info
    headers = {"Authorization": f"Token token={info['api_key']}", "Accept": "application/vnd.pagerduty+json;version=2",
               "From": info["from_email"]}
    return requests.request(method, info["api_url"] + path, json=body, params=params, headers=headers, timeout=5)


@pytest.fixture
def security_incident(sandbox):
    body = {"incident": {"type": "incident", "title": "t", "incident_type": {"name": "security"},
                         "service": {"id": sandbox.seed_ids["services"][0], "type": "service_reference"}}}
    return call(sandbox, "POST", "/incidents", body).json()["incident"]["id"]


@pytest.mark.no_conformance  # PagerDuty's contract lists no 400 for PUT .../custom_fields/values
@pytest.mark.parametrize("field, value", [
    ("environment", "qa"), ("affected_regions", ["eu", "mars"]), ("affected_regions", "eu"),
    ("tags", ["a"] * 11), ("tags", ["a", "a"]), ("affected_users", 1.5), ("affected_users", True),
    ("customer_impact", "yes"), ("error_rate", "x"), ("detected_at", "soon"), ("dashboard", "ftp://x"),
    ("diagnostic_result", "x" * 201), ("nope", 1)])
def test_values_a_field_does_not_take_are_refused(sandbox, security_incident, field, value):
    path = f"/incidents/{security_incident}/custom_fields/values"
    answer = call(sandbox, "PUT", path, {"custom_fields": [{"name": field, "value": value}]})
    assert answer.status_code == 400 and answer.json()["error"]["errors"]
    values = {v["name"]: v["value"] for v in call(sandbox, "GET", path).json()["custom_fields"]}
    assert values["environment"] is None and values["customer_impact"] is False  # nothing changed, defaults


def test_an_invocation_moves_on_over_time_and_a_stalled_one_does_not(sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    action = sandbox.seed_ids["automation_actions"][0]
    sandbox.automation_pace(3600)
    slow = call(sandbox, "POST", f"/automation_actions/actions/{action}/invocations",
                {"invocation": {"metadata": {"incident_id": incident}}}).json()["invocation"]
    sandbox.automation_pace(0)
    done = call(sandbox, "POST", f"/automation_actions/actions/{action}/invocations",
                {"invocation": {"metadata": {"incident_id": incident}}}).json()["invocation"]
    sandbox.automation_pace(0, stall=True)
    stuck = call(sandbox, "POST", f"/automation_actions/actions/{action}/invocations",
                 {"invocation": {"metadata": {"incident_id": incident}}}).json()["invocation"]
    assert (slow["state"], done["state"], stuck["state"]) == ("created", "completed", "sent")
    assert [t["state"] for t in done["timing"]] == ["created", "sent", "queued", "running", "completed"]
    listed = call(sandbox, "GET", "/automation_actions/invocations", not_invocation_state="completed").json()
    assert {i["id"] for i in listed["invocations"]} == {slow["id"], stuck["id"]}


def test_a_workflow_instance_leaves_a_note_and_a_log_entry(sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    workflow = sandbox.seed_ids["incident_workflows"][0]
    before = len(call(sandbox, "GET", f"/incidents/{incident}/notes").json()["notes"])
    answer = call(sandbox, "POST", f"/incident_workflows/{workflow}/instances",
                  {"incident_workflow_instance": {"incident": {"id": incident, "type": "incident_reference"}}})
    assert answer.status_code == 201
    notes = call(sandbox, "GET", f"/incidents/{incident}/notes").json()["notes"]
    assert len(notes) == before + 1 and "Major incident kickoff" in notes[-1]["content"]
    entries = call(sandbox, "GET", f"/incidents/{incident}/log_entries").json()["log_entries"]
    assert any(e["type"] == "annotate_log_entry" for e in entries)


def test_cursor_pages_and_a_cursor_it_never_gave(sandbox):
    first = call(sandbox, "GET", "/automation_actions/actions", limit=1).json()
    assert len(first["actions"]) == 1 and first["next_cursor"]
    second = call(sandbox, "GET", "/automation_actions/actions", limit=1, cursor=first["next_cursor"]).json()
    assert second["next_cursor"] is None and second["actions"][0]["id"] != first["actions"][0]["id"]
    assert call(sandbox, "GET", "/automation_actions/actions", cursor="garbage!").status_code == 400
