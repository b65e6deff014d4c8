"""Incidents over REST: creation rules, the status machine, reassignment, snooze, merge, notes, lists."""
import pytest

from sandbox_fixtures import error_code, ref


# Creating --------------------------------------------------------------------------------------
def test_create_with_everything(module_sandbox, api):
    ids = module_sandbox.seed_ids
    incident = api.create_incident(
        "DB down", urgency="low", incident_key="db-1", priority=ref(ids["priorities"]["P1"], "priority_reference"),
        body={"type": "incident_body", "details": {"host": "db-1"}},
        conference_bridge={"conference_number": "+1-555-0100", "conference_url": "https://meet.example.com/db"})
    assert incident["type"] == "incident" and incident["status"] == "triggered"
    assert incident["urgency"] == "low" and incident["incident_key"] == "db-1"
    assert incident["priority"]["name"] == "P1"
    assert incident["body"] == {"type": "incident_body", "details": {"host": "db-1"}}
    assert incident["conference_bridge"]["conference_url"] == "https://meet.example.com/db"
    assert incident["created_at"].endswith("Z") and incident["assigned_via"] == "escalation_policy"
    assert incident["escalation_policy"]["id"] == ids["escalation_policies"][0]
    # level 1 of the policy targets the schedule: the assignee is whoever is on call now
    oncall = api.get("/oncalls", params={"schedule_ids[]": ids["schedules"][0]}).json()["oncalls"][0]["user"]
    assert [a["assignee"]["id"] for a in incident["assignments"]] == [oncall["id"]]
    assert api.get(f"/incidents/{incident['id']}").json()["incident"]["title"] == "DB down"


def test_details_may_be_a_string(api):
    incident = api.create_incident("s", body={"type": "incident_body", "details": "plain words"})
    assert incident["body"]["details"] == "plain words"


def test_incident_numbers_increase_and_name_the_incident_too(api):
    a, b = api.create_incident("a"), api.create_incident("b")
    assert b["incident_number"] == a["incident_number"] + 1
    assert api.get(f"/incidents/{b['incident_number']}").json()["incident"]["id"] == b["id"]


def test_incident_key_unique_among_open_incidents_of_a_service(module_sandbox, api):
    first = api.create_incident("a", incident_key="same")
    body = {"incident": {"type": "incident", "title": "b", "incident_key": "same",
                         "service": ref(module_sandbox.seed_ids["services"][0], "service_reference")}}
    assert api.post("/incidents", json=body).status_code == 400
    other_service = dict(body["incident"], service=ref(module_sandbox.seed_ids["services"][1], "service_reference"))
    assert api.post("/incidents", json={"incident": other_service}).status_code == 201
    api.update_incident(first["id"], status="resolved")
    assert api.post("/incidents", json=body).status_code == 201


@pytest.mark.parametrize("change,code", [
    (lambda i: i.pop("title"), 2001),
    (lambda i: i.pop("type"), 2001),
    (lambda i: i.update(service={"id": "PNOPE00", "type": "service_reference"}), 2001),
    (lambda i: i.update(urgency="medium"), 2001),
    (lambda i: i.update(priority={"id": "PNOPE00", "type": "priority_reference"}), 2001),
    (lambda i: i.update(escalation_policy={"id": "PNOPE00", "type": "escalation_policy_reference"}), 1014),
    (lambda i: i.update(body={"type": "incident_body", "details": 5}), 2001),
])
def test_create_refusals(module_sandbox, api, change, code):
    incident = {"type": "incident", "title": "t", "service": ref(module_sandbox.seed_ids["services"][0], "service_reference")}
    change(incident)
    r = api.post("/incidents", json={"incident": incident})
    assert r.status_code == 400 and error_code(r) == code, r.text


