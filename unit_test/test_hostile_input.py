"""Inputs that JSON Schema lets through but PagerDuty would refuse (or mis-read): integral
floats, dates that do not exist, ranges that end before they start, From addresses that are not
emails. Through the CLI against the sandbox; a refused input sends no request."""

import pytest
from incident_support import open_incident, set_status


def test_integral_floats_are_sent_as_integers(act, sandbox, journal):
    result = act("list_incidents", max_results=5.0)
    assert result.code == 0, result.stdout
    assert journal()[-1]["query"]["limit"] == ["5"]


def test_an_integral_float_inside_a_body_is_sent_as_an_integer(act, sandbox, journal):
    incident = open_incident(sandbox, title="snooze me")
    set_status(sandbox, incident["id"], "acknowledged")
    result = act("snooze_incident", incident_id=incident["id"], duration=600.0)
    assert result.code == 0, result.stdout
    (sent,) = [e for e in journal() if e["path"].endswith("/snooze")]
    assert sent["json"] == {"duration": 600} and type(sent["json"]["duration"]) is int


def test_a_nested_integral_float_is_an_integer_too(act, sandbox, journal):
    user = sandbox.seed_ids["users"]["admin"] if isinstance(sandbox.seed_ids.get("users"), dict) else None
    if user is None:
        pytest.skip("seed has no admin id")
    result = act("create_escalation_policy", name="floats",
                 escalation_rules=[{"escalation_delay_in_minutes": 30.0, "users": [user]}])
    assert result.code == 0, result.stdout
    rule = journal()[-1]["json"]["escalation_policy"]["escalation_rules"][0]
    assert type(rule["escalation_delay_in_minutes"]) is int


@pytest.mark.parametrize("action, values", [("list_incidents", {"max_results": 5.5}),
                                            ("snooze_incident", {"incident_id": "PABC123", "duration": 600.25})])
def test_a_float_with_a_fraction_is_refused(act, journal, action, values):
    result = act(action, **values)
    assert result.code == 1 and "must be an integer" in result.error["cause"] and journal() == []


@pytest.mark.parametrize("action, values, field", [
    ("send_trigger_event", {"description": "x", "timestamp": "2024-02-30T00:00:00Z"}, "timestamp"),
    ("list_incidents", {"since": "2024-04-31"}, "since"),
    ("get_on_call", {"schedule_id": "PSCHED1", "until": "2023-02-29T10:00:00Z"}, "until"),
])
def test_a_date_that_does_not_exist_is_refused(act, journal, action, values, field):
    result = act(action, **values)
    assert result.code == 1 and journal() == []
    assert result.error["cause"].startswith(f"The input field '{field}' is not a date that exists")


@pytest.mark.parametrize("action, values, cause", [
    ("get_on_call", {"schedule_id": "PSCHED1", "since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
     "'until' (2024-05-01T00:00:00Z) is before 'since' (2024-05-02T00:00:00Z)"),
    ("list_incidents", {"since": "2024-05-02", "until": "2024-05-01T23:59:59Z"},
     "'until' (2024-05-01T23:59:59Z) is before 'since' (2024-05-02)"),
    ("create_schedule_override", {"schedule_id": "PSCHED1", "user": "PUSER01", "start": "2024-05-01T12:00:00Z",
                                  "end": "2024-05-01T12:00:00Z"},
     "'end' (2024-05-01T12:00:00Z) is the same time as 'start' (2024-05-01T12:00:00Z)"),
])
def test_a_range_that_ends_before_it_starts_is_refused(act, journal, action, values, cause):
    result = act(action, **values)
    assert result.code == 1 and result.error["cause"] == cause and journal() == []


@pytest.mark.parametrize("sender", ["bot\x01@example.com", "bot@example.com\r\nX-Evil: 1", "not-an-email",
                                    "a@b@c", "bot@exa mple.com"])
def test_a_from_that_is_not_an_email_never_reaches_a_header(act, journal, sender):
    result = act("api_request", method="GET", path="/priorities", from_email=sender)
    assert result.code == 1 and journal() == []
    assert "is not an email address" in result.error["cause"]
