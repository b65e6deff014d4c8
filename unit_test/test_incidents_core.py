"""Incident actions against the sandbox: create, get, list, update, status, bulk status,
reassignment, snooze and merge. Each checks the exact request in the journal, PagerDuty's
refusals as clear errors, and bad inputs that send nothing."""

import pytest

from incident_support import api, first, open_incident, request_line, set_status, since


def write(journal, mark):
    """The single write among the requests sent after mark (lookups are GETs)."""
    writes = [e for e in since(journal, mark) if e["method"] != "GET"]
    assert len(writes) == 1, writes
    return writes[0]


# --- create_incident --------------------------------------------------------------------------


def test_create_incident_sends_every_field_with_names_resolved(act, sandbox, journal):
    service = first(sandbox, "services")
    policy = first(sandbox, "escalation_policies")
    priority = first(sandbox, "priorities")
    mark = len(journal())
    result = act("create_incident", title="Checkout answers 500", service=service["name"], urgency="low",
                 details="5% errors since 12:00", incident_key="checkout/500", priority=priority["name"],
                 escalation_policy=policy["name"], conference_number="+1-415-555-1212,,,,1234#",
                 conference_url="https://meet.example.com/x")
    assert result.code == 0, result.stdout
    sent = since(journal, mark)
    assert [request_line(e) for e in sent[:3]] == [
        ("GET", "/priorities", {"limit": ["100"], "offset": ["0"]}),
        ("GET", "/escalation_policies", {"query": [policy["name"]], "limit": ["100"], "offset": ["0"]}),
        ("GET", "/services", {"query": [service["name"]], "limit": ["100"], "offset": ["0"]})]
    assert request_line(sent[3]) == ("POST", "/incidents", {})
    post = sent[-1]
    assert post["headers"]["From"] == sandbox.info["from_email"]
    assert post["json"] == {"incident": {
        "type": "incident", "title": "Checkout answers 500",
        "service": {"id": service["id"], "type": "service_reference"},
        "urgency": "low", "priority": {"id": priority["id"], "type": "priority_reference"},
        "escalation_policy": {"id": policy["id"], "type": "escalation_policy_reference"},
        "conference_bridge": {"conference_number": "+1-415-555-1212,,,,1234#",
                              "conference_url": "https://meet.example.com/x"},
        "body": {"type": "incident_body", "details": "5% errors since 12:00"},
        "incident_key": "checkout/500"}}
    incident = result.output["incident"]
    assert incident["title"] == "Checkout answers 500" and incident["status"] == "triggered"
    assert incident["service"]["id"] == service["id"] and incident["urgency"] == "low"
    assert incident["priority"]["id"] == priority["id"]
    assert incident["escalation_policy"]["id"] == policy["id"]
    assert incident["incident_key"] == "checkout/500"


def test_create_incident_assigns_users_by_email_and_id(act, sandbox, journal):
    service = first(sandbox, "services")
    users = api(sandbox, "GET", "/users")["users"][:2]
    mark = len(journal())
    result = act("create_incident", title="x", service=service["id"], assignees=[users[0]["email"], users[1]["id"]],
                 from_email=users[1]["email"])
    assert result.code == 0, result.stdout
    sent = since(journal, mark)
    assert [request_line(e)[:2] for e in sent] == [("GET", "/users"), ("POST", "/incidents")]
    assert sent[1]["headers"]["From"] == users[1]["email"]  # the step's from_email wins over the connection's
    assert sent[1]["json"]["incident"]["assignments"] == [
        {"assignee": {"id": users[0]["id"], "type": "user_reference"}},
        {"assignee": {"id": users[1]["id"], "type": "user_reference"}}]
    assignees = {a["assignee"]["id"] for a in result.output["incident"]["assignments"]}
    assert assignees == {users[0]["id"], users[1]["id"]}


@pytest.mark.parametrize("values, words", [
    ({"escalation_policy": "PEP0001", "assignees": ["PUSR001"]}, "not both"),
    ({"assignees": ["../users"]}, "not a valid PagerDuty user id"),
    ({"assignees": ["P1?x=y"]}, "not a valid PagerDuty user id"),
    ({"from_email": "not-an-email"}, "not an email address"),
    ({"urgency": "urgent"}, "must be one of high, low"),
    ({"title": ""}, "is blank"),
    ({"title": "x" * 1025}, "too long"),
])
def test_create_incident_bad_inputs_send_nothing(refuse, values, words):
    assert words in refuse("create_incident", **{"title": "x", "service": "PSVC001", **values})["cause"]