def test_assignments_or_escalation_policy_not_both(module_sandbox, api):
    ids = module_sandbox.seed_ids
    both = {"escalation_policy": ref(ids["escalation_policies"][1], "escalation_policy_reference"),
            "assignments": [{"assignee": ref(ids["users"]["owner"], "user_reference")}]}
    incident = {"type": "incident", "title": "t", "service": ref(ids["services"][0], "service_reference"), **both}
    assert api.post("/incidents", json={"incident": incident}).status_code == 400
    direct = api.create_incident("d", assignments=both["assignments"])
    assert direct["assigned_via"] == "direct_assignment"
    assert [a["assignee"]["id"] for a in direct["assignments"]] == [ids["users"]["owner"]]
    via_ep = api.create_incident("e", escalation_policy=both["escalation_policy"])
    assert via_ep["escalation_policy"]["id"] == ids["escalation_policies"][1]


# The status machine -----------------------------------------------------------------------------
@pytest.mark.no_conformance  # PagerDuty answers 400 here, though updateIncident does not list it
def test_status_machine_and_documented_errors(api):
    incident = api.create_incident("m")["id"]
    assert api.update_incident(incident, status="acknowledged").json()["incident"]["status"] == "acknowledged"
    again = api.update_incident(incident, status="acknowledged")
    assert again.status_code == 400 and error_code(again) == 1002
    bad = api.update_incident(incident, status="sleeping")
    assert bad.status_code == 400 and error_code(bad) == 1003
    r = api.update_incident(incident, status="resolved", resolution="Rebooted the host")
    assert r.json()["incident"]["status"] == "resolved" and r.json()["incident"]["resolved_at"].endswith("Z")
    again = api.update_incident(incident, status="resolved")
    assert again.status_code == 400 and error_code(again) == 1001
    entries = api.get(f"/incidents/{incident}/log_entries").json()["log_entries"]
    assert entries[0]["type"] == "resolve_log_entry" and entries[0]["note"] == "Rebooted the host"
    assert entries[0]["agent"]["id"] == api.sandbox.seed_ids["users"]["admin"]


def test_unacknowledge_by_setting_triggered(api):
    incident = api.create_incident("u")["id"]
    api.update_incident(incident, status="acknowledged")
    r = api.update_incident(incident, status="triggered")
    assert r.json()["incident"]["status"] == "triggered" and r.json()["incident"]["acknowledgements"] == []


@pytest.mark.parametrize("status", ["triggered", "acknowledged"])
def test_reopen_a_resolved_incident(api, status):
    incident = api.create_incident("r")["id"]
    api.update_incident(incident, status="resolved")
    r = api.update_incident(incident, status=status)
    assert r.status_code == 200
    body = r.json()["incident"]
    assert body["status"] == status and body["resolved_at"] is None
    if status == "acknowledged":   # reopened to acknowledged: assigned to the acting user
        assert [a["assignee"]["id"] for a in body["assignments"]] == [api.sandbox.seed_ids["users"]["admin"]]


@pytest.mark.no_conformance  # PagerDuty answers 400 here, though updateIncident does not list it
def test_request_must_name_the_incident_type(api):
    incident = api.create_incident("t")["id"]
    r = api.put(f"/incidents/{incident}", json={"incident": {"status": "acknowledged"}})
    assert r.status_code == 400


def test_reassign_and_escalate(module_sandbox, api):
    ids = module_sandbox.seed_ids
    incident = api.create_incident("e")["id"]
    api.update_incident(incident, status="acknowledged")
    r = api.update_incident(incident, escalation_level=2)
    body = r.json()["incident"]
    assert body["status"] == "triggered"   # escalating re-triggers an acknowledged incident
    assert [a["assignee"]["id"] for a in body["assignments"]] == [ids["users"]["admin"]]
    r = api.update_incident(incident, escalation_policy=ref(ids["escalation_policies"][1],
                                                           "escalation_policy_reference"))
    assert r.json()["incident"]["escalation_policy"]["id"] == ids["escalation_policies"][1]
    assert [a["assignee"]["id"] for a in r.json()["incident"]["assignments"]] == [ids["responders"][1]]
    r = api.update_incident(incident, assignments=[{"assignee": ref(ids["users"]["owner"], "user_reference")}])
    assert r.json()["incident"]["assigned_via"] == "direct_assignment"
    types = [e["type"] for e in api.get(f"/incidents/{incident}/log_entries").json()["log_entries"]]
    assert types[:3] == ["assign_log_entry", "assign_log_entry", "escalate_log_entry"]


