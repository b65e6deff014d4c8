"""Services, integrations, escalation policies, schedules, on-calls, priorities, extensions,
maintenance windows and abilities."""
from datetime import datetime, timedelta, timezone

import pytest

from sandbox_fixtures import error_code, iso, ref


def test_services_and_a_new_integration_key_that_events_accept(module_sandbox, api):
    ep = module_sandbox.seed_ids["escalation_policies"][0]
    r = api.post("/services", json={"service": {"type": "service", "name": "Search",
                                                "escalation_policy": ref(ep, "escalation_policy_reference")}})
    assert r.status_code == 201
    service = r.json()["service"]
    assert service["status"] == "active" and service["escalation_policy"]["id"] == ep
    r = api.post(f"/services/{service['id']}/integrations",
                 json={"integration": {"type": "events_api_v2_inbound_integration", "name": "Alerts"}})
    assert r.status_code == 201
    integration = r.json()["integration"]
    assert len(integration["integration_key"]) == 32 and integration["service"]["id"] == service["id"]
    assert api.trigger("search down", dedup_key="s1", routing_key=integration["integration_key"]).status_code == 202
    incident = api.get("/incidents", params={"incident_key": "s1"}).json()["incidents"][0]
    assert incident["service"]["id"] == service["id"]
    assert api.get(f"/services/{service['id']}").json()["service"]["status"] == "critical"
    full = api.get(f"/services/{service['id']}", params={"include[]": "integrations"}).json()["service"]
    assert full["integrations"][0]["integration_key"] == integration["integration_key"]
    assert api.delete(f"/services/{service['id']}").status_code == 204
    assert api.trigger("gone", routing_key=integration["integration_key"]).status_code == 400


def test_service_refusals_and_filters(module_sandbox, api):
    assert api.post("/services", json={"service": {"type": "service", "name": "No EP"}}).status_code == 400
    dup = {"type": "service", "name": "platform web",
           "escalation_policy": ref(module_sandbox.seed_ids["escalation_policies"][0], "escalation_policy_reference")}
    assert api.post("/services", json={"service": dup}).status_code == 400
    names = [s["name"] for s in api.get("/services", params={"sort_by": "name:desc"}).json()["services"]]
    assert names == ["Platform Web", "Checkout API"]
    assert [s["name"] for s in api.get("/services", params={"query": "CHECK"}).json()["services"]] == ["Checkout API"]


def test_escalation_policies(module_sandbox, api):
    ids = module_sandbox.seed_ids
    r = api.get(f"/escalation_policies/{ids['escalation_policies'][0]}").json()["escalation_policy"]
    assert [t["type"] for t in r["escalation_rules"][0]["targets"]] == ["schedule_reference"]
    assert [t["type"] for t in r["escalation_rules"][1]["targets"]] == ["user_reference"]
    assert r["services"][0]["id"] == ids["services"][0]
    sam = ids["responders"][0]   # on the schedule's rotation only
    found = api.get("/escalation_policies", params={"user_ids[]": sam}).json()["escalation_policies"]
    assert {e["id"] for e in found} == set(ids["escalation_policies"])
    bad_target = {"type": "escalation_policy", "name": "Bad", "escalation_rules": [
        {"escalation_delay_in_minutes": 5, "targets": [ref("PNOPE00", "user_reference")]}]}
    assert api.post("/escalation_policies", json={"escalation_policy": bad_target}).status_code == 400


@pytest.mark.no_conformance  # PagerDuty answers 400 for a policy in use; deleteEscalationPolicy lists no 400
def test_an_escalation_policy_in_use_is_not_deleted(module_sandbox, api):
    in_use = api.delete(f"/escalation_policies/{module_sandbox.seed_ids['escalation_policies'][0]}")
    assert in_use.status_code == 400


def test_schedule_rendering_overrides_and_users(module_sandbox, api):
    ids = module_sandbox.seed_ids
    users = [ids["users"]["observer"], ids["users"]["owner"]]
    start = datetime(2030, 1, 7, tzinfo=timezone.utc)   # a Monday
    body = {"schedule": {"type": "schedule", "name": "Weekdays", "time_zone": "Etc/UTC", "schedule_layers": [{
        "start": iso(start), "rotation_virtual_start": iso(start), "rotation_turn_length_seconds": 86400,
        "users": [{"user": ref(u, "user_reference")} for u in users],
        "restrictions": [{"type": "daily_restriction", "start_time_of_day": "09:00:00", "duration_seconds": 28800}]}]}}
    r = api.post("/schedules", json=body)
    assert r.status_code == 201
    schedule = r.json()["schedule"]["id"]
    r = api.post(f"/schedules/{schedule}/overrides", json={"overrides": [{
        "start": iso(start + timedelta(hours=10)), "end": iso(start + timedelta(hours=12)),
        "user": ref(ids["users"]["admin"], "user_reference")}]})
    assert r.status_code == 201 and r.json()[0]["status"] == 201
    window = {"since": iso(start), "until": iso(start + timedelta(days=2))}
    final = api.get(f"/schedules/{schedule}", params=window).json()["schedule"]["final_schedule"]
    entries = [(e["start"][11:16], e["end"][11:16], e["user"]["id"]) for e in final["rendered_schedule_entries"]]
    assert entries == [("09:00", "10:00", users[0]), ("10:00", "12:00", ids["users"]["admin"]),
                       ("12:00", "17:00", users[0]), ("09:00", "17:00", users[1])]
    assert final["rendered_coverage_percentage"] == round(100 * 16 / 48, 2)
    on_day_two = api.get(f"/schedules/{schedule}/users", params={
        "since": iso(start + timedelta(days=1)), "until": iso(start + timedelta(days=2))}).json()["users"]
    assert [u["id"] for u in on_day_two] == [users[1]]
    listed = api.get(f"/schedules/{schedule}/overrides", params=window).json()["overrides"]
    assert len(listed) == 1
    assert api.delete(f"/schedules/{schedule}/overrides/{listed[0]['id']}").status_code == 204
    assert api.delete(f"/schedules/{ids['schedules'][0]}").status_code == 400   # used by a policy