def test_create_incident_without_any_from_fails_before_any_request(refuse, module_connection):
    settings = {k: v for k, v in module_connection.items() if k != "from_email"}
    error = refuse("create_incident", _connection=settings, title="x", service="Some service name")
    assert error["cause"] == "The action create_incident needs a From address and none was given"
    assert "from_email" in error["assistance"]


def test_create_incident_from_an_unknown_user(act, sandbox):
    service = first(sandbox, "services")
    result = act("create_incident", title="x", service=service["id"], from_email="nobody@example.com")
    assert result.code == 1
    assert result.error["cause"].startswith("The From address is not a user on this account")
    assert result.error["data"]["status"] == 400 and result.error["data"]["code"]


def test_create_incident_with_a_read_only_key(act, sandbox, connection, journal):
    service = first(sandbox, "services")
    settings = dict(connection, api_key={"secretKey": sandbox.readonly_api_key})
    mark = len(journal())
    result = act("create_incident", _connection=settings, title="x", service=service["id"])
    assert result.code == 1
    assert "read-only" in result.error["cause"] and result.error["data"]["status"] == 403
    assert len(since(journal, mark)) == 1


def test_create_incident_names_that_match_nothing(act, journal):
    result = act("create_incident", title="x", service="No Such Service")
    assert result.code == 1
    assert result.error["cause"] == "No service is named 'No Such Service'"
    assert [e["method"] for e in journal()] == ["GET"]


# --- get_incident -----------------------------------------------------------------------------