@pytest.mark.no_conformance  # PagerDuty answers 400 here, though updateIncident does not list it
def test_a_refused_update_changes_nothing(api):
    incident = api.create_incident("keep me")["id"]
    r = api.update_incident(incident, title="changed", escalation_level=3)   # the policy has 2 levels
    assert r.status_code == 400 and error_code(r) == 1006
    assert api.get(f"/incidents/{incident}").json()["incident"]["title"] == "keep me"


def test_move_to_another_service(module_sandbox, api):
    incident = api.create_incident("mover", incident_key="k-move")["id"]
    other = module_sandbox.seed_ids["services"][1]
    r = api.update_incident(incident, service=ref(other, "service_reference"))
    assert r.json()["incident"]["service"]["id"] == other
    api.create_incident("same key, first service", incident_key="k-move")   # the key is free there now


def test_update_title_priority_urgency(module_sandbox, api):
    incident = api.create_incident("old")["id"]
    r = api.update_incident(incident, title="new", priority="P4", urgency="low")
    body = r.json()["incident"]
    assert (body["title"], body["priority"]["name"], body["urgency"]) == ("new", "P4", "low")


@pytest.mark.no_conformance  # PagerDuty answers 400 here, though updateIncident does not list it
def test_priority_null_is_refused(module_sandbox, api):
    # the contract takes a priority reference or name, and offers no null to clear one
    p2 = ref(module_sandbox.seed_ids["priorities"]["P2"], "priority_reference")
    incident = api.create_incident("p", priority=p2)["id"]
    r = api.update_incident(incident, priority=None)
    assert r.status_code == 400 and error_code(r) == 2001
    assert api.get(f"/incidents/{incident}").json()["incident"]["priority"]["name"] == "P2"


# Snooze, merge -----------------------------------------------------------------------------------
def test_snooze(api):
    incident = api.create_incident("z")["id"]
    r = api.post(f"/incidents/{incident}/snooze", json={"duration": 60})
    assert r.status_code == 400 and error_code(r) == 1012   # only acknowledged incidents snooze
    api.update_incident(incident, status="acknowledged")
    for duration in (0, 604801, "60"):
        r = api.post(f"/incidents/{incident}/snooze", json={"duration": duration})
        assert r.status_code == 400 and error_code(r) == 1013
    r = api.post(f"/incidents/{incident}/snooze", json={"duration": 3600})
    assert r.status_code == 201
    assert r.json()["incident"]["pending_actions"][0]["type"] == "unacknowledge"


def test_snooze_expiry_returns_to_triggered(module_sandbox, api):
    incident = api.create_incident("z")["id"]
    api.update_incident(incident, status="acknowledged")
    api.post(f"/incidents/{incident}/snooze", json={"duration": 1})
    with module_sandbox.store.lock:   # let the snooze end without waiting
        module_sandbox.store.incidents[incident]["snoozed_until"] -= 5
    assert api.get(f"/incidents/{incident}").json()["incident"]["status"] == "triggered"


