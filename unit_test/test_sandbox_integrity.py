"""A refused write changes nothing, and nothing a client can store breaks a later read."""
from datetime import datetime, timedelta, timezone

import pytest

from pagerduty_plugin.sandbox import lifecycle
from sandbox_fixtures import error_code, iso, ref

# The contract lists no 400 for several of these updates; PagerDuty answers 400 all the same.
UNLISTED_400 = pytest.mark.no_conformance
SOON = datetime.now(timezone.utc) + timedelta(days=30)


def refused_put(api, path, wrapper, change):
    before = api.get(path).json()[wrapper]
    r = api.put(path, json={wrapper: change})
    assert r.status_code == 400, r.text
    return before, api.get(path).json()[wrapper]


# Updates are all or nothing --------------------------------------------------------------------
@UNLISTED_400
@pytest.mark.parametrize("kind, wrapper, change, field", [
    ("teams", "team", {"name": "Renamed", "default_role": "boss"}, "name"),
    ("services", "service", {"name": "Renamed", "status": "bogus"}, "name"),
    ("users", "user", {"name": "Renamed", "job_title": 5}, "name"),
    ("escalation_policies", "escalation_policy", {"name": "Renamed", "escalation_rules": []}, "name"),
    ("schedules", "schedule", {"name": "Renamed", "schedule_layers": []}, "name"),
    ("extensions", "extension", {"name": "Renamed", "endpoint_url": "ftp://x"}, "name"),
    ("maintenance_windows", "maintenance_window", {"description": "Renamed", "services": []}, "description"),
    ("maintenance_windows", "maintenance_window",
     {"start_time": iso(SOON + timedelta(days=2)), "end_time": iso(SOON + timedelta(days=1))}, "start_time"),
])
def test_a_refused_update_changes_nothing(module_sandbox, api, kind, wrapper, change, field):
    seeded = module_sandbox.seed_ids[kind]
    record_id = seeded[0] if isinstance(seeded, list) else seeded["admin"]
    before, after = refused_put(api, f"/{kind}/{record_id}", wrapper, change)
    assert after[field] == before[field]


@UNLISTED_400
def test_a_refused_contact_method_update_keeps_its_address(api):
    user = api.get("/users", params={"query": "ada"}).json()["users"][0]["id"]
    base = f"/users/{user}/contact_methods"
    email = {"type": "email_contact_method", "label": "Work", "address": "ada.work@example.com"}
    taken = api.post(base, json={"contact_method": dict(email, label="Home", address="ada.home@example.com")})
    method = api.post(base, json={"contact_method": email}).json()["contact_method"]["id"]
    before, after = refused_put(api, f"{base}/{method}", "contact_method",
                                {"type": "email_contact_method", "address": taken.json()["contact_method"]["address"]})
    assert after["address"] == before["address"] == "ada.work@example.com"


@UNLISTED_400
def test_a_refused_notification_rule_update_changes_nothing(api):
    user = api.get("/users", params={"query": "ada"}).json()["users"][0]["id"]
    rule = api.get(f"/users/{user}/notification_rules").json()["notification_rules"][0]
    before, after = refused_put(api, f"/users/{user}/notification_rules/{rule['id']}", "notification_rule",
                                {"start_delay_in_minutes": 99, "urgency": "someday"})
    assert after["start_delay_in_minutes"] == before["start_delay_in_minutes"]


@UNLISTED_400
def test_a_bulk_update_naming_one_incident_twice_is_refused_whole(module_sandbox, api):
    first, second = (api.create_incident(title)["id"] for title in ("one", "two"))
    r = api.put("/incidents", json={"incidents": [
        {"id": first, "type": "incident_reference", "status": "acknowledged"},
        {"id": second, "type": "incident_reference", "status": "acknowledged"},
        {"id": first, "type": "incident_reference", "status": "resolved"}]})
    assert r.status_code == 400 and error_code(r) == 2001
    assert [api.get(f"/incidents/{i}").json()["incident"]["status"] for i in (first, second)] == ["triggered"] * 2