@pytest.mark.full_answers
def test_get_incident_by_id_with_includes(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    result = act("get_incident", incident_id=incident["id"], include=["services", "priorities"])
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", f"/incidents/{incident['id']}", {"include[]": ["services", "priorities"]})
    got = result.output["incident"]
    for field in ("id", "incident_number", "title", "status", "urgency", "created_at", "html_url"):
        assert got[field] == incident[field], field
    assert got["service"]["id"] == incident["service"]["id"]
    assert got["service"]["name"]  # include=services expands the reference
    assert got["escalation_policy"]["id"] == incident["escalation_policy"]["id"]
    assert [a["assignee"]["id"] for a in got["assignments"]] == [a["assignee"]["id"] for a in incident["assignments"]]


def test_get_incident_by_number(act, sandbox, journal):
    incident = open_incident(sandbox)
    result = act("get_incident", incident_id=str(incident["incident_number"]))
    assert journal()[-1]["path"] == f"/incidents/{incident['incident_number']}"
    assert result.code == 0, result.stdout
    assert result.output["incident"]["id"] == incident["id"]


@pytest.mark.full_answers
def test_get_incident_answers_the_fields_integrations_map(act, sandbox, journal):
    priority = api(sandbox, "GET", "/priorities")["priorities"][0]
    bridge = {"conference_number": "+1-415-555-1212,,,,1234#", "conference_url": "https://meet.example.com/x"}
    made = open_incident(sandbox, title="Checkout answers 500", urgency="low", incident_key="checkout/500",
                         body={"type": "incident_body", "details": "5% errors since 12:00"},
                         priority={"id": priority["id"], "type": "priority_reference"}, conference_bridge=bridge)
    mark = len(journal())
    result = act("get_incident", incident_id=made["id"])
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", f"/incidents/{made['id']}", {})
    got = result.output["incident"]
    assert {field: got[field] for field in ("id", "incident_number", "incident_key", "title", "description",
                                             "status", "urgency", "created_at", "html_url")} == {
        "id": made["id"], "incident_number": made["incident_number"], "incident_key": "checkout/500",
        "title": "Checkout answers 500",
        "description": "Checkout answers 500",  # PagerDuty's description is the title; details are in body
        "status": "triggered", "urgency": "low", "created_at": made["created_at"], "html_url": made["html_url"]}
    assert isinstance(got["incident_number"], int) and got["html_url"].startswith("http")
    assert got["body"]["details"] == "5% errors since 12:00"
    assert (got["priority"]["id"], got["priority"]["summary"]) == (priority["id"], priority["name"])
    assert got["service"]["id"] == made["service"]["id"] and got["service"]["type"] == "service_reference"
    policy = api(sandbox, "GET", f"/services/{made['service']['id']}")["service"]["escalation_policy"]
    assert got["escalation_policy"]["id"] == policy["id"]
    assert got["assignments"] and [a["assignee"]["id"] for a in got["assignments"]] == [
        a["assignee"]["id"] for a in made["assignments"]]
    assert got["conference_bridge"] == bridge


def test_get_incident_not_found(act):
    result = act("get_incident", incident_id="PNOPE00")
    assert result.code == 1
    assert result.error["cause"].startswith("Incident PNOPE00 was not found (HTTP 404)")
    assert result.error["data"]["status"] == 404 and result.error["data"]["code"] == 2100
    assert result.error["assistance"]


def test_get_incident_unknown_include_sends_nothing(refuse):
    assert "include" in refuse("get_incident", incident_id="PABC123", include=["everything"])["cause"]


HOSTILE = ["../users", "P1?x=y", "PABC123/notes", "%2e%2e", "a b", "P1#x"]
ID_STEPS = [
    ("get_incident", {}, "incident_id"),
    ("update_incident", {"status": "acknowledged"}, "incident_id"),
    ("update_status", {"status": "resolved"}, "incident_id"),
    ("update_incident_escalation_policy", {"escalation_policy": "PEP0001"}, "incident_id"),
    ("snooze_incident", {"duration": 60}, "incident_id"),
    ("merge_incidents", {"source_incident_ids": ["PABC123"]}, "target_incident_id"),
    ("merge_incidents", {"target_incident_id": "PABC123"}, "source_incident_ids"),
    ("manage_incidents", {"status": "resolved"}, "incident_ids"),
    ("list_incidents", {}, "service_ids"),
    ("list_incidents", {}, "user_ids"),
]


@pytest.mark.parametrize("action, values, field", ID_STEPS)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_ids_are_refused_before_any_request(refuse, action, values, field, hostile):
    value = [hostile] if field.endswith("_ids") else hostile
    assert "is not a valid PagerDuty" in refuse(action, **{**values, field: value})["cause"]


@pytest.mark.parametrize("action, values", [
    ("get_incident", {"incident_id": 12}),
    ("snooze_incident", {"incident_id": "PABC123", "duration": "60"}),
    ("manage_incidents", {"incident_ids": 5, "status": "resolved"}),
    ("update_incident", {"incident_id": "PABC123", "escalation_level": 0}),
    ("list_incidents", {"max_results": 0}),
    ("list_incidents", {"max_results": 10001}),
    ("list_incidents", {"since": "yesterday"}),
    ("list_incidents", {"bogus": 1}),
])
def test_wrong_types_send_nothing(refuse, action, values):
    refuse(action, **values)


# --- list_incidents ---------------------------------------------------------------------------


def test_list_incidents_sends_every_filter(act, sandbox, journal):
    service = first(sandbox, "services")
    user = first(sandbox, "users")
    mark = len(journal())
    result = act("list_incidents", statuses=["triggered", "acknowledged"], incident_key="k",
                 service_ids=[service["id"]], user_ids=[user["id"]], urgencies=["high"], since="2024-05-01T00:00:00Z",
                 until="2024-06-01T00:00:00Z", sort_by="created_at:desc", max_results=10)
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", "/incidents", {
        "incident_key": ["k"], "since": ["2024-05-01T00:00:00Z"], "until": ["2024-06-01T00:00:00Z"],
        "statuses[]": ["triggered", "acknowledged"], "urgencies[]": ["high"], "service_ids[]": [service["id"]],
        "user_ids[]": [user["id"]], "sort_by": ["created_at:desc"], "limit": ["10"], "offset": ["0"]})
    assert result.output == {"incidents": [], "count": 0, "truncated": False}


def test_list_incidents_sends_team_ids_and_date_range(act, sandbox, journal):
    teams = api(sandbox, "GET", "/teams")["teams"]
    mark = len(journal())
    result = act("list_incidents", team_ids=f"{teams[0]['id']}, {teams[1]['id']}", date_range="all")
    assert result.code == 0, result.stdout
    (sent,) = since(journal, mark)
    assert request_line(sent) == ("GET", "/incidents", {
        "date_range": ["all"], "team_ids[]": [teams[0]["id"], teams[1]["id"]], "limit": ["100"], "offset": ["0"]})
    expected = api(sandbox, "GET", "/incidents", date_range="all", **{"team_ids[]": [t["id"] for t in teams[:2]]})
    assert result.output["incidents"] and [i["id"] for i in result.output["incidents"]] == [
        i["id"] for i in expected["incidents"]]
    mark = len(journal())
    one_team = act("list_incidents", team_ids=[teams[0]["id"]], date_range="all")
    assert since(journal, mark)[0]["query"]["team_ids[]"] == [teams[0]["id"]]
    assert one_team.output["count"] <= result.output["count"]


