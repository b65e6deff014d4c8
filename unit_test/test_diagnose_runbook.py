"""The example runbook diagnose.yaml started by the sandbox's signed webhooks through `pagerduty-plugin
http --runbooks`, once per event however often it is delivered; and the v3 event types of the newer
families (workflow started and completed, custom field values updated, incident type changed) delivered
to a subscription and reaching the incident_event trigger like any other."""

import hashlib
import hmac
import json
import os
import shutil

import pytest
import requests

from conftest import sandbox_env
from runbook_support import EXAMPLES
from test_triggers import take
from test_webhooks_end_to_end import delivered, free_port, wait_for_runs

NEW_EVENTS = ["incident.workflow.started", "incident.workflow.completed", "incident.custom_field_values.updated",
              "incident.incident_type.changed"]


@pytest.fixture
def receiver(sandbox, act, plugin_server, tmp_path):
    """(server, state, secret): `pagerduty-plugin http` with diagnose.yaml, receiving the sandbox's webhooks."""
    port = free_port()
    created = act("create_webhook_subscription", url=f"http://127.0.0.1:{port}/webhooks/pagerduty",
                  events=["incident.triggered", *NEW_EVENTS])
    secret = created.output["signing_secret"]
    books = tmp_path / "runbooks"
    books.mkdir()
    shutil.copy(os.path.join(EXAMPLES, "diagnose.yaml"), books)
    state = str(tmp_path / "state")
    env = {**sandbox_env(sandbox), "PAGERDUTY_WEBHOOK_SECRETS": secret}
    server = plugin_server(["--port", str(port), "--state", state, "--runbooks", str(books)], env=env)
    return server, state, secret


@pytest.mark.full_answers  # creates a subscription: the contract's example create answer shows no signing secret
def test_diagnose_runs_once_per_event_started_by_a_signed_webhook(sandbox, act, receiver, journal):
    server, state, secret = receiver
    sandbox.automation_pace(0.05)
    incident = act("create_incident", title="web-3 answers 502", service="Platform Web").output["incident"]["id"]
    [delivery] = delivered(sandbox, "incident.triggered")
    [run] = wait_for_runs(state, 1)
    assert (run["runbook"], run["status"]) == ("diagnose-web-incident", "ok"), run

    values = act("get_incident_custom_field_values", incident_id=incident).output["custom_fields"]
    assert {v["name"]: v["value"] for v in values}["diagnostic_result"] == "completed"
    notes = [n["content"] for n in act("list_notes", incident_id=incident).output["notes"]]
    assert any("war room opened" in n for n in notes)          # left by the incident workflow
    assert any(n.startswith("Diagnostics completed (automation action invocation") for n in notes)
    posts = [e["path"] for e in journal() if e["method"] == "POST" and "/invocations" in e["path"]]
    assert len(posts) == 1

    # the runbook's own changes came back as the newer event types, and reach the trigger like any other
    act("update_incident", incident_id=incident, incident_type="security")
    for event_type in NEW_EVENTS:
        assert delivered(sandbox, event_type), event_type
    by_type = {e["event"]["event_type"]: e["event"] for e in take(state)}
    assert set(NEW_EVENTS) | {"incident.triggered"} == set(by_type)
    assert by_type["incident.workflow.started"]["data"]["incident"]["id"] == incident
    assert by_type["incident.custom_field_values.updated"]["data"]["custom_fields"][0]["name"] == "diagnostic_result"
    assert by_type["incident.incident_type.changed"]["data"]["id"] == incident

    # the same event delivered again, under the same and another delivery id: no second run
    body = json.dumps({"event": by_type["incident.triggered"]}).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for webhook_id in (delivery["webhook_id"], "another-delivery"):
        answer = requests.post(server.url + "/webhooks/pagerduty", data=body, timeout=10,
                               headers={"X-PagerDuty-Signature": signature, "X-Webhook-Id": webhook_id})
        assert answer.status_code == 202 and answer.json()["duplicate"] is True
    assert [r["runbook"] for r in wait_for_runs(state, 1)] == ["diagnose-web-incident"]
    assert len([e for e in journal() if e["method"] == "POST" and "/invocations" in e["path"]]) == 1