def test_merge(module_sandbox, api):
    target = api.create_incident("target")["id"]
    api.trigger("source alert", dedup_key="merge-me")
    source = api.get("/incidents", params={"incident_key": "merge-me"}).json()["incidents"][0]["id"]
    r = api.put(f"/incidents/{target}/merge", json={"source_incidents": [ref(source, "incident_reference")]})
    assert r.status_code == 200 and r.json()["incident"]["id"] == target
    merged = api.get(f"/incidents/{source}").json()["incident"]
    assert merged["status"] == "resolved" and merged["resolve_reason"]["incident"]["id"] == target
    assert api.get(f"/incidents/{target}/alerts").json()["alerts"][0]["alert_key"] == "merge-me"
    again = api.put(f"/incidents/{target}/merge", json={"source_incidents": [ref(source, "incident_reference")]})
    assert again.status_code == 400 and error_code(again) == 1019
    itself = api.put(f"/incidents/{target}/merge", json={"source_incidents": [ref(target, "incident_reference")]})
    assert itself.status_code == 400


# Notes, status updates, responder requests ---------------------------------------------------------
def test_notes(module_sandbox, api):
    incident = api.create_incident("n")["id"]
    r = api.post(f"/incidents/{incident}/notes", json={"note": {"content": "first"}})
    assert r.status_code == 200
    note = r.json()["note"]
    assert note["user"]["id"] == module_sandbox.seed_ids["users"]["admin"] and note["content"] == "first"
    r = api.put(f"/incidents/{incident}/notes/{note['id']}", json={"note": {"content": "edited"}})
    assert r.json()["note"]["content"] == "edited"
    assert set(api.get(f"/incidents/{incident}/notes").json()) == {"notes"}   # not paginated
    assert api.post(f"/incidents/{incident}/notes", json={"note": {"content": " "}}).status_code == 400
    with module_sandbox.store.lock:
        inc = module_sandbox.store.incidents[incident]
        inc["notes"].extend(dict(inc["notes"][0]) for _ in range(1999))
    assert api.post(f"/incidents/{incident}/notes", json={"note": {"content": "2001st"}}).status_code == 400


def test_status_updates(api):
    incident = api.create_incident("s")["id"]
    r = api.post(f"/incidents/{incident}/status_updates", json={"message": "Investigating"})
    assert r.status_code == 200 and r.json()["status_update"]["message"] == "Investigating"
    assert api.post(f"/incidents/{incident}/status_updates", json={}).status_code == 400


@pytest.mark.parametrize("wrapped", [False, True])
def test_responder_requests_accept_both_target_shapes(module_sandbox, api, wrapped):
    ids = module_sandbox.seed_ids
    incident = api.create_incident("help")["id"]
    targets = [ref(ids["users"]["owner"], "user_reference"),
               ref(ids["escalation_policies"][1], "escalation_policy_reference")]
    if wrapped:
        targets = [{"responder_request_target": t} for t in targets]
    r = api.post(f"/incidents/{incident}/responder_requests",
                 json={"requester_id": ids["users"]["admin"], "message": "join", "responder_request_targets": targets})
    assert r.status_code == 200, r.text
    request = r.json()["responder_request"]
    assert request["requester"]["id"] == ids["users"]["admin"]
    assert {t["responder_request_target"]["id"] for t in request["responder_request_targets"]} == \
        {ids["users"]["owner"], ids["escalation_policies"][1]}
    responders = api.get(f"/incidents/{incident}").json()["incident"]["incidents_responders"]
    assert {x["user"]["id"] for x in responders} == {ids["users"]["owner"], ids["responders"][1]}


@pytest.mark.no_conformance  # the 402 without the ability is PagerDuty's (README); the operation does not list it
def test_responder_request_refusals(module_sandbox, api):
    ids = module_sandbox.seed_ids
    incident = api.create_incident("help")["id"]
    target = [ref(ids["users"]["owner"], "user_reference")]
    r = api.post(f"/incidents/{incident}/responder_requests", json={"message": "m", "responder_request_targets": target})
    assert r.status_code == 400 and error_code(r) == 2011
    r = api.post(f"/incidents/{incident}/responder_requests",
                 json={"requester_id": "PNOPE00", "message": "m", "responder_request_targets": target})
    assert r.status_code == 400 and error_code(r) == 1008
    import requests
    hook = requests.post(module_sandbox.info["api_url"] + "/_sandbox/abilities", json={"disable": ["coordinated_responding"]})
    assert hook.json()["abilities"]["coordinated_responding"] is False
    r = api.post(f"/incidents/{incident}/responder_requests",
                 json={"requester_id": ids["users"]["admin"], "message": "m", "responder_request_targets": target})
    assert r.status_code == 402 and error_code(r) == 2014
    assert api.get("/abilities/coordinated_responding").status_code == 402


