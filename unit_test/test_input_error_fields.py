"""`exception.data.field` names the field of every input error (issue 19): missing and unknown
fields too, not only wrong values. Through the CLI, in message mode as InsightConnect reads it."""

import pytest
from conftest import invoke, start_message
from hostile_server import connection_to


@pytest.mark.parametrize("values, field, rule", [
    ({}, "incident_id", "required"),
    ({"incident_id": "PABC123", "bogus": 1}, "bogus", "additionalProperties"),
    ({"incident_id": 5}, "incident_id", "type"),
])
def test_every_input_error_names_its_field(values, field, rule):
    result = invoke(["run"], start_message("get_incident", values, connection_to("http://127.0.0.1:9")))
    assert result.code == 1
    data = result.body["exception"]["data"]
    assert (data["field"], data["rule"]) == (field, rule)


def test_plain_mode_names_the_missing_field_too():
    result = invoke(["run", "create_incident"], {"service": "PSVC"})
    assert result.code == 1
    assert result.error["data"]["field"] == "title", result.stdout


def test_a_runbook_input_it_does_not_declare_is_named(tmp_path):
    from runbook_support import runbook, write_runbook

    path = write_runbook(tmp_path, "name: r\ninputs:\n  hours: {type: integer}\nsteps:\n  - id: a\n"
                                   "    action: list_priorities\n")
    result = runbook(tmp_path, "run", path, "--dry-run", "--input", '{"hourz": 4}')
    assert result.code == 1
    assert result.doc["error"]["data"]["field"] == "hourz", result.stdout
