"""The rules between an action's inputs (`python.constraints`) and earlier input names
(`python.aliases`): enforced by the runner before any request, carried by `spec ACTION`'s JSON
Schema and help.md, linted."""

import copy
import os

import jsonschema
import pytest

from conftest import ROOT, invoke
from pagerduty_plugin import constraints
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.errors import PluginError

INCIDENT = "PABC123"
# (action, the kind of rule broken, an input that breaks only that rule, the fields the error names)
BROKEN = [
    ("create_incident", "at_most_one", {"title": "x", "service": "PSVC001", "escalation_policy": "PEP0001",
                                         "assignees": ["PUSR001"]}, ["escalation_policy", "assignees"]),
    ("update_incident", "at_least_one", {"incident_id": INCIDENT}, ["status", "title"]),
    ("update_incident", "only_if", {"incident_id": INCIDENT, "status": "acknowledged", "resolution": "x"},
     ["resolution"]),
    ("update_status", "only_if", {"incident_id": INCIDENT, "status": "acknowledged", "resolution": "x"},
     ["resolution"]),
    ("manage_incidents", "only_if", {"incident_ids": [INCIDENT], "status": "acknowledged", "resolution": "x"},
     ["resolution"]),
    ("create_status_update", "together", {"incident_id": INCIDENT, "message": "m", "subject": "s"},
     ["html_message"]),
    ("add_responders", "at_least_one", {"incident_id": INCIDENT, "message": "m"}, ["users", "escalation_policies"]),
    ("get_on_call", "at_least_one", {}, ["schedule_id", "escalation_policy_id"]),
    ("create_maintenance_window", "one_of", {"services": ["PSVC001"]}, ["end_time", "duration_minutes"]),
    ("create_maintenance_window", "ascending", {"services": ["PSVC001"], "start_time": "2030-01-02T00:00:00Z",
                                                "end_time": "2030-01-01T00:00:00Z"}, ["end_time", "start_time"]),
    ("update_user", "at_least_one", {"user_id": "PUSR001"}, ["name", "email"]),
    ("update_service", "at_least_one", {"service_id": "PSVC001"}, ["name"]),
    ("update_extension", "at_least_one", {"extension_id": "PEXT001"}, ["name"]),
    ("update_escalation_policy", "at_least_one", {"escalation_policy_id": "PEP0001"}, ["name"]),
    ("list_webhook_subscriptions", "at_most_one", {"service": "A", "team": "B"}, ["service", "team"]),
    ("create_webhook_subscription", "at_most_one", {"url": "https://hooks.example.com/pd", "service": "A",
                                                    "team": "B"}, ["service", "team"]),
    ("update_webhook_subscription", "at_most_one", {"webhook_subscription_id": "PWEBH01", "service": "A",
                                                    "team": "B"}, ["service", "team"]),
    ("update_webhook_subscription", "at_least_one", {"webhook_subscription_id": "PWEBH01"}, ["events"]),
    ("api_request", "only_if", {"path": "/users", "body": {"a": 1}}, ["body"]),
    ("list_change_events", "at_most_one", {"incident_id": INCIDENT, "teams": ["PTEAM01"]}, ["incident_id", "teams"]),
    ("list_change_events", "ascending", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
     ["since", "until"]),
    ("cancel_responder_requests", "at_least_one", {"incident_id": INCIDENT}, ["users", "escalation_policies"]),
    ("create_status_page_post", "required_if", {"status_page_id": "PPAGE01", "title": "t", "post_type": "maintenance",
                                                "message": "m", "status": "s", "severity": "v"},
     ["starts_at", "ends_at"]),
    ("create_status_page_post", "ascending", {"status_page_id": "PPAGE01", "title": "t", "post_type": "maintenance",
                                              "message": "m", "status": "s", "severity": "v",
                                              "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
     ["ends_at", "starts_at"]),
    ("update_status_page_post", "at_least_one", {"status_page_id": "PPAGE01", "post_id": "PPOST01"}, ["title"]),
    # one meaning of ascending everywhere: the same time is refused as a time before is
    ("update_status_page_post", "ascending", {"status_page_id": "PPAGE01", "post_id": "PPOST01",
                                              "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
     ["ends_at", "starts_at"]),
    ("list_incidents", "ascending", {"since": "2030-01-01T00:00:00Z", "until": "2030-01-01T00:00:00+00:00"},
     ["until", "since"]),
    ("list_log_entries", "ascending", {"incident_id": INCIDENT, "since": "2030-01-02", "until": "2030-01-01"},
     ["until", "since"]),
    ("get_on_call", "ascending", {"schedule_id": "PSCHED1", "since": "2030-01-01T01:00:00+01:00",
                                  "until": "2030-01-01T00:00:00Z"}, ["until", "since"]),
    ("get_schedule", "ascending", {"schedule_id": "PSCHED1", "since": "2030-01-02", "until": "2030-01-01"},
     ["until", "since"]),
    ("list_schedule_users", "ascending", {"schedule_id": "PSCHED1", "since": "2030-01-01", "until": "2030-01-01"},
     ["until", "since"]),
    ("create_schedule_override", "ascending", {"schedule_id": "PSCHED1", "user": "PUSER01",
                                               "start": "2030-01-01T12:00:00Z", "end": "2030-01-01T12:00:00Z"},
     ["end", "start"]),
] + [(action, "ascending", {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}, ["since", "until"])
     for action in ("get_incident_metrics", "list_raw_incidents", "analytics_report")]

# the pairs of inputs that bound a window or a period: an action with both has the spec's ascending rule
WINDOWS = (("since", "until"), ("start", "end"), ("start_time", "end_time"), ("starts_at", "ends_at"))


def test_every_rule_in_the_spec_has_a_case_here():
    spec = speclib.load()
    declared = {(name, next(iter(rule))) for name in spec.actions for rule in spec.constraints(name)}
    assert declared == {(action, kind) for action, kind, _, _ in BROKEN}


def test_every_window_is_ordered_by_the_spec_rule():
    spec = speclib.load()
    for name, action in spec.actions.items():
        fields = action.get("input") or {}
        pairs = [list(pair) for pair in WINDOWS if set(pair) <= set(fields)]
        ordered = [rule["ascending"] for rule in spec.constraints(name) if "ascending" in rule]
        assert pairs == ordered, name


def test_the_same_time_is_refused_with_its_values(act, journal):
    result = act("get_on_call", schedule_id="PSCHED1", since="2030-01-01T00:00:00Z", until="2030-01-01T01:00:00+01:00")
    assert result.code == 1 and journal() == []
    assert result.error["cause"] == ("'until' (2030-01-01T01:00:00+01:00) is the same time as "
                                     "'since' (2030-01-01T00:00:00Z)")
    assert result.error["assistance"].startswith("Give an until after since")


def test_since_alone_asks_for_one_moment(act, journal):
    result = act("get_on_call", schedule_id="PSCHED1", since="2030-01-01T00:00:00Z")
    assert journal()[0]["query"]["since"] == ["2030-01-01T00:00:00Z"] and "until" not in journal()[0]["query"]
    assert result.error["data"]["status"] == 404  # no such schedule: PagerDuty was asked


@pytest.mark.parametrize("action, kind, values, fields", BROKEN, ids=[f"{b[0]}-{b[1]}" for b in BROKEN])
def test_a_broken_rule_is_refused_before_any_request(act, journal, action, kind, values, fields):
    result = act(action, **values)
    assert result.code == 1 and journal() == []
    error = result.error
    assert error["data"]["rule"] == kind and set(fields) <= set(error["data"]["fields"])
    assert all(f"'{field}'" in error["cause"] for field in error["data"]["fields"]), error
    assert error["assistance"]


@pytest.mark.parametrize("action, kind, values, fields", BROKEN, ids=[f"{b[0]}-{b[1]}" for b in BROKEN])
def test_spec_action_json_schema_carries_the_rule(action, kind, values, fields):
    schema = invoke(["spec", action]).doc["input"]
    jsonschema.Draft202012Validator.check_schema(schema)
    rules = [rule for rule in schema["allOf"] if all(f"'{field}'" in rule["description"] for field in fields)]
    assert rules, schema["allOf"]
    if kind != "ascending":  # no JSON Schema keyword compares two dates: its description says it
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(values))
        assert any(list(error.absolute_schema_path)[:1] == ["allOf"] for error in errors), errors


def test_a_rule_kept_is_not_refused(act, journal):
    result = act("update_status", incident_id="PNOSUCH", status="resolved", resolution="fixed")
    assert result.error["data"].get("rule") != "only_if" and len(journal()) == 1  # it went to PagerDuty


def test_plain_mode_refuses_the_same_way(act, journal):
    result = act.plain("create_status_update", {"incident_id": INCIDENT, "message": "m", "html_message": "<b>"})
    assert result.code == 1 and result.error["data"]["fields"] == ["subject"] and journal() == []


def test_help_md_shows_each_rule_and_earlier_name():
    spec = speclib.load()
    text = open(os.path.join(ROOT, "help.md"), encoding="utf-8").read()
    for name in spec.actions:
        section = text.split(f"#### {spec.actions[name]['title']}\n", 1)[1].split("\n#### ", 1)[0]
        assert section.count("\nRule: ") == len(spec.constraints(name)), name
        for field, earlier in spec.aliases(name).items():
            assert f"`{field}` also as " + ", ".join(f"`{a}`" for a in earlier) in section


# --- enum on a []X field: the values its items may take --------------------------------------


def test_enum_on_a_list_limits_its_items(act, journal):
    schema = invoke(["spec", "list_incidents"]).doc["input"]["properties"]["statuses"]
    assert schema["items"]["enum"] == ["triggered", "acknowledged", "resolved"] and "enum" not in schema
    result = act("list_incidents", statuses="triggered, fixed")
    assert result.code == 1 and journal() == [] and result.error["data"]["field"] == "statuses[1]"
    assert "fixed" in result.error["cause"]


# --- aliases: the earlier plugin's names -------------------------------------------------------


def test_an_earlier_name_is_read_as_its_field(act, sandbox):
    email = sandbox.info["from_email"]
    assert act("get_user_by_email", user_email=email).output["found"] is True
    assert act("get_user_by_email", user_email=email, email="").output["found"] is True  # a blank form field
    schema = invoke(["spec", "get_user_by_email"]).doc["input"]
    assert schema["properties"]["email"]["x-aliases"] == ["user_email"] and "user_email" not in schema["properties"]


def test_both_names_with_different_values_are_refused(act, journal):
    result = act("get_user_by_email", user_email="a@example.com", email="b@example.com")
    assert result.code == 1 and journal() == [] and result.error["data"]["fields"] == ["email", "user_email"]


# --- lint ------------------------------------------------------------------------------------------


def broken_spec(change):
    raw = copy.deepcopy(speclib.load().raw)
    change(raw["python"])
    return raw


def test_a_rule_on_the_action_itself_is_pointed_to_the_python_block():
    raw = copy.deepcopy(speclib.load().raw)
    raw["actions"]["get_on_call"]["constraints"] = [{"one_of": ["schedule_id", "escalation_policy_id"]}]
    assert "action get_on_call: unknown key 'constraints' (it belongs in python.constraints)" in speclib.lint(raw)


def test_spec_check_refuses_a_rule_naming_no_field():
    raw = broken_spec(lambda p: p["constraints"]["get_on_call"].append({"one_of": ["since", "nope"]}))
    assert "python.constraints.get_on_call[3]: one_of names no input field 'nope'" in speclib.lint(raw)


@pytest.mark.parametrize("change, problem", [
    (lambda p: p["constraints"]["get_on_call"].append({"at_least_one": ["schedule_id", "nope"]}),
     "python.constraints.get_on_call[3]: at_least_one names no input field 'nope'"),
    (lambda p: p["constraints"].update(no_such_action=[{"one_of": ["a", "b"]}]),
     "python.constraints.no_such_action: names no action"),
    (lambda p: p["constraints"]["get_on_call"].append({"mutually_exclusive": ["since", "until"]}),
     "python.constraints.get_on_call[3]: must be one of"),
    (lambda p: p["constraints"]["get_on_call"].append({"one_of": ["since"]}),
     "one_of takes a list of two or more fields"),
    (lambda p: p["constraints"]["update_status"].append({"required_if": {"status": "closed", "then": ["resolution"]}}),
     "'status' can never be 'closed'"),
    (lambda p: p["constraints"]["api_request"].append({"at_most_one": ["method", "body"]}),
     "field 'method' has a default, so it is always given"),
    (lambda p: p["aliases"].update(get_user_by_email={"mail": ["user_email"]}),
     "python.aliases.get_user_by_email.mail: names no input field"),
    (lambda p: p["aliases"].update(update_user={"description": ["name"]}), "'name' is an input field itself"),
])
def test_lint_names_the_broken_rule(change, problem):
    raw = broken_spec(change)
    found = constraints.lint(raw["actions"], raw["python"]["constraints"], raw["python"]["aliases"])
    assert any(problem in line for line in found), found


def test_required_if_asks_for_its_fields_only_when_the_value_matches():
    rule = {"required_if": {"status": ["resolved", "closed"], "then": ["resolution"]}}
    fields = {"status": {"type": "string"}, "resolution": {"type": "string"}}
    constraints.check_rules([rule], {"status": "acknowledged"}, fields)
    constraints.check_rules([rule], {"status": "resolved", "resolution": "fixed"}, fields)
    with pytest.raises(PluginError) as caught:
        constraints.check_rules([rule], {"status": "closed"}, fields)
    assert caught.value.cause == "When 'status' is resolved or closed, give 'resolution' too"
    [schema] = constraints.schema([rule])
    check = jsonschema.Draft202012Validator({"type": "object", "allOf": [schema]})
    assert not check.is_valid({"status": "closed"}) and check.is_valid({"status": "open"})
    assert schema["description"] == "when 'status' is resolved or closed, 'resolution' too"
