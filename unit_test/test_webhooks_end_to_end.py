"""The whole loop over real HTTP on 127.0.0.1: a subscription created by the plugin's action on the
sandbox, an incident triggered, the sandbox's signed webhook verified by `pagerduty-plugin http`,
the event handed over once by `trigger incident_event`, once to a dispatcher, and a runbook
started once however often PagerDuty delivers the event."""

import hashlib
import hmac
import json
import socket
import textwrap

import pytest
import requests

from conftest import run_command, sandbox_env

from test_triggers import Dispatcher, run_trigger_message_until, take, trigger_start


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def subscribed(sandbox, act, plugin_server, tmp_path):
    """(receiver, state, secret): `pagerduty-plugin http` receiving the sandbox's webhooks."""
    port = free_port()
    created = act("create_webhook_subscription", url=f"http://127.0.0.1:{port}/webhooks/pagerduty",
                  events=["incident.triggered", "incident.resolved"])
    secret = created.output["signing_secret"]
    state = str(tmp_path / "state")
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "note.yaml").write_text(textwrap.dedent("""\
        name: note-new-incidents
        description: Notes every new incident, once
        on:
          trigger: incident_event
          event_types: [incident.triggered]
        steps:
          - id: note
            action: add_note
            input:
              incident_id: "${{ event.data.id }}"
              note: "Seen by the runbook: ${{ event.data.title }}"
        """))
    env = {**sandbox_env(sandbox), "PAGERDUTY_WEBHOOK_SECRETS": secret}
    receiver = plugin_server(["--port", str(port), "--state", state, "--runbooks", str(runbooks)], env=env)
    return receiver, state, secret


def delivered(sandbox, event_type):
    assert sandbox.wait_webhooks(15)
    return [d for d in sandbox.webhook_deliveries() if d["event_type"] == event_type and d["status"] == "delivered"]


@pytest.mark.full_answers  # creates a subscription: the contract's example create answer shows no signing secret
def test_an_incident_reaches_the_trigger_the_dispatcher_and_a_runbook_once(sandbox, act, subscribed):
    receiver, state, secret = subscribed
    incident = act("create_incident", title="db down", service="Platform Web").output["incident"]["id"]
    [delivery] = delivered(sandbox, "incident.triggered")
    assert delivery["attempts"][-1]["status_code"] == 202

    events = take(state)
    assert [(e["event"]["event_type"], e["event"]["data"]["id"]) for e in events] == \
        [("incident.triggered", incident)]
    assert take(state) == []

    # PagerDuty redelivers the same delivery (same X-Webhook-Id), and a second delivery of the
    # same event: the inbox keeps the first once, the runbook runs once
    body = json.dumps(events[0]).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for webhook_id in (delivery["webhook_id"], "another-delivery"):
        answer = requests.post(receiver.url + "/webhooks/pagerduty", data=body, timeout=10,
                               headers={"X-PagerDuty-Signature": signature, "X-Webhook-Id": webhook_id})
        assert answer.status_code == 202 and answer.json()["duplicate"] is True
    runs = wait_for_runs(state, 1)
    assert [(r["runbook"], r["status"]) for r in runs] == [("note-new-incidents", "ok")]
    notes = act("list_notes", incident_id=incident).output["notes"]
    assert [n["content"] for n in notes] == ["Seen by the runbook: db down"]

    # message mode: the same event posted once to an InsightConnect dispatcher
    dispatcher = Dispatcher()
    try:
        message = trigger_start("incident_event", {"event_types": ["incident.triggered"]}, dispatcher.url)
        received, _, err, code = run_trigger_message_until(message, state, dispatcher, count=1)
    finally:
        dispatcher.close()
    assert code == 0, err
    assert [r["body"]["output"]["event"]["data"]["id"] for r in received] == [incident]


def wait_for_runs(state, count, timeout=20):
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = run_command(["runbook", "runs", "--state", state])
        runs = [r for r in result.doc["runs"] if r.get("status") != "running"]
        if len(runs) >= count or time.monotonic() > deadline:
            time.sleep(1.5)  # a second run would have shown up by now
            return [r for r in run_command(["runbook", "runs", "--state", state]).doc["runs"]]
        time.sleep(0.2)