def test_oncalls_follow_the_rotation(module_sandbox, api):
    ids = module_sandbox.seed_ids
    day = datetime(2030, 3, 1, tzinfo=timezone.utc)
    params = {"since": iso(day), "until": iso(day + timedelta(days=3)),
              "escalation_policy_ids[]": ids["escalation_policies"][0]}
    oncalls = api.get("/oncalls", params=params).json()["oncalls"]
    level1 = [o for o in oncalls if o["escalation_level"] == 1]
    assert len(level1) == 3 and len({o["user"]["id"] for o in level1}) == 3
    assert all(o["schedule"]["id"] == ids["schedules"][0] for o in level1)
    permanent = [o for o in oncalls if o["escalation_level"] == 2]
    assert permanent[0]["user"]["id"] == ids["users"]["admin"] and permanent[0]["start"] is None
    earliest = api.get("/oncalls", params=dict(params, earliest="true")).json()["oncalls"]
    assert len(earliest) == 4
    only_sam = api.get("/oncalls", params=dict(params, **{"user_ids[]": ids["responders"][0]})).json()["oncalls"]
    assert {o["user"]["id"] for o in only_sam} == {ids["responders"][0]}
    by_schedule = api.get("/oncalls", params={"schedule_ids[]": ids["schedules"][0]}).json()["oncalls"]
    assert {o["escalation_policy"]["id"] for o in by_schedule} == set(ids["escalation_policies"])
    assert api.get("/oncalls", params={"since": iso(day), "until": iso(day + timedelta(days=91))}).status_code == 400


def test_priorities_and_abilities(module_sandbox, api):
    names = [p["name"] for p in api.get("/priorities").json()["priorities"]]
    assert names == ["P1", "P2", "P3", "P4", "P5"]
    abilities = api.get("/abilities").json()["abilities"]
    assert "coordinated_responding" in abilities
    assert api.get("/abilities/teams").status_code == 204
    assert api.get("/abilities/teleportation").status_code == 404
    module_sandbox.disable_ability("teams")
    r = api.get("/abilities/teams")
    assert r.status_code == 402 and error_code(r) == 2014
    assert "teams" not in api.get("/abilities").json()["abilities"]


def test_extensions(module_sandbox, api):
    ids = module_sandbox.seed_ids
    assert len(api.get("/extension_schemas").json()["extension_schemas"]) == 2
    body = {"extension": {"name": "Hook", "endpoint_url": "https://hooks.example.com/x",
                          "extension_schema": ref(ids["extension_schemas"][0], "extension_schema_reference"),
                          "extension_objects": [ref(ids["services"][1], "service_reference")]}}
    r = api.post("/extensions", json=body)
    assert r.status_code == 201
    ext = r.json()["extension"]["id"]
    listed = api.get("/extensions", params={"extension_object_id": ids["services"][1]}).json()["extensions"]
    assert [e["id"] for e in listed] == [ext]
    assert api.put(f"/extensions/{ext}", json={"extension": {"name": "Renamed"}}).json()["extension"]["name"] == \
        "Renamed"
    assert api.post(f"/extensions/{ext}/enable").json()["extension"]["temporarily_disabled"] is False
    assert api.post("/extensions", json={"extension": {"name": "x"}}).status_code == 400
    assert api.delete(f"/extensions/{ext}").status_code == 204


def test_maintenance_windows(module_sandbox, api):
    service = module_sandbox.seed_ids["services"][0]
    now = datetime.now(timezone.utc)
    body = {"maintenance_window": {"type": "maintenance_window", "description": "Patch night",
                                   "start_time": iso(now + timedelta(days=1)), "end_time": iso(now + timedelta(days=2)),
                                   "services": [ref(service, "service_reference")]}}
    r = api.post("/maintenance_windows", json=body)
    assert r.status_code == 201
    mw = r.json()["maintenance_window"]
    assert mw["created_by"]["id"] == module_sandbox.seed_ids["users"]["admin"]
    future = api.get("/maintenance_windows", params={"filter": "future"}).json()["maintenance_windows"]
    assert mw["id"] in {m["id"] for m in future}
    assert api.get("/maintenance_windows", params={"filter": "ongoing"}).json()["maintenance_windows"] == []
    backwards = dict(body["maintenance_window"], end_time=iso(now))
    assert api.post("/maintenance_windows", json={"maintenance_window": backwards}).status_code == 400
    assert api.delete(f"/maintenance_windows/{mw['id']}").status_code == 204
