"""Notes, status updates, responder requests, log entries, alerts and on-call against the
sandbox: exact requests, PagerDuty's refusals, bad inputs that send nothing."""

import pytest

from incident_support import api, first, open_incident, request_line, set_status, since


# --- notes -------------------------------------------------------------------------------------


def test_add_note_then_list_notes(act, sandbox, journal):
    incident = open_incident(sandbox)
    user = api(sandbox, "GET", "/users")["users"][1]
    mark = len(journal())
    added = act("add_note", incident_id=incident["id"], note="Rolled back", from_email=user["email"])
    assert added.code == 0, added.stdout
    (post,) = since(journal, mark)
    assert (post["method"], post["path"]) == ("POST", f"/incidents/{incident['id']}/notes")
    assert post["json"] == {"note": {"content": "Rolled back"}}
    assert post["headers"]["From"] == user["email"]
    assert added.output["note"]["content"] == "Rolled back"
    assert added.output["note"]["user"]["id"] == user["id"]
    listed = act("list_notes", incident_id=incident["id"])
    assert request_line(journal()[-1]) == ("GET", f"/incidents/{incident['id']}/notes", {})
    assert listed.output["count"] == 1
    assert listed.output["notes"][0]["id"] == added.output["note"]["id"]


def test_list_notes_max_results_cuts_on_our_side(act, sandbox, journal):
    incident = open_incident(sandbox)
    for n in range(3):
        api(sandbox, "POST", f"/incidents/{incident['id']}/notes", {"note": {"content": f"n{n}"}})
    mark = len(journal())
    cut = act("list_notes", incident_id=incident["id"], max_results=2).output
    assert [n["content"] for n in cut["notes"]] == ["n0", "n1"] and cut["count"] == 2 and cut["truncated"] is True
    everything = act("list_notes", incident_id=incident["id"]).output  # no max_results: every note
    assert everything["count"] == 3 and everything["truncated"] is False
    # PagerDuty does not paginate notes: no limit/offset is sent
    assert [request_line(e)[2] for e in since(journal, mark)] == [{}, {}]


def test_add_note_needs_a_from_address(refuse, module_connection):
    settings = {k: v for k, v in module_connection.items() if k != "from_email"}
    assert "needs a From address" in refuse("add_note", _connection=settings, incident_id="PABC123", note="x")["cause"]


def test_add_note_to_a_missing_incident(act):
    result = act("add_note", incident_id="PNOPE00", note="x")
    assert result.code == 1
    assert result.error["cause"].startswith("Incident PNOPE00 was not found (HTTP 404)")


def test_add_note_with_a_read_only_key(act, sandbox, connection):
    incident = open_incident(sandbox)
    settings = dict(connection, api_key={"secretKey": sandbox.readonly_api_key})
    result = act("add_note", _connection=settings, incident_id=incident["id"], note="x")
    assert result.code == 1
    assert result.error["cause"].startswith("The API key is read-only")
    assert result.error["data"]["status"] == 403


# --- status updates ------------------------------------------------------------------------------