def _incident_with_two_alerts(api):
    incidents = []
    for key in ("two-a", "two-b"):
        api.trigger(key, dedup_key=key)
        incidents.append(api.get("/incidents", params={"incident_key": key}).json()["incidents"][0]["id"])
    alerts = [api.get(f"/incidents/{i}/alerts").json()["alerts"][0]["id"] for i in incidents]
    moved = api.put(f"/incidents/{incidents[1]}/alerts/{alerts[1]}",
                    json={"alert": {"type": "alert", "incident": ref(incidents[0], "incident_reference")}})
    assert moved.status_code == 200
    return incidents[0], alerts


def test_a_bulk_alert_update_is_all_or_nothing(module_sandbox, api):
    incident, alerts = _incident_with_two_alerts(api)
    r = api.put(f"/incidents/{incident}/alerts", json={"alerts": [
        {"id": alerts[0], "type": "alert", "status": "resolved"},
        {"id": alerts[1], "type": "alert", "status": "bogus"}]})
    assert r.status_code == 400
    listed = api.get(f"/incidents/{incident}/alerts").json()["alerts"]
    assert [a["status"] for a in listed] == ["triggered", "triggered"]


def test_resolving_every_alert_resolves_the_incident_as_the_acting_user(module_sandbox, api):
    incident, alerts = _incident_with_two_alerts(api)
    r = api.put(f"/incidents/{incident}/alerts", json={"alerts": [
        {"id": a, "type": "alert", "status": "resolved"} for a in alerts]})
    assert r.status_code == 200
    newest = api.get(f"/incidents/{incident}/log_entries").json()["log_entries"][0]
    assert newest["type"] == "resolve_log_entry"
    assert newest["agent"]["id"] == module_sandbox.seed_ids["users"]["admin"]


def test_an_alert_is_found_only_under_its_own_incident(module_sandbox, api):
    incident, alerts = _incident_with_two_alerts(api)
    other = module_sandbox.seed_ids["incidents"]["triggered"][1]
    assert api.get(f"/incidents/{incident}/alerts/{alerts[1]}").status_code == 200
    assert api.get(f"/incidents/{other}/alerts/{alerts[1]}").status_code == 404


@pytest.mark.no_conformance   # the 500 of a sandbox bug is in no contract
def test_an_incident_is_stored_only_once_its_assignees_are_known(module_sandbox, api, monkeypatch):
    total = api.get("/incidents", params={"total": "true", "date_range": "all"}).json()["total"]

    def broken(*_args):
        raise RuntimeError("a rotation that cannot be computed")

    monkeypatch.setattr(lifecycle, "assignees_for", broken)
    body = {"incident": {"type": "incident", "title": "half made",
                         "service": ref(module_sandbox.seed_ids["services"][0], "service_reference")}}
    assert api.post("/incidents", json=body).status_code == 500
    monkeypatch.undo()
    assert api.get("/incidents", params={"total": "true", "date_range": "all"}).json()["total"] == total
    assert api.create_incident("next")["incident_number"] == total + 1


# References and sequence numbers ---------------------------------------------------------------
@pytest.mark.parametrize("target_type", [["user"], {"user": 1}, None, "team_reference"])
def test_escalation_targets_need_a_known_type(module_sandbox, api, target_type):
    target = {"id": module_sandbox.seed_ids["users"]["admin"], "type": target_type}
    body = {"escalation_policy": {"type": "escalation_policy", "name": "Typed", "escalation_rules": [
        {"escalation_delay_in_minutes": 5, "targets": [target]}]}}
    r = api.post("/escalation_policies", json=body)
    assert r.status_code == 400 and "type must be one of" in r.json()["error"]["errors"][0]


@UNLISTED_400
def test_responder_targets_need_a_known_type(module_sandbox, api):
    incident = module_sandbox.seed_ids["incidents"]["triggered"][0]
    r = api.post(f"/incidents/{incident}/responder_requests", json={
        "requester_id": module_sandbox.seed_ids["users"]["admin"], "message": "help",
        "responder_request_targets": [{"id": module_sandbox.seed_ids["users"]["owner"], "type": ["user"]}]})
    assert r.status_code == 400 and error_code(r) == 2001