# Alerts and log entries -----------------------------------------------------------------------------
def test_resolving_the_last_alert_resolves_the_incident(module_sandbox, api):
    api.trigger("a", dedup_key="al")
    incident = api.get("/incidents", params={"incident_key": "al"}).json()["incidents"][0]["id"]
    alert = api.get(f"/incidents/{incident}/alerts").json()["alerts"][0]["id"]
    r = api.put(f"/incidents/{incident}/alerts/{alert}", json={"alert": {"type": "alert", "status": "resolved"}})
    assert r.status_code == 200 and r.json()["alert"]["status"] == "resolved"
    assert api.get(f"/incidents/{incident}").json()["incident"]["status"] == "resolved"


def test_log_entries_everywhere(module_sandbox, api):
    incident = api.create_incident("l")["id"]
    owner = ref(module_sandbox.seed_ids["users"]["owner"], "user_reference")
    changes = [
        lambda: api.update_incident(incident, status="acknowledged"),
        lambda: api.post(f"/incidents/{incident}/notes", json={"note": {"content": "n"}}),
        lambda: api.post(f"/incidents/{incident}/snooze", json={"duration": 600}),
        lambda: api.update_incident(incident, urgency="low"),
        lambda: api.update_incident(incident, assignments=[{"assignee": owner}]),
        lambda: api.update_incident(incident, escalation_level=2),
    ]
    for change in changes:
        assert change().status_code < 300
    own = api.get(f"/incidents/{incident}/log_entries").json()
    assert [e["type"] for e in own["log_entries"]] == [
        "escalate_log_entry", "assign_log_entry", "urgency_change_log_entry", "snooze_log_entry",
        "annotate_log_entry", "acknowledge_log_entry", "assign_log_entry", "trigger_log_entry"]
    assert own["log_entries"][2]["agent"]["id"] == module_sandbox.seed_ids["users"]["admin"]
    assert all(e["incident"]["id"] == incident for e in own["log_entries"])
    everything = api.get("/log_entries", params={"limit": 3}).json()
    assert [e["id"] for e in everything["log_entries"]] == [e["id"] for e in own["log_entries"][:3]]
    one = api.get(f"/log_entries/{own['log_entries'][3]['id']}").json()["log_entry"]
    assert one["type"] == "snooze_log_entry" and one["channel"]["duration"] == 600


# Bulk and lists ------------------------------------------------------------------------------------
def test_bulk_update(module_sandbox, api):
    ids = [api.create_incident(f"b{i}")["id"] for i in range(3)]
    r = api.put("/incidents", json={"incidents": [{"id": i, "type": "incident_reference", "status": "resolved"}
                                                  for i in ids]})
    assert r.status_code == 200 and [i["status"] for i in r.json()["incidents"]] == ["resolved"] * 3
    # all or nothing: one refusal changes none
    fresh = api.create_incident("f")["id"]
    r = api.put("/incidents", json={"incidents": [
        {"id": fresh, "type": "incident_reference", "status": "acknowledged"},
        {"id": ids[0], "type": "incident_reference", "status": "resolved"}]})
    assert r.status_code == 400 and error_code(r) == 1001
    assert api.get(f"/incidents/{fresh}").json()["incident"]["status"] == "triggered"
    too_many = [{"id": fresh, "type": "incident_reference", "status": "acknowledged"}] * 251
    assert api.put("/incidents", json={"incidents": too_many}).status_code == 413