def test_create_status_update(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    result = act("create_status_update", incident_id=incident["id"], message="Back to normal",
                 subject="Resolved", html_message="<p>Back to normal</p>")
    assert result.code == 0, result.stdout
    (post,) = since(journal, mark)
    assert (post["method"], post["path"]) == ("POST", f"/incidents/{incident['id']}/status_updates")
    assert post["json"] == {"message": "Back to normal", "subject": "Resolved",
                            "html_message": "<p>Back to normal</p>"}
    assert post["headers"]["From"] == sandbox.info["from_email"]
    assert result.output["status_update"]["message"] == "Back to normal"


def test_status_update_subject_without_html_sends_nothing(refuse):
    assert "go together" in refuse("create_status_update", incident_id="PABC123", message="x", subject="y")["cause"]


# --- responders ----------------------------------------------------------------------------------


def test_add_responders_with_the_from_user_as_requester(act, sandbox, journal):
    incident = open_incident(sandbox)
    users = api(sandbox, "GET", "/users")["users"]
    policy = first(sandbox, "escalation_policies")
    me = next(u for u in users if u["email"] == sandbox.info["from_email"])
    other = next(u for u in users if u["id"] != me["id"])
    mark = len(journal())
    result = act("add_responders", incident_id=incident["id"], users=[other["email"]],
                 escalation_policies=[policy["name"]], message="Please join the bridge")
    assert result.code == 0, result.stdout
    sent = since(journal, mark)
    assert [(e["method"], e["path"], e["query"].get("query")) for e in sent] == [
        ("GET", "/users", [other["email"]]), ("GET", "/escalation_policies", [policy["name"]]),
        ("GET", "/users", [me["email"]]), ("POST", f"/incidents/{incident['id']}/responder_requests", None)]
    assert sent[-1]["json"] == {
        "requester_id": me["id"], "message": "Please join the bridge",
        "responder_request_targets": [
            {"responder_request_target": {"id": other["id"], "type": "user_reference"}},
            {"responder_request_target": {"id": policy["id"], "type": "escalation_policy_reference"}}]}
    request = result.output["responder_request"]
    assert request["requester"]["id"] == me["id"] and request["message"] == "Please join the bridge"


def test_add_responders_with_a_requester_id_needs_no_lookup(act, sandbox, journal):
    incident = open_incident(sandbox)
    users = api(sandbox, "GET", "/users")["users"]
    mark = len(journal())
    result = act("add_responders", incident_id=incident["id"], users=[users[1]["id"]], requester=users[0]["id"],
                 message="help")
    assert result.code == 0, result.stdout
    (post,) = since(journal, mark)
    assert post["json"]["requester_id"] == users[0]["id"]


@pytest.mark.parametrize("values, words", [
    ({}, "Give at least one of 'users' or 'escalation_policies'"),
    ({"users": ["../users"]}, "not a valid PagerDuty user id"),
    ({"users": ["PUSR001"], "requester": "P1?x=y"}, "not a valid PagerDuty user id"),
])
def test_add_responders_bad_inputs_send_nothing(refuse, values, words):
    assert words in refuse("add_responders", incident_id="PABC123", message="help", **values)["cause"]


def test_add_responders_without_requester_or_from(refuse, module_connection):
    settings = {k: v for k, v in module_connection.items() if k != "from_email"}
    error = refuse("add_responders", _connection=settings, incident_id="PABC123", users=["PUSR001"], message="m")
    assert error["cause"] == "Choosing the requester needs a From address and none was given"


@pytest.mark.no_conformance  # the operation does not list 402, which PagerDuty answers without the ability
def test_add_responders_without_the_ability_is_a_clear_402(act, sandbox):
    incident = open_incident(sandbox)
    user = api(sandbox, "GET", "/users")["users"][1]
    sandbox.disable_ability("coordinated_responding")
    result = act("add_responders", incident_id=incident["id"], users=[user["id"]], message="help")
    assert result.code == 1
    assert result.error["cause"].startswith("The PagerDuty account lacks the ability this needs (HTTP 402)")
    assert result.error["data"]["status"] == 402 and result.error["data"]["code"] == 2014


# --- log entries and alerts ----------------------------------------------------------------------


def test_list_log_entries_is_the_incident_timeline(act, sandbox, journal):
    incident = open_incident(sandbox)
    set_status(sandbox, incident["id"], "acknowledged")
    set_status(sandbox, incident["id"], "resolved")
    mark = len(journal())
    result = act("list_log_entries", incident_id=incident["id"], is_overview=True)
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", f"/incidents/{incident['id']}/log_entries",
                                  {"is_overview": ["true"], "limit": ["100"], "offset": ["0"]})
    types = [e["type"] for e in result.output["log_entries"]]
    assert {"trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry"} <= set(types)
    assert result.output["count"] == len(types) and result.output["truncated"] is False
    assert all(e["incident"]["id"] == incident["id"] for e in result.output["log_entries"])


def test_list_alerts_of_an_event_made_incident(act, sandbox, journal):
    act("send_trigger_event", description="Disk full", incident_key="disk/db-01")
    incident = api(sandbox, "GET", "/incidents", incident_key="disk/db-01", date_range="all")["incidents"][0]
    mark = len(journal())
    result = act("list_alerts", incident_id=incident["id"], statuses=["triggered"], max_results=5)
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", f"/incidents/{incident['id']}/alerts",
                                  {"statuses[]": ["triggered"], "limit": ["5"], "offset": ["0"]})
    (alert,) = result.output["alerts"]
    assert alert["alert_key"] == "disk/db-01" and alert["status"] == "triggered"
    assert result.output == {"alerts": [alert], "count": 1, "truncated": False}


