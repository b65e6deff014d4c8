"""The sandbox's strict-contract mode: every answer cut down to what PagerDuty's published
OpenAPI files promise (required fields and the documented example's fields). The action suite
runs in this mode too (conftest.py); here, the mode itself and the actions that had assumed more
than the contract promises: merge_incidents (a reference), snooze_incident (no title) and
create_service_integration (no integration_key anywhere in the contract)."""

import pytest
from incident_support import api, open_incident, set_status

documented = pytest.mark.parametrize("sandbox", ["documented"], indirect=True)


@documented
def test_answers_keep_only_required_and_example_fields(sandbox):
    incident = open_incident(sandbox, title="strict")
    shown = api(sandbox, "GET", f"/incidents/{incident['id']}")["incident"]
    assert {"id", "type", "title", "status", "service", "created_at"} <= set(shown)
    assert "conference_bridge" not in shown and "description" not in shown  # neither required nor shown


@documented
def test_create_service_integration_reads_the_key_back_then_says_it_is_missing(act, sandbox, journal):
    service = api(sandbox, "GET", "/services")["services"][0]
    result = act("create_service_integration", service_id=service["id"])
    assert result.code == 0, result.stdout
    assert result.output["routing_key"] is None
    assert "without its integration key: copy it from the service's Integrations page" in result.body["log"]
    made = result.output["integration"]["id"]
    assert [(e["method"], e["path"]) for e in journal()[-2:]] == [
        ("POST", f"/services/{service['id']}/integrations"), ("GET", f"/services/{service['id']}/integrations/{made}")]


@documented
def test_snooze_and_merge_answer_whole_incidents(act, sandbox):
    incident = open_incident(sandbox, title="snoozed")
    set_status(sandbox, incident["id"], "acknowledged")
    snoozed = act("snooze_incident", incident_id=incident["id"], duration=600)
    assert snoozed.code == 0 and snoozed.output["incident"]["title"] == "snoozed"
    target, source = open_incident(sandbox, title="target"), open_incident(sandbox, title="source")
    merged = act("merge_incidents", target_incident_id=target["id"], source_incident_ids=[source["id"]])
    assert merged.code == 0 and merged.output["incident"]["title"] == "target"


def test_the_sandbox_command_takes_the_switch(tmp_path):
    import json
    import os
    import subprocess
    import sys

    import requests
    from conftest import ROOT
    from openapi_conformance import SKIP_REASON, contract_folder

    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    command = [sys.executable, "-m", "pagerduty_plugin", "sandbox", "--port", "0"]
    refused = subprocess.run([*command, "--contract", str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                             timeout=30)
    assert refused.returncode == 2 and "cannot read the contract" in refused.stderr
    process = subprocess.Popen([*command, "--contract", contract_folder()], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))
    try:
        info = json.loads(process.stdout.readline())
        answer = requests.get(info["api_url"] + "/incidents", params={"limit": 1}, timeout=10,
                              headers={"Authorization": f"Token token={info['api_key']}"}).json()
        assert "conference_bridge" not in answer["incidents"][0] and answer["incidents"][0]["title"]
    finally:
        process.terminate()
        process.communicate(timeout=10)
