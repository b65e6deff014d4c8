"""Maintenance window actions against the sandbox: the From header PagerDuty requires, start
and end from a duration, filters, deletes, and the errors around them."""

from datetime import datetime, timedelta, timezone

import pytest
from test_services import HOSTILE_IDS, assert_hostile_id_sends_nothing, assert_read_only_key_refused  # helpers; the fixtures are conftest.py's

LATER = {"start_time": "2030-01-01T22:00:00Z", "end_time": "2030-01-01T23:00:00Z"}


@pytest.fixture
def window(step, service):
    result, _ = step("create_maintenance_window", services=[service["id"]], description="Kernel patch", **LATER)
    return result.output["maintenance_window"]


def moment(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))  # Python 3.8 reads no Z


def test_create_window_for_a_duration_from_now(step, service, sandbox):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    result, sent = step("create_maintenance_window", services=[service["name"]], duration_minutes=90,
                        description="Database upgrade")
    lookup, post = sent
    assert (lookup["path"], lookup["query"]["query"]) == ("/services", [service["name"]])
    assert (post["method"], post["path"], post["headers"]["From"]) == ("POST", "/maintenance_windows",
                                                                       sandbox.info["from_email"])
    body = post["json"]["maintenance_window"]
    assert set(body) == {"type", "description", "start_time", "end_time", "services"}
    assert (body["type"], body["services"]) == ("maintenance_window", [{"id": service["id"],
                                                                        "type": "service_reference"}])
    start, end = moment(body["start_time"]), moment(body["end_time"])
    assert body["start_time"].endswith("Z") and before <= start <= datetime.now(timezone.utc)
    assert end - start == timedelta(minutes=90)
    made = result.output["maintenance_window"]
    assert made["description"] == "Database upgrade" and [s["id"] for s in made["services"]] == [service["id"]]


def test_create_window_with_times_and_a_from_of_its_own(step, service, sandbox, users):
    other = [u for u in users if u["email"] != sandbox.info["from_email"]][0]
    result, sent = step("create_maintenance_window", services=[service["id"]], from_email=other["email"],
                        start_time="2030-01-01T23:00:00+0100", end_time="2030-01-02 00:30")
    assert sent[0]["headers"]["From"] == other["email"]
    body = sent[0]["json"]["maintenance_window"]
    assert (body["start_time"], body["end_time"]) == ("2030-01-01T23:00:00+01:00", "2030-01-02T00:30:00Z")
    assert result.output["maintenance_window"]["created_by"]["id"] == other["id"]


@pytest.mark.parametrize("values, cause", [
    ({}, "Give one of 'end_time' or 'duration_minutes'"),
    ({"end_time": "2030-01-01T00:00:00Z", "duration_minutes": 5}, "Give 'end_time' or 'duration_minutes', not both"),
    ({"start_time": "2030-01-01T00:00:00Z", "end_time": "2029-12-31T23:00:00Z"},
     "'end_time' (2029-12-31T23:00:00Z) is before 'start_time' (2030-01-01T00:00:00Z)"),
    ({"end_time": "2020-01-01T00:00:00Z"}, "The maintenance window would end before now, when it starts"),
])
def test_window_times_are_checked_before_any_request(step, values, cause):
    result, sent = step("create_maintenance_window", services=["Some Service"], **values)
    assert (result.code, result.error["cause"], sent) == (1, cause, [])


@pytest.mark.parametrize("values", [
    {"duration_minutes": 0}, {"duration_minutes": "an hour"}, {"duration_minutes": 5, "start_time": "tonight"},
    {"duration_minutes": 5, "services": []}, {"duration_minutes": 5, "services": 5},
])
def test_bad_window_input_sends_nothing(step, values):
    result, sent = step("create_maintenance_window", **{"services": ["PSERV01"], **values})
    assert result.code == 1 and sent == [] and result.error["assistance"]


def test_no_from_anywhere_sends_nothing(act, connection, journal):
    without = {k: v for k, v in connection.items() if k != "from_email"}
    result = act("create_maintenance_window", _connection=without, services=["Checkout API"], duration_minutes=5)
    assert result.code == 1 and journal() == []
    assert "From" in result.error["cause"] and "from_email" in result.error["assistance"]


def test_a_from_that_is_no_user(step, service):
    result, sent = step("create_maintenance_window", services=[service["id"]], duration_minutes=5,
                        from_email="stranger@example.com")
    assert result.error["cause"].startswith("The From address is not a user on this account")
    assert [e["status"] for e in sent] == [400]


def test_list_windows_of_a_service_named(step, window, service):
    result, sent = step("list_maintenance_windows", services=[service["name"]], filter="future", query="kernel")
    assert [w["id"] for w in result.output["maintenance_windows"]] == [window["id"]]
    assert sent[-1]["query"] == {"query": ["kernel"], "filter": ["future"], "service_ids[]": [service["id"]],
                                 "limit": ["100"], "offset": ["0"]}


def test_list_windows_max_results(step, window, service):
    step("create_maintenance_window", services=[service["id"]], **LATER)
    result, _ = step("list_maintenance_windows", max_results=1)
    assert (result.output["count"], result.output["truncated"]) == (1, True)


def test_delete_window(step, window):
    result, sent = step("delete_maintenance_window", maintenance_window_id=window["id"])
    assert result.output == {"success": True}
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [
        ("DELETE", f"/maintenance_windows/{window['id']}", 204)]
    listed = step("list_maintenance_windows")[0].output["maintenance_windows"]
    assert window["id"] not in [w["id"] for w in listed]


def test_unknown_window(step):
    result, sent = step("delete_maintenance_window", maintenance_window_id="PNOSUCH")
    assert result.error["cause"].startswith("Maintenance window PNOSUCH was not found (HTTP 404)")
    assert len(sent) == 1


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_hostile_window_ids_send_nothing(step, bad):
    assert_hostile_id_sends_nothing(step, "delete_maintenance_window", "maintenance_window", bad)


@pytest.mark.parametrize("action, values", [
    ("create_maintenance_window", {"services": ["PSERV01"], "duration_minutes": 5}),
    ("delete_maintenance_window", {"maintenance_window_id": "PMW0001"}),
])
def test_a_read_only_key_is_refused(act, readonly, action, values):
    assert_read_only_key_refused(act, readonly, action, values)


def test_a_window_that_has_ended_cannot_be_deleted(step, service):
    # PagerDuty makes no window in the past; the sandbox does, to show the 405 its delete answers
    ended = step("create_maintenance_window", services=[service["id"]], start_time="2020-01-01T00:00:00Z",
                 duration_minutes=60)[0].output["maintenance_window"]
    result, sent = step("delete_maintenance_window", maintenance_window_id=ended["id"])
    assert result.code == 1 and result.error["data"]["status"] == 405 and len(sent) == 1
    assert "Only future or ongoing maintenance windows can be deleted" in result.error["cause"]