def test_list_alerts_bad_status_sends_nothing(refuse):
    assert "statuses" in refuse("list_alerts", incident_id="PABC123", statuses=["acknowledged"])["cause"]


# --- get_on_call ---------------------------------------------------------------------------------


def test_get_on_call_answers_who_is_on_call_now(act, sandbox, journal):
    schedule = first(sandbox, "schedules")
    mark = len(journal())
    result = act("get_on_call", schedule_id=schedule["id"])
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", "/oncalls", {"schedule_ids[]": [schedule["id"]], "include[]": ["users"],
                                                      "limit": ["100"], "offset": ["0"]})
    oncalls = result.output["oncalls"]
    assert oncalls and all(o["schedule"]["id"] == schedule["id"] for o in oncalls)
    assert all(o["escalation_level"] >= 1 and o["user"]["id"] for o in oncalls)
    # on call now: fewer users than the schedule's rotation holds (one per layer at a time)
    members = {u["id"] for layer in api(sandbox, "GET", f"/schedules/{schedule['id']}")["schedule"]
               ["schedule_layers"] for u in (x["user"] for x in layer["users"])}
    on_call = {u["id"] for u in result.output["users"]}
    assert on_call < members or len(members) == 1
    assert result.output["count"] == len(oncalls)


@pytest.mark.full_answers
def test_get_on_call_names_the_users_with_their_email(act, sandbox):
    schedule = first(sandbox, "schedules")
    result = act("get_on_call", schedule_id=schedule["id"])
    users = result.output["users"]
    assert users and all(u["name"] and "@" in u["email"] for u in users)
    for entry in result.output["oncalls"]:  # each entry keeps its level, schedule and shift
        assert entry["user"]["email"] and entry["escalation_level"] >= 1 and "start" in entry and "end" in entry
    directory = {u["id"]: u["email"] for u in api(sandbox, "GET", "/users", limit=100)["users"]}
    assert all(directory[u["id"]] == u["email"] for u in users)


def test_get_on_call_for_an_escalation_policy_and_a_window(act, sandbox, journal):
    policy = first(sandbox, "escalation_policies")
    mark = len(journal())
    result = act("get_on_call", escalation_policy_id=policy["id"], since="2030-01-01T00:00:00Z",
                 until="2030-01-02T00:00:00Z")
    assert result.code == 0, result.stdout
    assert request_line(since(journal, mark)[0]) == ("GET", "/oncalls", {
        "escalation_policy_ids[]": [policy["id"]], "since": ["2030-01-01T00:00:00Z"],
        "until": ["2030-01-02T00:00:00Z"], "include[]": ["users"], "limit": ["100"], "offset": ["0"]})
    assert all(o["escalation_policy"]["id"] == policy["id"] for o in result.output["oncalls"])
    assert len({u["id"] for u in result.output["users"]}) == len(result.output["users"])


@pytest.mark.parametrize("field, collection, filter_key", [
    ("escalation_policy_id", "escalation_policies", "escalation_policy_ids[]"),
    ("schedule_id", "schedules", "schedule_ids[]"),
])
def test_get_on_call_takes_a_name_resolved_with_one_lookup(act, sandbox, journal, field, collection, filter_key):
    target = first(sandbox, collection)
    mark = len(journal())
    result = act("get_on_call", **{field: target["name"].upper()})
    assert result.code == 0, result.stdout
    lookup, oncalls = since(journal, mark)[:2]
    assert request_line(lookup)[:2] == ("GET", f"/{collection}") and lookup["query"]["query"] == [target["name"].upper()]
    assert oncalls["query"][filter_key] == [target["id"]]


def test_get_on_call_for_a_name_that_matches_nothing_sends_no_oncalls_request(act, journal):
    result = act("get_on_call", escalation_policy_id="No Such Policy")
    assert result.code == 1 and result.error["cause"] == "No escalation policy is named 'No Such Policy'"
    assert [request_line(r)[1] for r in journal()] == ["/escalation_policies"]


