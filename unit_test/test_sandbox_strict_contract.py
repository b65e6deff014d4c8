"""The sandbox's strict-contract mode: every answer cut down to what PagerDuty's published
OpenAPI files promise (required fields and the documented example's fields). The action suite
runs in this mode too (conftest.py); here, the mode itself and the actions that had assumed more
than the contract promises: merge_incidents (a reference), snooze_incident (no title) and
create_service_integration (no integration_key anywhere in the contract)."""

import pytest
from incident_support import api, open_incident, set_status

pytestmark = pytest.mark.parametrize("sandbox", ["documented"], indirect=True)


def test_answers_keep_only_required_and_example_fields(sandbox):
    incident = open_incident(sandbox, title="strict")
    shown = api(sandbox, "GET", f"/incidents/{incident['id']}")["incident"]
    assert {"id", "type", "title", "status", "service", "created_at"} <= set(shown)
    assert "conference_bridge" not in shown and "description" not in shown  # neither required nor shown


def test_create_service_integration_reads_the_key_back_then_says_it_is_missing(act, sandbox, journal):
    service = api(sandbox, "GET", "/services")["services"][0]
    result = act("create_service_integration", service_id=service["id"])
    assert result.code == 0, result.stdout
    assert result.output["routing_key"] is None
    assert "without its integration key: copy it from the service's Integrations page" in result.body["log"]
    made = result.output["integration"]["id"]
    assert [(e["method"], e["path"]) for e in journal()[-2:]] == [
        ("POST", f"/services/{service['id']}/integrations"), ("GET", f"/services/{service['id']}/integrations/{made}")]


def test_snooze_and_merge_answer_whole_incidents(act, sandbox):
    incident = open_incident(sandbox, title="snoozed")
    set_status(sandbox, incident["id"], "acknowledged")
    snoozed = act("snooze_incident", incident_id=incident["id"], duration=600)
    assert snoozed.code == 0 and snoozed.output["incident"]["title"] == "snoozed"
    target, source = open_incident(sandbox, title="target"), open_incident(sandbox, title="source")
    merged = act("merge_incidents", target_incident_id=target["id"], source_incident_ids=[source["id"]])
    assert merged.code == 0 and merged.output["incident"]["title"] == "target"