def test_list_incidents_sends_dates_as_rfc_3339(act, journal):
    mark = len(journal())
    result = act("list_incidents", since="2024-01-01T00:00:00+0000", until="2024-01-31")
    assert result.code == 0, result.stdout
    query = since(journal, mark)[0]["query"]
    assert (query["since"], query["until"]) == (["2024-01-01T00:00:00Z"], ["2024-01-31T00:00:00Z"])


def test_list_incidents_answers_the_incidents(act, sandbox):
    made = [open_incident(sandbox, title=f"i{n}") for n in range(3)]
    result = act("list_incidents", date_range="all", statuses=["triggered"])
    assert result.code == 0
    listed = {i["id"] for i in result.output["incidents"]}
    assert {i["id"] for i in made} <= listed
    assert result.output["count"] == len(result.output["incidents"]) and result.output["truncated"] is False


def test_list_incidents_max_results_trims_and_flags(act, sandbox, journal):
    for n in range(3):
        open_incident(sandbox, title=f"i{n}")
    mark = len(journal())
    result = act("list_incidents", date_range="all", max_results=2)
    assert result.output["count"] == 2 and result.output["truncated"] is True
    assert [e["query"]["limit"] for e in since(journal, mark)] == [["2"]]


@pytest.mark.parametrize("values", [{"statuses": ["open"]}, {"urgencies": ["urgent"]}, {"sort_by": "title"},
                                    {"sort_by": "created_at:up"}, {"date_range": "week"},
                                    {"sort_by": "created_at,urgency,incident_number"}])
def test_list_incidents_bad_filters_send_nothing(refuse, values):
    refuse("list_incidents", **values)


# --- update_incident, update_status, update_incident_escalation_policy --------------------------


def test_update_incident_sends_the_changes(act, sandbox, journal):
    incident = open_incident(sandbox)
    priority = first(sandbox, "priorities")
    mark = len(journal())
    result = act("update_incident", incident_id=incident["id"], title="New title", priority=priority["name"],
                 urgency="low", conference_url="https://meet.example.com/y")
    assert result.code == 0, result.stdout
    put = write(journal, mark)
    assert (put["method"], put["path"]) == ("PUT", f"/incidents/{incident['id']}")
    assert put["headers"]["From"] == sandbox.info["from_email"]
    assert put["json"] == {"incident": {"type": "incident_reference", "title": "New title", "urgency": "low",
                                        "priority": {"id": priority["id"], "type": "priority_reference"},
                                        "conference_bridge": {"conference_url": "https://meet.example.com/y"}}}
    got = result.output["incident"]
    assert (got["title"], got["urgency"], got["priority"]["id"]) == ("New title", "low", priority["id"])


@pytest.mark.full_answers
@pytest.mark.parametrize("by", ["name", "id"])
def test_update_incident_escalation_policy_and_conference_bridge(act, sandbox, journal, by):
    incident = open_incident(sandbox)
    policy = api(sandbox, "GET", "/escalation_policies")["escalation_policies"][-1]
    assert policy["id"] != incident["escalation_policy"]["id"]
    mark = len(journal())
    result = act("update_incident", incident_id=incident["id"], escalation_policy=policy[by],
                 conference_number="+44 20 7946 0000,,42#", conference_url="https://meet.example.com/z")
    assert result.code == 0, result.stdout
    sent = since(journal, mark)
    lookups = [("GET", "/escalation_policies", {"query": [policy["name"]], "limit": ["100"], "offset": ["0"]})]
    assert [request_line(e) for e in sent[:-1]] == (lookups if by == "name" else [])
    assert (sent[-1]["method"], sent[-1]["path"]) == ("PUT", f"/incidents/{incident['id']}")
    assert sent[-1]["headers"]["From"] == sandbox.info["from_email"]
    assert sent[-1]["json"] == {"incident": {
        "type": "incident_reference",
        "escalation_policy": {"id": policy["id"], "type": "escalation_policy_reference"},
        "conference_bridge": {"conference_number": "+44 20 7946 0000,,42#",
                              "conference_url": "https://meet.example.com/z"}}}
    got = result.output["incident"]
    assert got["escalation_policy"]["id"] == policy["id"]
    assert got["conference_bridge"] == {"conference_number": "+44 20 7946 0000,,42#",
                                        "conference_url": "https://meet.example.com/z"}