@UNLISTED_400
def test_a_reference_type_of_the_wrong_shape_is_a_400(module_sandbox, api):
    service = module_sandbox.seed_ids["services"][0]
    r = api.put(f"/services/{service}", json={"service": {
        "escalation_policy": {"id": module_sandbox.seed_ids["escalation_policies"][0], "type": ["escalation_policy"]}}})
    assert r.status_code == 400


def test_maintenance_window_sequence_numbers_are_never_reused(module_sandbox, api):
    def create(day):
        body = {"maintenance_window": {"type": "maintenance_window", "start_time": iso(SOON + timedelta(days=day)),
                                       "end_time": iso(SOON + timedelta(days=day + 1)),
                                       "services": [ref(module_sandbox.seed_ids["services"][0], "service_reference")]}}
        return api.post("/maintenance_windows", json=body).json()["maintenance_window"]

    first, second = create(1), create(2)
    assert api.delete(f"/maintenance_windows/{first['id']}").status_code == 204
    third = create(3)
    numbers = [mw["sequence_number"] for mw in api.get("/maintenance_windows").json()["maintenance_windows"]]
    assert len(numbers) == len(set(numbers)) == 3
    assert third["sequence_number"] > second["sequence_number"] > first["sequence_number"]


# Schedule restrictions ---------------------------------------------------------------------------
def _schedule(module_sandbox, restrictions):
    start = iso(datetime(2030, 1, 7, tzinfo=timezone.utc))
    return {"schedule": {"type": "schedule", "name": "Restricted", "time_zone": "Etc/UTC", "schedule_layers": [{
        "start": start, "rotation_virtual_start": start, "rotation_turn_length_seconds": 86400,
        "users": [{"user": ref(module_sandbox.seed_ids["users"]["admin"], "user_reference")}],
        "restrictions": restrictions}]}}


DAILY = {"type": "daily_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 28800}


@pytest.mark.parametrize("restrictions", [
    "daily", DAILY, [None], [dict(DAILY, type="hourly_restriction")], [dict(DAILY, type=["daily_restriction"])],
    [dict(DAILY, start_time_of_day="9am")], [dict(DAILY, start_time_of_day="25:00:00")],
    [dict(DAILY, start_time_of_day=9)], [dict(DAILY, start_time_of_day="09:00:00+02:00")],
    [dict(DAILY, duration_seconds=True)], [dict(DAILY, duration_seconds=0)], [dict(DAILY, duration_seconds=-60)],
    [dict(DAILY, duration_seconds="3600")], [dict(DAILY, type="weekly_restriction")],
    [dict(DAILY, type="weekly_restriction", start_day_of_week=8)],
    [dict(DAILY, type="weekly_restriction", start_day_of_week=True)],
])
def test_bad_restrictions_are_refused(module_sandbox, api, restrictions):
    r = api.post("/schedules", json=_schedule(module_sandbox, restrictions))
    assert r.status_code == 400 and error_code(r) == 2001


@UNLISTED_400
def test_a_refused_restriction_leaves_every_read_working(module_sandbox, api):
    schedule = api.post("/schedules", json=_schedule(module_sandbox, [DAILY])).json()["schedule"]["id"]
    bad = _schedule(module_sandbox, [dict(DAILY, start_time_of_day="nine")])
    assert api.put(f"/schedules/{schedule}", json=bad).status_code == 400
    assert api.get(f"/schedules/{schedule}").status_code == 200
    assert api.get("/oncalls", params={"schedule_ids[]": schedule}).status_code == 200


def test_weekly_and_short_form_restrictions_render(module_sandbox, api):
    weekly = {"type": "weekly_restriction", "start_time_of_day": "10:30", "duration_seconds": 3600,
              "start_day_of_week": 2}
    r = api.post("/schedules", json=_schedule(module_sandbox, [weekly]))
    assert r.status_code == 201
    window = {"since": "2030-01-07T00:00:00Z", "until": "2030-01-14T00:00:00Z"}
    final = api.get(f"/schedules/{r.json()['schedule']['id']}", params=window).json()["schedule"]["final_schedule"]
    assert [(e["start"], e["end"]) for e in final["rendered_schedule_entries"]] == \
        [("2030-01-08T10:30:00Z", "2030-01-08T11:30:00Z")]
