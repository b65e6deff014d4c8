"""The four example runbooks of examples/runbooks/, each run against the sandbox."""

import json
import os

import pytest
from conftest import run_command
from runbook_support import EXAMPLES, connection_file, runbook


def example(name):
    return os.path.join(EXAMPLES, name)


def steps_by_id(doc):
    return {step["id"]: step for step in doc["steps"]}


def event_file(tmp_path, data, event_type="incident.triggered"):
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"event": {
        "id": "01TESTEVENT", "event_type": event_type, "resource_type": "incident",
        "occurred_at": "2026-11-26T07:00:00Z", "agent": None, "client": None, "data": data}}))
    return str(path)


def test_triage_started_by_an_event_notes_the_on_call_and_asks_them_to_join(tmp_path, connection, sandbox, journal):
    incident = sandbox.seed_ids["incidents"]["triggered"][1]  # on Checkout API, high urgency
    data = {"id": incident, "type": "incident", "service": {"id": "X", "summary": "Checkout API"}}
    result = runbook(tmp_path, "run", example("triage.yaml"), "--event", event_file(tmp_path, data),
                     "--connection", connection_file(tmp_path, connection))
    assert result.code == 0, result.stdout[:800]
    doc = result.doc
    steps = steps_by_id(doc)
    on_call = doc["outputs"]["on_call"]
    assert on_call and doc["outputs"]["noted"] == "ok"
    assert steps["note"]["output"]["note"]["content"] == "On call now: " + ", ".join(on_call)
    assert steps["responders"]["status"] == "ok" and len(steps["responders"]["output"]) == len(on_call)
    posted = [e["path"] for e in journal() if e["method"] == "POST"]
    assert posted == [f"/incidents/{incident}/notes"] + [f"/incidents/{incident}/responder_requests"] * len(on_call)


def test_triage_skips_an_event_its_on_block_does_not_match(tmp_path, connection, sandbox, journal):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    data = {"id": incident, "type": "incident", "service": {"id": "X", "summary": "Platform Web"}}
    result = runbook(tmp_path, "run", example("triage.yaml"), "--event", event_file(tmp_path, data),
                     "--connection", connection_file(tmp_path, connection))
    assert result.code == 0 and result.doc["status"] == "skipped"
    assert journal() == []


def test_nightly_access_review_to_csv_with_a_read_only_key(tmp_path, sandbox, journal):
    info = sandbox.info
    env = {"PAGERDUTY_API_KEY": sandbox.readonly_api_key, "PAGERDUTY_API_URL": info["api_url"],
           "PAGERDUTY_FROM": info["from_email"], "XDG_STATE_HOME": str(tmp_path / "xdg")}
    result = run_command(["runbook", "run", example("access-review.yaml")], env=env)
    assert result.code == 0, result.stdout[:800] + result.stderr
    outputs = result.doc["outputs"]
    lines = outputs["csv"].splitlines()
    assert lines[0].startswith("id,name,email,role") and len(lines) == outputs["users"] + 1
    assert info["from_email"] in outputs["admins"]
    assert {e["method"] for e in journal()} == {"GET"}
    assert sandbox.readonly_api_key not in result.stdout + result.stderr
    listed = run_command(["runbook", "runs"], env=env)
    assert listed.doc["runs"][0]["runbook"] == "nightly-access-review"


def deploy(tmp_path, connection, sandbox, path):
    values = {"service": "checkout", "version": "2.4.1", "health_check_path": path}
    return runbook(tmp_path, "run", example("deploy.yaml"), "--input", json.dumps(values),
                   "--connection", connection_file(tmp_path, connection, max_retries=0))


def test_deploy_pipeline_healthy_sends_a_change_event_and_no_alert(tmp_path, connection, sandbox, journal):
    service = sandbox.seed_ids["services"][1]
    result = deploy(tmp_path, connection, sandbox, f"/services/{service}")
    assert result.code == 0, result.stdout[:800]
    steps = steps_by_id(result.doc)
    assert [steps[s]["status"] for s in ("change", "health", "alert")] == ["ok", "ok", "skipped"]
    assert result.doc["outputs"] == {"healthy": True, "alert": None}
    assert [e["path"] for e in journal() if e["method"] == "POST"] == ["/v2/change/enqueue"]


@pytest.mark.no_conformance
def test_deploy_pipeline_alerts_only_when_the_health_check_fails(tmp_path, connection, sandbox, journal):
    service = sandbox.seed_ids["services"][1]
    sandbox.add_fault(method="GET", path=f"/services/{service}", status=503, count=None)
    result = deploy(tmp_path, connection, sandbox, f"/services/{service}")
    assert result.code == 0, result.stdout[:800]
    steps = steps_by_id(result.doc)
    assert steps["health"]["status"] == "failed" and steps["health"]["attempts"] == 3
    assert steps["alert"]["status"] == "ok"
    assert result.doc["outputs"] == {"healthy": False, "alert": "deploy/checkout/2.4.1"}
    posted = [e for e in journal() if e["method"] == "POST"]
    assert [e["path"] for e in posted] == ["/v2/change/enqueue", "/v2/enqueue"]
    assert posted[1]["json"]["payload"]["summary"] == "Health check failed after deploying checkout 2.4.1"


def test_resolve_incidents_acknowledged_too_long_with_a_note(tmp_path, connection, sandbox, journal):
    web = sandbox.seed_ids["services"][0]
    stale = sandbox.seed_ids["incidents"]["acknowledged"][0]  # on Platform Web, acknowledged 2 days ago
    fresh = sandbox.seed_incidents(1, service_id=web, status="acknowledged")[0]
    result = runbook(tmp_path, "run", example("resolve-stale.yaml"), "--input", json.dumps({"service_id": web}),
                     "--connection", connection_file(tmp_path, connection))
    assert result.code == 0, result.stdout[:800]
    assert result.doc["outputs"] == {"resolved": [stale]}
    writes = [(e["method"], e["path"]) for e in journal() if e["method"] != "GET"]
    assert writes == [("POST", f"/incidents/{stale}/notes"), ("PUT", f"/incidents/{stale}")]
    assert fresh not in json.dumps(writes)