def test_list_filters(module_sandbox, api):
    seed = module_sandbox.seed_ids
    get = lambda **p: api.get("/incidents", params=p).json()["incidents"]  # noqa: E731
    assert {i["status"] for i in get(**{"statuses[]": ["triggered", "acknowledged"]})} == {"triggered", "acknowledged"}
    assert len(get(**{"statuses[]": "resolved"})) == 2
    assert {i["service"]["id"] for i in get(**{"service_ids[]": seed["services"][1]})} == {seed["services"][1]}
    assert {i["urgency"] for i in get(**{"urgencies[]": "low"})} == {"low"}
    assert len(get(**{"team_ids[]": seed["teams"][0]})) == 3
    nia = seed["responders"][1]
    assert all(any(a["assignee"]["id"] == nia for a in i["assignments"]) for i in get(**{"user_ids[]": nia}))
    assert get(incident_key="web-1/errors")[0]["title"] == "High error rate on web-1"
    numbers = [i["incident_number"] for i in get(sort_by="incident_number:desc")]
    assert numbers == sorted(numbers, reverse=True)
    created = [i["created_at"] for i in get(sort_by="created_at:asc")]
    assert created == sorted(created)
    assert api.get("/incidents", params={"sort_by": "color"}).status_code == 400
    assert api.get("/incidents", params={"statuses[]": "asleep"}).status_code == 400


def test_the_default_window_is_the_last_month(module_sandbox, api):
    incident = api.create_incident("old news")["id"]

    def listed(**params):
        return {i["id"] for i in api.get("/incidents", params={"limit": 100, **params}).json()["incidents"]}

    assert incident in listed()
    with module_sandbox.store.lock:   # created 32 days ago
        module_sandbox.store.incidents[incident]["created"] -= 32 * 86400
    assert incident not in listed()
    assert incident in listed(date_range="all")
    created = api.get(f"/incidents/{incident}").json()["incident"]["created_at"]
    assert incident in listed(since=created)


def test_since_and_until_at_most_six_months_apart(api):
    six = {"since": "2020-01-01T00:00:00Z", "until": "2020-07-01T00:00:00Z"}
    assert api.get("/incidents", params=six).status_code == 200
    more = dict(six, until="2020-07-01T00:00:01Z")
    r = api.get("/incidents", params=more)
    assert r.status_code == 400 and error_code(r) == 2001 and "6 months" in r.json()["error"]["errors"][0]


def test_date_window(api):
    assert len(api.get("/incidents").json()["incidents"]) == 6
    old = {"since": "2020-01-01T00:00:00Z", "until": "2020-02-01T00:00:00Z"}
    assert api.get("/incidents", params=old).json()["incidents"] == []
    wide = {"since": "2020-01-01T00:00:00Z", "until": "2020-08-01T00:00:00Z"}
    assert api.get("/incidents", params=wide).status_code == 400   # more than 6 months
    assert api.get("/incidents", params=dict(wide, date_range="all")).status_code == 200
    assert api.get("/incidents", params={"since": "not a date"}).status_code == 400


def test_pagination(module_sandbox, api):
    module_sandbox.seed_incidents(120)
    page = api.get("/incidents", params={"limit": 50, "offset": 100}).json()
    assert (page["limit"], page["offset"], page["more"], page["total"]) == (50, 100, False, None)
    assert len(page["incidents"]) == 26
    first = api.get("/incidents").json()
    assert first["limit"] == 25 and first["more"] is True
    assert api.get("/incidents", params={"limit": 500}).json()["limit"] == 100
    assert api.get("/incidents", params={"total": "true"}).json()["total"] == 126
    assert api.get("/incidents", params={"offset": 9950, "limit": 100}).status_code == 400
    assert api.get("/incidents", params={"offset": 9900, "limit": 100}).status_code == 200
    assert api.get("/incidents", params={"limit": 0}).status_code == 400
