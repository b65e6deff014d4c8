"""Schedule actions against the sandbox: layers and rotation, the final schedule of a window,
the users on call, overrides, and the errors around them."""

import pytest
from test_services import HOSTILE_IDS, api, assert_hostile_id_sends_nothing, assert_read_only_key_refused  # helpers; the fixtures are conftest.py's

WEEK = 604800


@pytest.fixture
def rota(step, users):
    """A schedule of two users taking turns of a day, from 1 May 2024."""
    result, _ = step("create_schedule", name="Daily Rota", layers=[
        {"start": "2024-05-01T00:00:00Z", "rotation_turn_length_seconds": 86400,
         "users": [users[0]["id"], users[1]["id"]]}])
    return result.output["schedule"]


def test_list_schedules(step):
    result, sent = step("list_schedules", query="o", max_results=3)
    assert result.output["count"] == len(result.output["schedules"]) <= 3
    assert [(e["method"], e["path"], e["query"]) for e in sent] == [
        ("GET", "/schedules", {"query": ["o"], "limit": ["3"], "offset": ["0"]})]


def test_create_schedule_with_a_layer_of_users_by_email_and_id(step, users, sandbox):
    result, sent = step("create_schedule", name="Primary", time_zone="Europe/Berlin", description="Weekly",
                        layers=[{"name": "Main", "start": "2024-05-06T09:00:00Z",
                                 "users": [users[0]["email"], users[1]["id"]]}])
    post = sent[-1]
    assert [(e["method"], e["path"]) for e in sent] == [("GET", "/users"), ("POST", "/schedules")]
    assert post["json"] == {"schedule": {
        "type": "schedule", "name": "Primary", "description": "Weekly", "time_zone": "Europe/Berlin",
        "schedule_layers": [{"name": "Main", "start": "2024-05-06T09:00:00Z",
                             "rotation_virtual_start": "2024-05-06T09:00:00Z", "rotation_turn_length_seconds": WEEK,
                             "users": [{"user": {"id": users[0]["id"], "type": "user_reference"}},
                                       {"user": {"id": users[1]["id"], "type": "user_reference"}}]}]}}
    made = result.output["schedule"]
    assert made["time_zone"] == "Europe/Berlin" and made["name"] == "Primary"
    assert api(sandbox, "GET", f"/schedules/{made['id']}")["schedule"]["name"] == "Primary"


def test_create_schedule_in_utc_from_a_date(step, users):
    result, sent = step("create_schedule", name="UTC rota", layers=[{"start": "2024-05-06", "users": [users[0]["id"]]}])
    sent_schedule = sent[-1]["json"]["schedule"]
    assert sent_schedule["time_zone"] == "UTC" and result.code == 0
    layer = sent_schedule["schedule_layers"][0]
    assert (layer["start"], layer["rotation_virtual_start"]) == ("2024-05-06T00:00:00Z", "2024-05-06T00:00:00Z")


@pytest.mark.parametrize("layers, cause", [
    ([{"start": "2024-05-06T09:00:00Z", "users": []}], "Schedule layer 1 has no users"),
    ([{"start": "2024-05-06T09:00:00Z", "users": ["PUSER01"]}, {"start": "2024-05-06T09:00:00Z", "users": [""]}],
     "Schedule layer 2 has no users"),
])
def test_a_layer_without_users_sends_nothing(step, layers, cause):
    result, sent = step("create_schedule", name="Empty", layers=layers)
    assert (result.code, result.error["cause"], sent) == (1, cause, [])


@pytest.mark.parametrize("layer", [
    {"users": ["PUSER01"]}, {"start": "next monday", "users": ["PUSER01"]},
    {"start": "2024-05-06", "users": ["PUSER01"], "rotation_turn_length_seconds": 60},
    {"start": "2024-05-06", "users": ["PUSER01"], "rotation": "weekly"},
    {"start": "2024-05-06", "end": "2024-05-06T00:00:00Z", "users": ["PUSER01"]},
])
def test_bad_layers_send_nothing(step, layer):
    result, sent = step("create_schedule", name="Bad", layers=[layer])
    assert result.code == 1 and sent == [] and result.error["assistance"]


def test_a_layer_is_ordered_by_the_same_rule_as_the_inputs(step):
    result, sent = step("create_schedule", name="Bad", layers=[
        {"start": "2024-05-06", "users": ["PUSER01"]}, {"start": "2024-05-06", "end": "2024-05-05", "users": ["PUSER01"]}])
    assert (result.code, sent) == (1, [])
    assert result.error["cause"] == "Schedule layer 2: 'end' (2024-05-05) is before 'start' (2024-05-06)"
    assert result.error["data"] == {"field": "layers[1].end", "rule": "ascending"}


def test_get_schedule_with_the_final_schedule_of_a_window(step, rota, users):
    result, sent = step("get_schedule", schedule_id=rota["id"], since="2024-05-01T00:00:00Z",
                        until="2024-05-03T00:00:00Z", time_zone="UTC")
    assert [(e["method"], e["path"], e["query"]) for e in sent] == [
        ("GET", f"/schedules/{rota['id']}", {"since": ["2024-05-01T00:00:00Z"], "until": ["2024-05-03T00:00:00Z"],
                                            "time_zone": ["UTC"]})]
    entries = result.output["schedule"]["final_schedule"]["rendered_schedule_entries"]
    assert [e["user"]["id"] for e in entries] == [users[0]["id"], users[1]["id"]]