@pytest.mark.parametrize("action", ["list_log_entries", "get_on_call"])
def test_dates_are_sent_as_rfc_3339(act, sandbox, journal, action):
    values = ({"incident_id": open_incident(sandbox)["id"]} if action == "list_log_entries"
              else {"escalation_policy_id": sandbox.seed_ids["escalation_policies"][0]})
    mark = len(journal())
    result = act(action, since="2030-01-01T00:00:00+0000", until="2030-01-02T02:30:00+0230", **values)
    assert result.code == 0, result.stdout
    query = since(journal, mark)[0]["query"]
    assert (query["since"], query["until"]) == (["2030-01-01T00:00:00Z"], ["2030-01-02T02:30:00+02:30"])


@pytest.mark.parametrize("field, path, subject", [
    ("schedule_id", "/schedules/PNOPE00", "Schedule PNOPE00"),
    ("escalation_policy_id", "/escalation_policies/PNOPE00", "Escalation policy PNOPE00"),
])
def test_get_on_call_for_an_unknown_id_is_a_clear_404(act, journal, field, path, subject):
    # /oncalls filters silently (an unknown id lists nobody): the empty answer is checked with one more GET
    result = act("get_on_call", **{field: "PNOPE00"})
    assert result.code == 1, result.stdout
    assert result.error["cause"].startswith(f"{subject} was not found (HTTP 404)")
    assert result.error["assistance"] == "Check the id; `list_*` actions show the ids that exist."
    assert [(e["method"], e["path"]) for e in journal()] == [("GET", "/oncalls"), ("GET", path)]


def test_get_on_call_names_the_unknown_one_of_two_ids(act, sandbox, journal):
    schedule = sandbox.seed_ids["schedules"][0]
    result = act("get_on_call", schedule_id=schedule, escalation_policy_id="PNOPE00")
    assert result.code == 1 and result.error["cause"].startswith("Escalation policy PNOPE00 was not found")
    assert [e["path"] for e in journal()] == ["/oncalls", f"/schedules/{schedule}", "/escalation_policies/PNOPE00"]


def test_get_on_call_of_a_schedule_no_policy_uses_is_nobody(act, sandbox, journal):
    user = first(sandbox, "users")
    schedule = api(sandbox, "POST", "/schedules", {"schedule": {
        "type": "schedule", "name": "Unused rota", "time_zone": "Etc/UTC", "schedule_layers": [{
            "start": "2024-01-01T00:00:00Z", "rotation_virtual_start": "2024-01-01T00:00:00Z",
            "rotation_turn_length_seconds": 86400, "users": [{"user": {"id": user["id"], "type": "user_reference"}}]}]}}
    )["schedule"]
    mark = len(journal())
    result = act("get_on_call", schedule_id=schedule["id"])
    assert result.code == 0, result.stdout
    assert (result.output["oncalls"], result.output["users"], result.output["count"]) == ([], [], 0)
    assert [e["path"] for e in since(journal, mark)] == ["/oncalls", f"/schedules/{schedule['id']}"]
    assert "Nobody is on call" in result.body["log"]


def test_get_on_call_without_a_schedule_or_policy_sends_nothing(refuse):
    refuse("get_on_call")


@pytest.mark.parametrize("field, value, collection", [("schedule_id", "../users", "schedules"),
                                                      ("escalation_policy_id", "P1?x=y", "escalation_policies")])
def test_get_on_call_a_value_that_is_no_id_is_a_name_never_pasted_into_a_path(act, journal, field, value, collection):
    result = act("get_on_call", **{field: value})
    assert result.code == 1 and result.error["cause"].startswith("No ") and value in result.error["cause"]
    assert [(e["path"], e["query"]["query"]) for e in journal()] == [(f"/{collection}", [value])]


# --- ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action, values", [
    ("add_note", {"note": "x"}), ("list_notes", {}), ("create_status_update", {"message": "x"}),
    ("add_responders", {"users": ["PUSR001"], "message": "x"}), ("list_log_entries", {}), ("list_alerts", {}),
])
@pytest.mark.parametrize("hostile", ["../users", "P1?x=y", "PABC123/notes"])
def test_hostile_incident_ids_are_refused_before_any_request(refuse, action, values, hostile):
    assert refuse(action, incident_id=hostile, **values)["cause"] == f"{hostile!r} is not a valid PagerDuty incident id"