def test_update_incident_conference_number_alone(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    result = act("update_incident", incident_id=incident["id"], conference_number="+1-555-0100")
    assert result.code == 0, result.stdout
    assert write(journal, mark)["json"] == {"incident": {
        "type": "incident_reference", "conference_bridge": {"conference_number": "+1-555-0100"}}}


def test_update_incident_resolves_with_a_resolution(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    result = act("update_incident", incident_id=incident["id"], status="resolved", resolution="Rolled back")
    assert result.output["incident"]["status"] == "resolved"
    assert write(journal, mark)["json"] == {"incident": {"type": "incident_reference", "status": "resolved",
                                                         "resolution": "Rolled back"}}


def test_update_incident_reassigns_and_escalates(act, sandbox, journal):
    incident = open_incident(sandbox)
    user = api(sandbox, "GET", "/users")["users"][1]
    mark = len(journal())
    result = act("update_incident", incident_id=incident["id"], assignees=[user["email"]])
    assert result.code == 0, result.stdout
    assert write(journal, mark)["json"]["incident"]["assignments"] == [
        {"assignee": {"id": user["id"], "type": "user_reference"}}]
    assert [a["assignee"]["id"] for a in result.output["incident"]["assignments"]] == [user["id"]]
    mark = len(journal())
    result = act("update_incident", incident_id=incident["id"], escalation_level=1)
    assert result.code == 0, result.stdout
    assert write(journal, mark)["json"] == {"incident": {"type": "incident_reference", "escalation_level": 1}}


def test_update_incident_accepts_assignees_as_comma_separated_text(act, sandbox, journal):
    incident = open_incident(sandbox)
    users = api(sandbox, "GET", "/users")["users"][:2]
    result = act("update_incident", incident_id=incident["id"], assignees=f"{users[0]['id']}, {users[1]['id']}")
    assert result.code == 0, result.stdout
    assert len(journal()[-1]["json"]["incident"]["assignments"]) == 2


@pytest.mark.parametrize("values, words", [
    ({}, "Give at least one of 'status'"),
    ({"resolution": "done"}, "Give at least one of 'status'"),
    ({"status": "acknowledged", "resolution": "done"}, "'resolution' is used only when 'status' is resolved"),
    ({"status": "closed"}, "must be one of"),
])
def test_update_incident_bad_inputs_send_nothing(refuse, values, words):
    assert words in refuse("update_incident", incident_id="PABC123", **values)["cause"]


@pytest.mark.no_conformance  # PagerDuty answers 400 here, though updateIncident does not list it
def test_update_status_acknowledges_then_resolves_then_says_already_resolved(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    ack = act("update_status", incident_id=incident["id"], status="acknowledged")
    assert ack.output["incident"]["status"] == "acknowledged"
    done = act("update_status", incident_id=incident["id"], status="resolved", resolution="fixed")
    assert done.output["incident"]["status"] == "resolved"
    assert [e["json"] for e in since(journal, mark)] == [
        {"incident": {"type": "incident_reference", "status": "acknowledged"}},
        {"incident": {"type": "incident_reference", "status": "resolved", "resolution": "fixed"}}]
    again = act("update_status", incident_id=incident["id"], status="resolved")
    assert again.code == 1
    assert again.error["cause"] == f"Incident {incident['id']} is already resolved"
    assert again.error["data"]["code"] == 1001 and again.error["data"]["status"] == 400
    assert "reopen" in again.error["assistance"]


def test_update_status_of_a_missing_incident(act):
    result = act("update_status", incident_id="PNOPE00", status="acknowledged")
    assert result.code == 1 and result.error["cause"].startswith("Incident PNOPE00 was not found")


def test_update_escalation_policy_by_name(act, sandbox, journal):
    incident = open_incident(sandbox)
    policies = api(sandbox, "GET", "/escalation_policies")["escalation_policies"]
    policy = policies[-1]
    mark = len(journal())
    result = act("update_incident_escalation_policy", incident_id=incident["id"], escalation_policy=policy["name"])
    assert result.code == 0, result.stdout
    lookup, put = since(journal, mark)
    assert request_line(lookup) == ("GET", "/escalation_policies", {
        "query": [policy["name"]], "limit": ["100"], "offset": ["0"]})
    assert put["json"] == {"incident": {"type": "incident_reference", "escalation_policy": {
        "id": policy["id"], "type": "escalation_policy_reference"}}}
    assert result.output["incident"]["escalation_policy"]["id"] == policy["id"]


def test_update_escalation_policy_title_matches_the_rundeck_step():
    from pagerduty_plugin import spec

    assert spec.load().action("update_incident_escalation_policy")["title"] == "Update Escalation Policy"


# --- manage_incidents -------------------------------------------------------------------------


def test_manage_incidents_sends_batches_of_250(act, sandbox, journal):
    made = sandbox.seed_incidents(260)
    incident_ids = [i if isinstance(i, str) else i["id"] for i in made]
    mark = len(journal())
    result = act("manage_incidents", incident_ids=incident_ids, status="acknowledged")
    assert result.code == 0, result.stdout
    sent = since(journal, mark)
    assert [(e["method"], e["path"], len(e["json"]["incidents"])) for e in sent] == [
        ("PUT", "/incidents", 250), ("PUT", "/incidents", 10)]
    assert sent[0]["json"]["incidents"][0] == {"id": incident_ids[0], "type": "incident_reference",
                                               "status": "acknowledged"}
    assert all(e["headers"]["From"] == sandbox.info["from_email"] for e in sent)
    assert result.output["count"] == 260
    assert {i["status"] for i in result.output["incidents"]} == {"acknowledged"}


def test_manage_incidents_reports_what_was_done_when_a_later_batch_fails(act, sandbox, journal):
    made = sandbox.seed_incidents(251)
    incident_ids = [i if isinstance(i, str) else i["id"] for i in made]
    set_status(sandbox, incident_ids[-1], "resolved")
    result = act("manage_incidents", incident_ids=incident_ids, status="resolved")
    assert result.code == 1
    assert "already resolved" in result.error["cause"]
    assert "the first 250 of 251 incidents were already updated" in result.error["cause"]
    assert len(result.error["data"]["updated_ids"]) == 250


# --- snooze_incident, merge_incidents ---------------------------------------------------------


def test_snooze_an_acknowledged_incident(act, sandbox, journal):
    incident = open_incident(sandbox)
    set_status(sandbox, incident["id"], "acknowledged")
    mark = len(journal())
    result = act("snooze_incident", incident_id=incident["id"], duration=3600)
    assert result.code == 0, result.stdout
    sent, read_back = since(journal, mark)  # the documented answer lacks the title: read back
    assert (sent["method"], sent["path"], sent["json"]) == ("POST", f"/incidents/{incident['id']}/snooze",
                                                           {"duration": 3600})
    assert (read_back["method"], read_back["path"]) == ("GET", f"/incidents/{incident['id']}")
    assert sent["headers"]["From"] == sandbox.info["from_email"]
    assert result.output["incident"]["id"] == incident["id"]


@pytest.mark.parametrize("duration", [0, 604801, -5])
def test_snooze_duration_out_of_range_sends_nothing(refuse, duration):
    assert "duration" in refuse("snooze_incident", incident_id="PABC123", duration=duration)["cause"]


def test_merge_incidents(act, sandbox, journal):
    target, one, two = (open_incident(sandbox, title=f"m{n}") for n in range(3))
    mark = len(journal())
    result = act("merge_incidents", target_incident_id=target["id"], source_incident_ids=[one["id"], two["id"]])
    assert result.code == 0, result.stdout
    sent, read_back = since(journal, mark)
    assert (sent["method"], sent["path"]) == ("PUT", f"/incidents/{target['id']}/merge")
    assert (read_back["method"], read_back["path"]) == ("GET", f"/incidents/{target['id']}")
    assert sent["json"] == {"source_incidents": [{"id": one["id"], "type": "incident_reference"},
                                                 {"id": two["id"], "type": "incident_reference"}]}
    assert result.output["incident"]["id"] == target["id"]
    assert api(sandbox, "GET", f"/incidents/{one['id']}")["incident"]["status"] == "resolved"


def test_merge_a_resolved_source_says_which(act, sandbox):
    target, source = open_incident(sandbox, title="t"), open_incident(sandbox, title="s")
    set_status(sandbox, source["id"], "resolved")
    result = act("merge_incidents", target_incident_id=target["id"], source_incident_ids=[source["id"]])
    assert result.code == 1
    assert result.error["cause"].startswith("One of the incidents is already resolved: ")
    assert source["id"] in result.error["cause"] and result.error["data"]["code"] == 1001


def test_merge_an_incident_into_itself_sends_nothing(refuse):
    error = refuse("merge_incidents", target_incident_id="PABC123", source_incident_ids=["PABC123"])
    assert "other than the target" in error["cause"]



# --- PagerDuty's errors, action by action (one sandbox for the module: nothing here changes it) ---------


@pytest.fixture
def quiet_step(module_sandbox, module_connection):
    """quiet_step(action, **input) -> (Result, [(method, path) sent]) against the module's sandbox;
    "<name>" in the input stands for a seed id (see seeded). Its answers are checked against the contract."""
    from conftest import invoke, start_message

    def run(action, _connection=None, **values):
        values = {k: seeded(module_sandbox, v) for k, v in values.items()}
        mark = len(module_sandbox.journal())
        result = invoke(["run"], start_message(action, values, _connection or module_connection))
        return result, [(e["method"], e["path"]) for e in module_sandbox.journal()[mark:]]

    return run


def seeded(sandbox, value):
    """value with "<triggered>", "<acknowledged>", "<policy>", "<service>", "<user>", "<user email>" and
    "<admin>" (alone, in a list or in a path) replaced by the demo seed's ids."""
    if isinstance(value, list):
        return [seeded(sandbox, v) for v in value]
    if not isinstance(value, str):
        return value
    ids = sandbox.seed_ids
    names = {"<triggered>": ids["incidents"]["triggered"][0], "<acknowledged>": ids["incidents"]["acknowledged"][0],
             "<policy>": ids["escalation_policies"][0], "<service>": ids["services"][0],
             "<user email>": ids["emails"]["user"], "<user>": ids["users"]["user"], "<admin>": ids["users"]["admin"]}
    for name, seed_id in names.items():
        value = value.replace(name, seed_id)
    return value


def case_id(value):
    """The test id of a case: the action and the names of its inputs."""
    if isinstance(value, dict):
        return "+".join(value) or "alone"
    return value if isinstance(value, str) else "sent"


MISSING = "PNOPE00"
NOT_FOUND = [  # (action, input, the requests sent: lookups of names first, then the one on the incident)
    ("get_incident", {}, [("GET", "/incidents/PNOPE00")]),
    ("update_incident", {"status": "acknowledged"}, [("PUT", "/incidents/PNOPE00")]),
    ("update_incident", {"assignees": ["<user email>"]}, [("GET", "/users"), ("PUT", "/incidents/PNOPE00")]),
    ("update_status", {"status": "resolved"}, [("PUT", "/incidents/PNOPE00")]),
    ("add_note", {"note": "x"}, [("POST", "/incidents/PNOPE00/notes")]),
    ("list_notes", {}, [("GET", "/incidents/PNOPE00/notes")]),
    ("create_status_update", {"message": "x"}, [("POST", "/incidents/PNOPE00/status_updates")]),
    ("update_incident_escalation_policy", {"escalation_policy": "<policy>"}, [("PUT", "/incidents/PNOPE00")]),
    ("add_responders", {"users": ["<user>"], "requester": "<admin>", "message": "x"},
     [("POST", "/incidents/PNOPE00/responder_requests")]),
    ("add_responders", {"users": ["<user email>"], "message": "x"},  # the user, then the From user as requester
     [("GET", "/users"), ("GET", "/users"), ("POST", "/incidents/PNOPE00/responder_requests")]),
    ("snooze_incident", {"duration": 60}, [("POST", "/incidents/PNOPE00/snooze")]),
    ("list_log_entries", {}, [("GET", "/incidents/PNOPE00/log_entries")]),
    pytest.param("list_alerts", {}, [("GET", "/incidents/PNOPE00/alerts")],
                 marks=pytest.mark.no_conformance),  # PagerDuty answers 404; listIncidentAlerts does not list it
]


@pytest.mark.parametrize("action, values, expected", NOT_FOUND,
                         ids=case_id)
def test_a_missing_incident_is_a_clear_404_for_every_action(quiet_step, action, values, expected):
    result, sent = quiet_step(action, incident_id=MISSING, **values)
    assert result.code == 1, result.stdout
    assert result.error["cause"].startswith("Incident PNOPE00 was not found (HTTP 404)")
    assert result.error["assistance"] == "Check the id; `list_*` actions show the ids that exist."
    assert (result.error["data"]["status"], result.error["data"]["code"]) == (404, 2100)
    assert sent == expected


def test_merging_into_a_missing_incident_is_a_clear_404(quiet_step):
    result, sent = quiet_step("merge_incidents", target_incident_id=MISSING, source_incident_ids=["<triggered>"])
    assert result.code == 1
    # the subject is "one of the incidents" (target or source): PagerDuty's errors list says which
    assert result.error["cause"] == "One of the incidents was not found (HTTP 404): incident PNOPE00 not found"
    assert (result.error["data"]["status"], result.error["data"]["code"]) == (404, 2100)
    assert sent == [("PUT", "/incidents/PNOPE00/merge")]


def test_merging_a_missing_source_names_it(quiet_step, module_sandbox):
    result, sent = quiet_step("merge_incidents", target_incident_id="<triggered>", source_incident_ids=[MISSING])
    assert result.code == 1 and MISSING in result.error["cause"]
    assert sent == [("PUT", seeded(module_sandbox, "/incidents/<triggered>/merge"))]


READ_ONLY = [  # (action, input, the one request sent)
    ("create_incident", {"title": "x", "service": "<service>"}, ("POST", "/incidents")),
    ("update_incident", {"incident_id": "<triggered>", "title": "y"}, ("PUT", "/incidents/<triggered>")),
    ("update_status", {"incident_id": "<triggered>", "status": "acknowledged"}, ("PUT", "/incidents/<triggered>")),
    ("manage_incidents", {"incident_ids": ["<triggered>"], "status": "acknowledged"}, ("PUT", "/incidents")),
    ("update_incident_escalation_policy", {"incident_id": "<triggered>", "escalation_policy": "<policy>"},
     ("PUT", "/incidents/<triggered>")),
    ("snooze_incident", {"incident_id": "<acknowledged>", "duration": 60},
     ("POST", "/incidents/<acknowledged>/snooze")),
    ("merge_incidents", {"target_incident_id": "<triggered>", "source_incident_ids": ["<acknowledged>"]},
     ("PUT", "/incidents/<triggered>/merge")),
    ("add_note", {"incident_id": "<triggered>", "note": "x"}, ("POST", "/incidents/<triggered>/notes")),
    ("create_status_update", {"incident_id": "<triggered>", "message": "x"},
     ("POST", "/incidents/<triggered>/status_updates")),
    ("add_responders", {"incident_id": "<triggered>", "users": ["<user>"], "requester": "<admin>", "message": "x"},
     ("POST", "/incidents/<triggered>/responder_requests")),
]


@pytest.mark.parametrize("action, values, expected", READ_ONLY, ids=case_id)
def test_every_write_with_a_read_only_key_is_refused_clearly(quiet_step, module_sandbox, module_connection, action,
                                                             values, expected):
    settings = dict(module_connection, api_key={"secretKey": module_sandbox.readonly_api_key})
    result, sent = quiet_step(action, _connection=settings, **values)
    assert result.code == 1, result.stdout
    assert result.error["cause"].startswith("The API key is read-only or lacks access to this object (HTTP 403)")
    assert "full-access key" in result.error["assistance"]
    assert result.error["data"]["status"] == 403
    assert sent == [tuple(seeded(module_sandbox, list(expected)))]
    assert module_sandbox.readonly_api_key not in result.stdout + result.stderr


def test_snoozing_a_triggered_incident_says_it_is_not_acknowledged(quiet_step, module_sandbox):
    incident_id = seeded(module_sandbox, "<triggered>")
    result, sent = quiet_step("snooze_incident", incident_id=incident_id, duration=60)
    assert result.code == 1
    assert result.error["cause"].startswith(f"Incident {incident_id} is not acknowledged")
    assert result.error["assistance"] == "Check the incident's current state (get_incident) and the input."
    assert (result.error["data"]["status"], result.error["data"]["code"]) == (400, 1012)
    assert sent == [("POST", f"/incidents/{incident_id}/snooze")]
