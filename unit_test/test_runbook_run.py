"""`runbook run` over real HTTP against the sandbox: retries, foreach, on_failure, dry run, secrets, runs."""

import json
import os

import pytest
from runbook_support import connection_file, run_book, runbook, write_runbook

from pagerduty_plugin import runbooks
from pagerduty_plugin.state.runs import RunStore


def steps_by_id(doc):
    return {step["id"]: step for step in doc["steps"]}


def test_steps_read_earlier_outputs_and_whole_expressions_keep_their_type(tmp_path, connection, sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][1]
    result = run_book(tmp_path, connection, """
        name: t
        inputs:
          incident_id: {type: string, required: true}
        steps:
          - id: incident
            action: get_incident
            input: {incident_id: "${{ inputs.incident_id }}"}
          - id: note
            action: add_note
            input:
              incident_id: "${{ steps.incident.output.incident.id }}"
              note: "#${{ steps.incident.output.incident.incident_number }} on ${{ steps.incident.output.incident.service.summary }}"
        outputs:
          number: "${{ steps.incident.output.incident.incident_number }}"
          teams: "${{ steps.incident.output.incident.teams[].summary }}"
          text: "n=${{ steps.incident.output.incident.incident_number }}"
        """, "--input", json.dumps({"incident_id": incident}))
    assert result.code == 0, result.stdout
    doc = result.doc
    assert doc["status"] == "ok"
    note = steps_by_id(doc)["note"]
    assert note["status"] == "ok" and note["attempts"] == 1
    number = steps_by_id(doc)["incident"]["output"]["incident"]["incident_number"]
    assert note["output"]["note"]["content"] == f"#{number} on Checkout API"
    assert doc["outputs"] == {"number": number, "teams": ["Payments"], "text": f"n={number}"}


@pytest.mark.no_conformance
def test_a_retry_succeeds_on_the_third_try(tmp_path, connection, sandbox, journal):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    sandbox.add_fault(method="GET", path=f"/incidents/{incident}", status=500, count=2)
    result = run_book(tmp_path, connection, f"""
        name: t
        steps:
          - id: incident
            action: get_incident
            input: {{incident_id: {incident}}}
            retry: {{count: 3, delay: 0.05}}
        """, max_retries=0)  # the HTTP layer gives up at once: the runbook's retry does the work
    assert result.code == 0, result.stdout
    step = result.doc["steps"][0]
    assert (step["status"], step["attempts"]) == ("ok", 3)
    assert [e["status"] for e in journal()] == [500, 500, 200]
    assert "attempt 1 failed" in result.stderr and "attempt 2 failed" in result.stderr