def test_list_schedule_users_of_a_window(step, rota, users):
    result, sent = step("list_schedule_users", schedule_id=rota["id"], since="2024-05-01T00:00:00Z",
                        until="2024-05-01T12:00:00Z")
    assert [u["id"] for u in result.output["users"]] == [users[0]["id"]]
    assert (result.output["count"], result.output["truncated"]) == (1, False)
    assert [(e["path"], e["query"]) for e in sent] == [
        (f"/schedules/{rota['id']}/users", {"since": ["2024-05-01T00:00:00Z"], "until": ["2024-05-01T12:00:00Z"]})]


def test_list_schedule_users_trimmed_to_max_results(step, rota):
    result, _ = step("list_schedule_users", schedule_id=rota["id"], max_results=1)
    assert (result.output["count"], result.output["truncated"]) == (1, True)


def test_create_override_for_a_user_by_email(step, rota, users):
    who = users[2]
    result, sent = step("create_schedule_override", schedule_id=rota["id"], user=who["email"],
                        start="2024-05-01T18:00:00Z", end="2024-05-02T06:00:00+0000")
    override = result.output["override"]
    assert override["user"]["id"] == who["id"] and override["id"]
    assert [(e["method"], e["path"], e["json"]) for e in sent[1:]] == [
        ("POST", f"/schedules/{rota['id']}/overrides", {"overrides": [
            {"start": "2024-05-01T18:00:00Z", "end": "2024-05-02T06:00:00Z",
             "user": {"id": who["id"], "type": "user_reference"}}]})]
    final = step("get_schedule", schedule_id=rota["id"], since="2024-05-01T20:00:00Z",
                 until="2024-05-01T21:00:00Z")[0].output["schedule"]["final_schedule"]
    assert [e["user"]["id"] for e in final["rendered_schedule_entries"]] == [who["id"]]


def test_an_override_pagerduty_refuses_is_an_error(step, rota, users):
    # 201 for the request, 400 for the one override inside it
    result, sent = step("create_schedule_override", schedule_id=rota["id"], user="PNOUSR9",
                        start="2024-05-01T00:00:00Z", end="2024-05-02T00:00:00Z")
    assert result.code == 1 and result.error["cause"].startswith("PagerDuty did not create the override")
    assert result.error["data"]["status"] == 400 and [e["status"] for e in sent] == [201]


def test_an_override_that_ends_before_it_starts_sends_nothing(step, rota, users):
    result, sent = step("create_schedule_override", schedule_id=rota["id"], user=users[0]["id"],
                        start="2024-05-02T00:00:00Z", end="2024-05-01T00:00:00Z")
    assert result.code == 1 and sent == []
    assert result.error["cause"] == "'end' (2024-05-01T00:00:00Z) is before 'start' (2024-05-02T00:00:00Z)"


def test_an_override_for_nobody(step, rota):
    result, sent = step("create_schedule_override", schedule_id=rota["id"], user="ghost@example.com",
                        start="2024-05-01T00:00:00Z", end="2024-05-02T00:00:00Z")
    assert result.error["cause"] == "No PagerDuty user has the email 'ghost@example.com'"
    assert [e["method"] for e in sent] == ["GET"]


def test_delete_schedule(step, rota):
    result, sent = step("delete_schedule", schedule_id=rota["id"])
    assert result.output == {"success": True}
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [("DELETE", f"/schedules/{rota['id']}", 204)]
    assert step("get_schedule", schedule_id=rota["id"])[0].error["cause"].startswith(
        f"Schedule {rota['id']} was not found (HTTP 404)")


def test_delete_a_schedule_a_policy_uses_is_refused_clearly(step, rota):
    step("create_escalation_policy", name="Uses rota", escalation_rules=[{"schedules": [rota["id"]]}])
    result, _ = step("delete_schedule", schedule_id=rota["id"])
    assert result.code == 1 and result.error["data"]["status"] == 400
    assert "escalation polic" in result.error["cause"]


BY_ID = [("get_schedule", {}), ("delete_schedule", {}), ("list_schedule_users", {}),
         ("create_schedule_override", {"user": "Someone", "start": "2024-05-01", "end": "2024-05-02"})]


@pytest.mark.parametrize("action, extra", BY_ID)
def test_unknown_schedule(step, action, extra):
    values = {**extra, "user": "PUSER01"} if extra else {}  # an id: no lookup before the 404
    result, sent = step(action, schedule_id="PNOSUCH", **values)
    assert result.code == 1 and result.error["data"]["status"] == 404 and len(sent) == 1


@pytest.mark.parametrize("bad", HOSTILE_IDS)
@pytest.mark.parametrize("action, extra", BY_ID)
def test_hostile_schedule_ids_send_nothing(step, action, extra, bad):
    assert_hostile_id_sends_nothing(step, action, "schedule", bad, **extra)


@pytest.mark.parametrize("action, values", [
    ("create_schedule", {"name": "X", "layers": [{"start": "2024-05-06", "users": ["PUSER01"]}]}),
    ("delete_schedule", {"schedule_id": "PSCHED1"}),
    ("create_schedule_override", {"schedule_id": "PSCHED1", "user": "PUSER01", "start": "2024-05-01",
                                  "end": "2024-05-02"}),
])
def test_a_read_only_key_is_refused(act, readonly, action, values):
    assert_read_only_key_refused(act, readonly, action, values)
