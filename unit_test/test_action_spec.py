"""What every action's spec entry promises: list actions share max_results, count and truncated,
and `pagerduty-plugin sample ACTION` gives a message that the action does not refuse before
sending (its examples do not contradict each other)."""

import pytest
from conftest import invoke

from pagerduty_plugin import spec as speclib

SPEC = speclib.load()
LISTS = sorted(name for name in SPEC.actions if name.startswith("list_"))
# Required inputs that have no example, filled from the sandbox's seed: input -> seed_ids key.
SEEDS = {"incident_id": "incidents", "user_id": "users", "id": "users", "schedule_id": "schedules",
         "service_id": "services", "team_id": "teams", "escalation_policy_id": "escalation_policies",
         "extension_id": "extensions", "maintenance_window_id": "maintenance_windows"}


@pytest.mark.parametrize("name", LISTS)
def test_every_list_action_has_max_results_count_and_truncated(name):
    action = SPEC.action(name)
    max_results = (action.get("input") or {}).get("max_results")
    assert max_results, f"{name} has no max_results input"
    assert max_results["type"] == "integer"
    assert SPEC.input_schema(name)["properties"]["max_results"].get("minimum") == 1
    assert "default" not in max_results, f"{name}: no silent cap, every result unless max_results says otherwise"
    output = action.get("output") or {}
    assert output.get("count", {}).get("type") == "integer", f"{name} has no count output"
    assert output.get("truncated", {}).get("type") == "boolean", f"{name} has no truncated output"


def test_the_lists_are_found():
    assert len(LISTS) >= 15 and "list_notes" in LISTS


def seed_id(module_sandbox, kind):
    ids = module_sandbox.seed_ids[kind]
    if isinstance(ids, dict):  # by role or by status
        ids = [i for values in ids.values() for i in (values if isinstance(values, list) else [values])]
    return ids[0]


def sample(name, module_sandbox):
    """The sample message for `name`, on the sandbox's connection, required ids filled from the seed."""
    message = invoke(["sample", name]).doc
    info = module_sandbox.info
    message["body"]["connection"] = {
        "api_key": {"secretKey": info["api_key"]}, "routing_key": {"secretKey": info["routing_key"]},
        "from_email": info["from_email"], "api_url": info["api_url"], "events_url": info["events_url"],
        "timeout": 5, "max_retries": 0}
    values = message["body"]["input"]
    for field, definition in (SPEC.action(name).get("input") or {}).items():
        if definition.get("required") and field not in values:
            if field not in SEEDS:
                pytest.skip(f"{name}: required input {field} has no example and no obvious seed value")
            values[field] = seed_id(module_sandbox, SEEDS[field])
    return message


# Samples left out of the conformance check, and why: mostly example ids that PagerDuty refuses with an
# answer the operation does not list.
UNCHECKED_SAMPLES = {
    "create_contact_method": "404 for an unknown user", "list_contact_methods": "404 for an unknown user",
    "list_notification_rules": "404 for an unknown user", "list_alerts": "404 for an unknown incident",
    "create_service_integration": "404 for an unknown service", "delete_service": "404 for an unknown service",
    "update_status": "400 for a From that is no user's email",
    "update_incident_escalation_policy": "400 for a From that is no user's email",
}
_API_REQUEST = SPEC.action("api_request")["input"]
if _API_REQUEST["path"].get("example") == "/abilities" and (_API_REQUEST.get("query") or {}).get("example"):
    # until plugin.spec.yaml stops sending its example query to its example path /abilities, which takes none
    UNCHECKED_SAMPLES["api_request"] = "a query parameter that /abilities does not take"


def sample_cases():
    return [pytest.param(name, marks=pytest.mark.no_conformance) if name in UNCHECKED_SAMPLES else name
            for name in sorted(SPEC.actions)]


@pytest.mark.parametrize("name", sample_cases())
def test_the_sample_of_every_action_runs_to_a_request(name, module_sandbox):
    mark = len(module_sandbox.journal())
    result = invoke(["run"], sample(name, module_sandbox))
    body = result.doc["body"]
    sent = module_sandbox.journal()[mark:]
    # PagerDuty may refuse the example ids; the action itself must not refuse its own example
    assert body["status"] == "ok" or sent, f"{name} refused its sample before sending: {body['exception']}"


@pytest.mark.parametrize("name", ["update_status", "manage_incidents", "update_incident", "create_status_update"])
def test_samples_that_contradicted_themselves_now_succeed(name, module_sandbox):
    # the sample's example ids and emails made real; every other example kept as it is
    message = sample(name, module_sandbox)
    values, email = message["body"]["input"], module_sandbox.info["from_email"]
    incident_ids = module_sandbox.seed_incidents(2)
    real = {"incident_id": incident_ids[0], "incident_ids": incident_ids, "from_email": email, "assignees": [email]}
    values.update({field: value for field, value in real.items() if field in values})
    result = invoke(["run"], message)
    assert result.doc["body"]["status"] == "ok", result.doc["body"]["exception"]