@pytest.mark.no_conformance
def test_retries_exhausted_fail_the_step_and_the_run(tmp_path, connection, sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    sandbox.add_fault(method="GET", path=f"/incidents/{incident}", status=500, count=None)
    result = run_book(tmp_path, connection, f"""
        name: t
        steps:
          - id: incident
            action: get_incident
            input: {{incident_id: {incident}}}
            retry: {{count: 1, delay: 0}}
          - id: after
            action: list_teams
        """, max_retries=0)
    assert result.code == 1
    doc = result.doc
    assert doc["status"] == "failed"
    first, after = doc["steps"]
    assert first["status"] == "failed" and first["attempts"] == 2 and first["error"]["cause"]
    assert after["status"] == "skipped" and after["attempts"] == 0


@pytest.mark.slow
def test_foreach_over_50_items(tmp_path, connection, sandbox, journal):
    ids = sandbox.seed_incidents(50)
    result = run_book(tmp_path, connection, """
        name: t
        inputs:
          ids: {type: "[]string", required: true}
        steps:
          - id: notes
            foreach: "${{ inputs.ids }}"
            action: add_note
            input: {incident_id: "${{ item }}", note: "item ${{ index }}"}
        outputs:
          noted: "${{ steps.notes.output[].note.content }}"
        """, "--input", json.dumps({"ids": ids}))
    assert result.code == 0, result.stdout[:500]
    step = result.doc["steps"][0]
    assert step["status"] == "ok" and step["attempts"] == 50 and len(step["output"]) == 50
    assert result.doc["outputs"]["noted"] == [f"item {i}" for i in range(50)]
    posted = [e["path"] for e in journal() if e["method"] == "POST"]
    assert posted == [f"/incidents/{i}/notes" for i in ids]


def test_on_failure_continue_lets_the_next_steps_run(tmp_path, connection, sandbox):
    result = run_book(tmp_path, connection, """
        name: t
        steps:
          - id: missing
            action: get_incident
            input: {incident_id: PNOSUCH}
            on_failure: continue
          - id: teams
            action: list_teams
          - id: fallback
            if: "${{ steps.missing.status == 'failed' }}"
            action: list_priorities
        outputs:
          why: "${{ steps.missing.error.cause }}"
        """)
    assert result.code == 0, result.stdout
    steps = steps_by_id(result.doc)
    assert steps["missing"]["status"] == "failed" and "output" not in steps["missing"]
    assert steps["teams"]["status"] == "ok" and steps["fallback"]["status"] == "ok"
    assert result.doc["status"] == "ok" and result.doc["outputs"]["why"] == steps["missing"]["error"]["cause"]


def test_foreach_items_go_on_after_a_failure_with_continue(tmp_path, connection, sandbox):
    good = sandbox.seed_ids["incidents"]["triggered"][0]
    result = run_book(tmp_path, connection, f"""
        name: t
        steps:
          - id: each
            foreach: ["PNOSUCH", "{good}"]
            action: get_incident
            input: {{incident_id: "${{{{ item }}}}"}}
            on_failure: continue
        """)
    assert result.code == 0
    step = result.doc["steps"][0]
    assert step["status"] == "failed" and step["error"]["data"]["items"][0]["index"] == 0
    assert step["output"][0] is None and step["output"][1]["incident"]["id"] == good


def test_a_false_if_skips_the_step(tmp_path, connection, journal):
    result = run_book(tmp_path, connection, """
        name: t
        inputs:
          go: {type: boolean, default: false}
        steps:
          - id: teams
            if: "${{ inputs.go }}"
            action: list_teams
        outputs:
          status: "${{ steps.teams.status }}"
        """)
    assert result.code == 0
    assert result.doc["steps"][0]["status"] == "skipped" and result.doc["outputs"] == {"status": "skipped"}
    assert journal() == []


def test_a_dry_run_sends_nothing_and_shows_the_plan(tmp_path, connection, sandbox, journal):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    result = run_book(tmp_path, connection, """
        name: t
        inputs:
          incident_id: {type: string, required: true}
          skip_note: {type: boolean, default: true}
        steps:
          - id: incident
            action: get_incident
            input: {incident_id: "${{ inputs.incident_id }}"}
          - id: oncall
            action: get_on_call
            input: {escalation_policy_id: "${{ steps.incident.output.incident.escalation_policy.id }}"}
          - id: note
            if: "${{ !(inputs.skip_note) }}"
            action: add_note
            input: {incident_id: "${{ inputs.incident_id }}", note: hi}
        """, "--dry-run", "--input", json.dumps({"incident_id": incident}))
    assert result.code == 0, result.stdout
    doc = result.doc
    assert doc["status"] == "planned" and doc["dry_run"] is True
    steps = steps_by_id(doc)
    assert steps["incident"]["input"] == {"incident_id": incident} and steps["incident"]["would"] == "run"
    assert steps["oncall"]["input"] == {
        "escalation_policy_id": "${{ steps.incident.output.incident.escalation_policy.id }}"}
    assert steps["note"]["would"] == "skip"
    assert journal() == []
    assert not os.path.exists(tmp_path / "state" / "runs.sqlite") or RunStore(str(tmp_path / "state")).latest() == []


def test_a_dry_run_reports_input_the_action_would_refuse(tmp_path, connection, journal):
    result = run_book(tmp_path, connection, """
        name: t
        inputs:
          status: {type: string, default: closed}
        steps:
          - id: done
            action: update_status
            input: {incident_id: PABC123, status: "${{ inputs.status }}"}
        """, "--dry-run")
    assert result.code == 1
    assert "acknowledged, resolved" in result.doc["steps"][0]["error"]["cause"]
    assert journal() == []


def test_inputs_are_checked_before_any_request(tmp_path, connection, journal):
    text = """
        name: t
        inputs:
          hours: {type: number, required: true}
        steps:
          - id: teams
            action: list_teams
        """
    missing = run_book(tmp_path, connection, text)
    assert missing.code == 1 and "needs the input 'hours'" in missing.error["cause"]
    wrong = run_book(tmp_path, connection, text, "--input", '{"hours": "four"}')
    assert wrong.code == 1 and "must be number" in wrong.error["cause"]
    unknown = run_book(tmp_path, connection, text, "--input", '{"hours": 1, "minutes": 2}')
    assert unknown.code == 1 and "no input 'minutes'" in unknown.error["cause"]
    not_json = run_book(tmp_path, connection, text, "--input", "{hours")
    assert not_json.code == 1 and "not valid JSON" in not_json.error["cause"]
    assert journal() == []


def test_secrets_never_reach_the_answer_the_log_or_the_state(tmp_path, connection, sandbox):
    canary = "canary-Secret-7f3a9"
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    result = run_book(tmp_path, connection, f"""
        name: t
        inputs:
          token: {{type: password, required: true}}
        steps:
          - id: note
            action: add_note
            input: {{incident_id: {incident}, note: "token ${{{{ inputs.token }}}} key ${{{{ inputs.token }}}}"}}
          - id: event
            action: send_trigger_event
            input: {{description: "sent with a key", service_key: "{sandbox.info['routing_key']}"}}
          - id: bad
            action: get_incident
            input: {{incident_id: "${{{{ inputs.token }}}}"}}
            on_failure: continue
        """, "--input", json.dumps({"token": canary}), "--debug")
    assert result.code == 0, result.stdout
    secrets = (canary, sandbox.info["api_key"], sandbox.info["routing_key"])
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    assert steps_by_id(result.doc)["note"]["output"]["note"]["content"] == "token ******** key ********"
    for name in os.listdir(tmp_path / "state"):
        data = (tmp_path / "state" / name).read_bytes()
        assert not any(secret.encode() in data for secret in secrets), name


def test_runs_are_kept_and_listed(tmp_path, connection):
    text = """
        name: listed
        steps:
          - id: teams
            action: list_teams
        """
    first = run_book(tmp_path, connection, text)
    second = run_book(tmp_path, connection, text)
    listing = runbook(tmp_path, "runs", "--limit", "5")
    assert listing.code == 0
    runs = listing.doc["runs"]
    assert [r["id"] for r in runs] == [second.doc["run_id"], first.doc["run_id"]]
    assert all(r["runbook"] == "listed" and r["status"] == "ok" and r["finished_at"] for r in runs)
    assert runs[0]["answer"]["steps"][0]["id"] == "teams"
    assert runbook(tmp_path, "runs", "--limit", "1").doc["count"] == 1


def test_the_store_runs_an_event_at_most_once(tmp_path):
    store = RunStore(str(tmp_path / "state"))
    first = store.claim("triage", "EVENT1")
    assert first and store.claim("triage", "EVENT1") is None
    assert store.claim("other", "EVENT1")  # another runbook may run for the same event
    assert store.claim("triage", None) and store.claim("triage", None)  # runs by hand: no event
    store.finish(first, {"status": "ok", "steps": [], "outputs": {}})
    again = RunStore(str(tmp_path / "state"))  # as after a restart
    assert again.claim("triage", "EVENT1") is None
    assert again.for_event("triage", "EVENT1")["status"] == "ok"


def test_the_api_the_event_server_uses(tmp_path, connection, sandbox):
    path = write_runbook(tmp_path, """
        name: on-event
        on:
          trigger: incident_event
          event_types: [incident.triggered]
          if: "${{ event.data.urgency == 'high' }}"
        inputs:
          incident_id: {type: string, required: true, default: "${{ event.data.id }}"}
        steps:
          - id: incident
            action: get_incident
            input: {incident_id: "${{ inputs.incident_id }}"}
        outputs:
          title: "${{ steps.incident.output.incident.title }}"
        """)
    book = runbooks.load(path)
    incident = sandbox.seed_ids["incidents"]["triggered"][1]
    event = {"id": "01EVENT", "event_type": "incident.triggered", "resource_type": "incident",
             "occurred_at": "2026-11-26T07:00:00Z", "agent": None, "client": None,
             "data": {"id": incident, "type": "incident", "urgency": "high"}}
    assert book.matches("incident_event", event)
    assert not book.matches("new_incident", event)
    assert not book.matches("incident_event", {**event, "event_type": "incident.resolved"})
    assert not book.matches("incident_event", {**event, "data": {"urgency": "low"}})
    settings = json.loads(open(connection_file(tmp_path, connection)).read())
    secrets = set()
    answer = runbooks.run(book, {}, settings, event=event, secrets=secrets)
    assert answer["status"] == "ok" and answer["outputs"]["title"] == "Checkout latency above SLO"
    assert sandbox.info["api_key"] in secrets


def test_load_refuses_a_bad_runbook_with_every_problem(tmp_path):
    path = write_runbook(tmp_path, "name: t\nsteps: [{id: a, action: nope}, {id: a, action: list_teams}]")
    with pytest.raises(runbooks.RunbookError) as caught:
        runbooks.load(path)
    assert len(caught.value.problems) == 2 and caught.value.problems[0]["file"] == path


def test_unreadable_files_are_errors_not_tracebacks(tmp_path, connection):
    missing = runbook(tmp_path, "run", str(tmp_path / "nope.yaml"))
    assert missing.code == 1 and "Cannot read the runbook" in missing.error["cause"]
    path = write_runbook(tmp_path, "name: t\nsteps: [{id: a, action: list_teams}]")
    event = runbook(tmp_path, "run", path, "--event", str(tmp_path / "nope.json"))
    assert event.code == 1 and "Cannot read the event file" in event.error["cause"]
    usage = runbook(tmp_path, "run")
    assert usage.code == 2


@pytest.mark.full_answers  # the contract's example create answer shows no signing secret
def test_a_secret_a_step_was_answered_is_never_kept_or_printed(tmp_path, connection, sandbox):
    result = run_book(tmp_path, connection, """
        name: subscribe
        steps:
          - id: hook
            action: create_webhook_subscription
            input: {url: "http://127.0.0.1:9/webhooks/pagerduty", events: [incident.triggered]}
        """)
    assert result.code == 0, result.stdout
    secret = next(iter(sandbox.store.webhook_subscriptions.values()))["secret"]
    assert secret and secret not in result.stdout + result.stderr
    assert secret not in runbook(tmp_path, "runs").stdout
    for name in os.listdir(tmp_path / "state"):
        assert secret.encode() not in (tmp_path / "state" / name).read_bytes(), name
        assert os.stat(tmp_path / "state" / name).st_mode & 0o077 == 0, name  # private to its owner
