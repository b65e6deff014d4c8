"""Incident types, custom fields and their values; incident_type, moving to another service and
reopening on the incident actions. Through the CLI against the sandbox, in message and plain mode
(and, through the sandbox fixture, in strict-contract mode)."""

import pytest

# one value of each field type and data type of the seed's `security` type, and its read-back
VALUES = {"environment": "production", "affected_regions": ["eu", "us"], "tags": ["db", "checkout"],
          "diagnostic_result": "disk 91% full", "customer_impact": True, "affected_users": 1200, "error_rate": 2.5,
          "detected_at": "2026-12-01T10:00:00Z", "dashboard": "https://grafana.example.com/d/checkout"}


@pytest.fixture
def security_incident(act, sandbox):
    service = sandbox.seed_ids["services"][0]
    created = act("create_incident", title="Suspicious logins", service=service, incident_type="security")
    assert created.code == 0, created.error
    return created.output["incident"]["id"]


def test_incident_types_and_their_fields(act):
    types = act("list_incident_types").output
    assert {t["name"] for t in types["incident_types"]} == {"incident_default", "security"}
    assert act.plain("get_incident_type", {"incident_type": "security"}).output["incident_type"]["name"] == "security"
    fields = act("list_incident_custom_fields", incident_type="security").output["fields"]
    kinds = {(f["field_type"], f["data_type"]) for f in fields}
    assert {"single_value", "single_value_fixed", "multi_value", "multi_value_fixed"} <= {k for k, _ in kinds}
    assert {"string", "integer", "float", "boolean", "datetime", "url"} <= {d for _, d in kinds}


@pytest.mark.parametrize("mode", ["message", "plain"])
def test_values_of_each_field_type_are_set_and_read_back(act, security_incident, mode):
    values = {"incident_id": security_incident, "values": VALUES}
    result = act("set_incident_custom_field_values", **values) if mode == "message" else act.plain(
        "set_incident_custom_field_values", values)
    assert result.code == 0, result.error
    read = act("get_incident_custom_field_values", incident_id=security_incident).output["custom_fields"]
    assert {f["name"]: f["value"] for f in read if f["name"] in VALUES} == VALUES


def test_fields_are_named_by_id_too_and_null_clears(act, security_incident):
    fields = act("list_incident_custom_fields", incident_type="security").output["fields"]
    environment = next(f for f in fields if f["name"] == "environment")
    act("set_incident_custom_field_values", incident_id=security_incident, values={environment["id"]: "staging"})
    cleared = act("set_incident_custom_field_values", incident_id=security_incident, incident_type="security",
                  values={"environment": None}).output["custom_fields"]
    assert next(f for f in cleared if f["name"] == "environment")["value"] is None


@pytest.mark.parametrize("values, says", [
    ({"environment": "qa"}, "one of its options: production, staging"),
    ({"affected_regions": ["eu", "mars"]}, "one of its options"),
    ({"affected_regions": "eu"}, "a list of values"),
    ({"environment": ["production"]}, "one value, not a list"),
    ({"affected_users": "many"}, "a whole number"),
    ({"customer_impact": "yes"}, "true or false"),
    ({"error_rate": "high"}, "a number"),
    ({"detected_at": "yesterday"}, "ISO 8601"),
    ({"dashboard": "grafana"}, "http or https URL"),
    ({"tags": ["t"] * 11}, "at most 10 values"),
    ({"no_such_field": 1}, "has no custom field 'no_such_field'"),
])
def test_a_value_the_field_does_not_take_is_refused_before_any_write(act, journal, security_incident, values,
                                                                      says):
    result = act("set_incident_custom_field_values", incident_id=security_incident, incident_type="security",
                 values=values)
    assert result.code == 1 and says in result.error["cause"] + result.error["assistance"]
    sent = [(e["method"], e["path"]) for e in journal() if e["path"].startswith(f"/incidents/{security_incident}")
            or e["path"].startswith("/incidents/types")]
    assert sent[0] == ("GET", "/incidents/types/security/custom_fields")
    assert {method for method, _ in sent} == {"GET"}, "the fields (and options) read, nothing written"


def test_set_values_reads_the_incident_type_when_not_given(act, journal, security_incident):
    result = act("set_incident_custom_field_values", incident_id=security_incident, values={"environment": "qa"})
    assert result.code == 1 and "one of its options: production, staging" in result.error["cause"]
    assert [e["method"] for e in journal() if "custom_fields" in e["path"] or e["path"].endswith(
        security_incident)][-2:] == ["GET", "GET"]


def test_incident_type_changes_and_the_incident_moves_to_another_service(act, sandbox):
    web, checkout = sandbox.seed_ids["services"]
    created = act("create_incident", title="Checkout page slow", service=web).output["incident"]
    assert created["incident_type"]["name"] == "incident_default"
    changed = act.plain("update_incident", {"incident_id": created["id"], "incident_type": "security",
                                            "service": checkout})
    assert changed.code == 0, changed.error
    incident = changed.output["incident"]
    assert incident["incident_type"]["name"] == "security" and incident["service"]["id"] == checkout


def test_an_unknown_incident_type_is_refused_by_pagerduty(act, sandbox):
    result = act("create_incident", title="x", service=sandbox.seed_ids["services"][0], incident_type="fraud")
    assert result.code == 1 and "incident type" in result.error["cause"]


@pytest.mark.parametrize("status", ["triggered", "acknowledged"])
def test_update_status_reopens_a_resolved_incident(act, sandbox, status):
    resolved = sandbox.seed_ids["incidents"]["resolved"][0]
    result = act("update_status", incident_id=resolved, status=status)
    assert result.code == 0, result.error
    assert result.output["incident"]["status"] == status
