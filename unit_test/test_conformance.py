"""The OpenAPI conformance checker itself, and a tour of the sandbox checked against the published contract.

Bodies are taken from the published file's own examples (read from ../shared/pagerduty-api at test time,
never copied here) and altered one field at a time.
"""
import copy
import json
import os
import re
import subprocess
import sys

import pytest

import openapi_conformance as oc
from openapi_conformance import SKIP_REASON, check_exchanges

needs_contract = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")


@pytest.fixture(scope="module")
def rest():
    with open(os.path.join(oc.contract_folder(), oc.FILES["rest"]), encoding="utf-8") as fh:
        return json.load(fh)


def example(rest, method, path, status="200"):
    """A deep copy of the published example answer of an operation."""
    media = oc._deref(rest, rest["paths"][path][method.lower()]["responses"][status])["content"]["application/json"]
    return copy.deepcopy(next(iter(media["examples"].values()))["value"])


def exchange(method, path, status, body=None, *, query=None, request=None, headers=None, **extra):
    entry = {"method": method, "path": path, "query": query or {},
             "request_headers": {"Content-Type": "application/json", **(headers or {})},
             "request_json": request, "status": status,
             "response_headers": {"Content-Type": "application/json; charset=utf-8"} if body is not None else {},
             "response_json": body, "fault": None, "hook": False}
    entry.update(extra)
    return entry


FROM = {"From": "someone@example.com"}


# --- it flags what breaks the contract ----------------------------------------------------------

@needs_contract
def test_flags_a_wrong_type(rest):
    body = example(rest, "GET", "/incidents/{id}")
    body["incident"]["incident_number"] = "1234"
    assert check_exchanges([exchange("GET", "/incidents/PT4KHLK", 200, body)]) == [
        "GET /incidents/PT4KHLK [getIncident] -> 200: response body /incident/incident_number: "
        "'1234' is not of type 'integer'"]


@needs_contract
def test_flags_a_missing_required_field_and_a_null_where_none_is_allowed(rest):
    body = example(rest, "GET", "/users/{id}")
    body["user"]["name"] = None
    problems = check_exchanges([exchange("GET", "/users/PXPGF42", 200, body),
                                exchange("GET", "/incidents/PT4KHLK", 200, {"incidents": []})])
    assert problems == [
        "GET /users/PXPGF42 [getUser] -> 200: response body /user/name: null where the contract does not allow null",
        "GET /incidents/PT4KHLK [getIncident] -> 200: response body /: 'incident' is a required property"]


@needs_contract
def test_flags_an_undocumented_status_and_a_missing_body():
    problems = check_exchanges([
        exchange("DELETE", "/services/PIJ90N7", 404, {"error": {"code": 2100, "message": "Not Found"}}),
        exchange("GET", "/users/PXPGF42", 404),
        exchange("DELETE", "/users/PXPGF42", 204, {"user": {}})])
    assert problems == [
        "DELETE /services/PIJ90N7 [deleteService] -> 404: status 404 is not documented (documented: 204, 401, 403)",
        "GET /users/PXPGF42 [getUser] -> 404: the contract documents a JSON body for 404, the answer has none "
        "(or not JSON)",
        "DELETE /users/PXPGF42 [deleteUser] -> 204: a 204 answer carries a body"]


@needs_contract
def test_flags_an_unknown_path_and_an_undocumented_method():
    problems = check_exchanges([exchange("GET", "/incident", 404, {"error": {}}),
                                exchange("PATCH", "/incidents/PT4KHLK", 404, {"error": {}}),
                                exchange("GET", "/v2/enqueue", 404, {"status": "not found"})])
    assert problems == [
        "GET /incident -> 404: no operation in the contract matches this path",
        "PATCH /incidents/PT4KHLK -> 404: the contract has no PATCH for this path",
        "GET /v2/enqueue -> 404: the contract has no GET for this path"]


@needs_contract
def test_checks_error_envelopes():
    good = {"error": {"code": 2100, "message": "Not Found", "errors": ["no such incident"]}}
    bad = {"error": {"code": "2100", "message": "Not Found"}}
    assert check_exchanges([exchange("GET", "/incidents/PNOPE", 404, good)]) == []
    assert check_exchanges([exchange("GET", "/incidents/PNOPE", 404, bad)]) == [
        "GET /incidents/PNOPE [getIncident] -> 404: response body /error/code: '2100' is not of type 'integer'"]


@needs_contract
def test_checks_the_request_of_a_2xx_answer_only(rest):
    body = example(rest, "POST", "/incidents", "201")
    request = {"incident": {"type": "incident", "title": 42, "service": {"id": "PIJ90N7", "type": "service_reference"}}}
    assert check_exchanges([exchange("POST", "/incidents", 201, body, request=request, headers=FROM)]) == [
        "POST /incidents [createIncident] -> 201: request body /incident/title: 42 is not of type 'string'"]
    refused = {"error": {"code": 2001, "message": "Invalid Input Provided", "errors": ["title"]}}
    assert check_exchanges([exchange("POST", "/incidents", 400, refused, request=request, headers=FROM)]) == []


@needs_contract
def test_flags_a_2xx_answer_without_the_required_from_header(rest):
    body = example(rest, "POST", "/incidents/{id}/notes")
    request = {"note": {"content": "Firefighters are on the scene."}}
    assert check_exchanges([exchange("POST", "/incidents/PT4KHLK/notes", 200, body, request=request)]) == [
        "POST /incidents/PT4KHLK/notes [createIncidentNote] -> 200: "
        "a 2xx answer to a request without the required From header"]
    assert check_exchanges([exchange("POST", "/incidents/PT4KHLK/notes", 200, body, request=request,
                                     headers=FROM)]) == []


@needs_contract
def test_checks_query_parameters(rest):
    body = example(rest, "GET", "/incidents")
    ok = {"statuses[]": ["triggered", "acknowledged"], "include[]": ["assignees"], "limit": ["100"],
          "total": ["true"], "since": ["2015-10-06T21:30:42+0000"]}
    assert check_exchanges([exchange("GET", "/incidents", 200, body, query=ok)]) == []
    problems = check_exchanges([
        exchange("GET", "/incidents", 200, body, query={"status": ["triggered"], "statuses[]": ["fixed"]}),
        exchange("GET", "/incidents", 200, body, query={"limit": ["ten"], "offset": ["0", "25"]}),
        exchange("GET", "/incidents", 401, {"error": {"code": 2006, "message": "x"}}, query={"colour": ["red"]})])
    assert problems == [
        "GET /incidents [listIncidents] -> 200: query parameter 'status' is not documented for this operation",
        "GET /incidents [listIncidents] -> 200: query parameter statuses[] /0: 'fixed' is not one of "
        "['triggered', 'acknowledged', 'resolved']",
        "GET /incidents [listIncidents] -> 200: query parameter limit: 'ten' is not an integer",
        "GET /incidents [listIncidents] -> 200: query parameter 'offset' is single-valued but was sent 2 times",
        "GET /incidents [listIncidents] -> 401: query parameter 'colour' is not documented for this operation"]


@needs_contract
def test_events_are_served_under_v2():
    request = {"routing_key": "R" * 32, "event_action": "trigger",
               "payload": {"summary": "disk full", "source": "db1", "severity": "critical",
                           "timestamp": "2015-07-17T08:42:58.315+0000"}}
    accepted = {"status": "success", "message": "Event processed", "dedup_key": "abc"}
    invalid = {"status": "invalid event", "message": "Event object is invalid", "errors": ["x"]}
    assert check_exchanges([
        exchange("POST", "/v2/enqueue", 202, accepted, request=request),
        exchange("POST", "/v2/enqueue", 400, invalid, request={"event_action": "trigger"}),
        exchange("POST", "/v2/change/enqueue", 202, accepted,
                 request={"routing_key": "R" * 32, "payload": {"summary": "deployed"}}),
        exchange("POST", "/v2/enqueue", 503, invalid, request=request)]) == []
    problems = check_exchanges([
        exchange("POST", "/v2/enqueue", 202, {"message": "Event processed"}, request=dict(request, routing_key=7)),
        exchange("POST", "/enqueue", 202, accepted, request=request)])
    assert problems == [
        "POST /v2/enqueue [createV2Event] -> 202: request body /routing_key: the value (masked) fails its 'type' check",
        "POST /v2/enqueue [createV2Event] -> 202: response body /: 'status' is a required property",
        "POST /enqueue -> 202: no operation in the contract matches this path"]


@needs_contract
def test_a_failed_oneof_names_the_nearest_alternative(rest):
    body = example(rest, "GET", "/log_entries/{id}")
    body["log_entry"]["created_at"] = 1447
    unknown = example(rest, "GET", "/log_entries/{id}")
    unknown["log_entry"]["type"] = "teleport_log_entry"
    assert check_exchanges([exchange("GET", "/log_entries/Q02JTSNZWHSEKV", 200, body),
                            exchange("GET", "/log_entries/Q02JTSNZWHSEKV", 200, unknown)]) == [
        "GET /log_entries/Q02JTSNZWHSEKV [getLogEntry] -> 200: response body /log_entry: matches none of the 15 "
        "oneOf alternatives; closest: /log_entry/created_at: 1447 is not of type 'string'",
        "GET /log_entries/Q02JTSNZWHSEKV [getLogEntry] -> 200: response body /log_entry: "
        "type 'teleport_log_entry' is the type of none of the alternatives"]


@needs_contract
def test_skips_hooks_and_deliberate_faults():
    assert check_exchanges([
        exchange("POST", "/_sandbox/reset", 200, {}, hook=True),
        exchange("GET", "/incidents", 500, None, fault={"status": 500, "malformed": True}),
        exchange("GET", "/incidents", None, None, fault={"drop": True})]) == []
    assert check_exchanges([exchange("GET", "/incidents", None)]) == [
        "GET /incidents -> None: no answer (the connection was dropped without a fault)"]


# --- it applies the README's corrections, and only those ------------------------------------------

def _altered(body, where, value):
    if where is not None:
        *parents, last = where
        node = body
        for key in parents:
            node = node[key]
        node[last] = value
    return body


CORRECTED = {
    # name: (method, path, operation's template, where the published example is altered (None: as is), value)
    "incident resolved_at null": ("GET", "/incidents/PT4KHLK", "/incidents/{id}", ["incident", "resolved_at"], None),
    "incident alert_grouping.ended_at null": ("GET", "/incidents/PT4KHLK", "/incidents/{id}",
                                              ["incident", "alert_grouping"], {"ended_at": None}),
    "incident resolve_reason null": ("GET", "/incidents/PT4KHLK", "/incidents/{id}",
                                     ["incident", "resolve_reason"], None),
    "incident priority null": ("GET", "/incidents/PT4KHLK", "/incidents/{id}", ["incident", "priority"], None),
    "incident body.details string": ("GET", "/incidents/PT4KHLK", "/incidents/{id}", ["incident", "body"],
                                     {"type": "incident_body", "details": "The server is on fire."}),
    "permanent on-call": ("GET", "/oncalls", "/oncalls", ["oncalls", 0],
                          {"user": {"id": "PT23IWX", "type": "user_reference"}, "escalation_level": 1,
                           "escalation_policy": {"id": "PT20YPA", "type": "escalation_policy_reference"},
                           "schedule": None, "start": None, "end": None}),
    "log entry channel (ambiguous oneOf)": ("GET", "/log_entries", "/log_entries", None, None),
    "acknowledge_log_entry": ("GET", "/log_entries/Q02JTSNZWHSEKV", "/log_entries/{id}",
                              ["log_entry", "type"], "acknowledge_log_entry"),
    "service alert_grouping_parameters (ambiguous oneOf)": ("GET", "/services", "/services", None, None),
    "escalation_rule_assignment_strategy object": (
        "GET", "/escalation_policies/PT20YPA", "/escalation_policies/{id}",
        ["escalation_policy", "escalation_rules", 0, "escalation_rule_assignment_strategy"], {"type": "round_robin"}),
    "notification rule contact_method type without _reference": (
        "GET", "/users/PXPGF42/notification_rules", "/users/{id}/notification_rules",
        ["notification_rules", 0, "contact_method", "type"], "email_contact_method"),
}


@needs_contract
def test_included_objects_may_carry_their_own_type_only_in_answers_to_include(rest):
    body = example(rest, "GET", "/users/{id}")
    body["user"]["teams"] = [{"id": "PQ9K7I8", "type": "team", "summary": "Engineering", "name": "Engineering",
                              "description": "All engineering"}]
    included = exchange("GET", "/users/PXPGF42", 200, body, query={"include[]": ["teams"]})
    assert check_exchanges([included]) == []
    plain = exchange("GET", "/users/PXPGF42", 200, body)
    assert check_exchanges([plain]) != []
    body["user"]["teams"][0]["type"] = "escalation_policy"   # still a type error, include[] or not
    assert check_exchanges([exchange("GET", "/users/PXPGF42", 200, body, query={"include[]": ["teams"]})]) != []


@needs_contract
def test_accepts_real_dates_where_the_file_has_a_placeholder_pattern(uncorrected):
    """since/until of the change event lists: a real date-time passes, a wrong one still fails."""
    query = {"since": ["2024-05-01T10:30:00Z"], "until": ["2024-05-01T12:00:00Z"]}
    answer = exchange("GET", "/change_events", 200, {"change_events": []}, query=query)
    assert check_exchanges([answer]) == []
    assert uncorrected.check(answer), "the published file alone should refuse this request"
    wrong = exchange("GET", "/change_events", 200, {"change_events": []}, query={"since": ["yesterday"]})
    assert check_exchanges([wrong]) != []


@pytest.fixture(scope="module")
def uncorrected():
    """A checker with none of the README's schema corrections (to show each one is needed)."""
    return oc.Checker(oc.contract_folder(), corrected=False)


@needs_contract
@pytest.mark.parametrize("case", sorted(CORRECTED))
def test_accepts_what_the_readme_corrects(rest, uncorrected, case):
    method, path, template, where, value = CORRECTED[case]
    body = _altered(example(rest, method, template), where, value)
    answer = exchange(method, path, 200, body)
    assert check_exchanges([answer]) == []
    assert uncorrected.check(answer), "the published file alone should refuse this answer"


@needs_contract
def test_corrections_stay_narrow(rest):
    body = example(rest, "GET", "/incidents/{id}")
    body["incident"]["title"] = None                 # not a field the README makes nullable
    body["incident"]["body"] = {"type": "incident_body", "details": 42}
    body["incident"]["status"] = "acknowledge_log_entry"
    assert check_exchanges([exchange("GET", "/incidents/PT4KHLK", 200, body)]) == [
        "GET /incidents/PT4KHLK [getIncident] -> 200: response body /incident/title: "
        "null where the contract does not allow null",
        "GET /incidents/PT4KHLK [getIncident] -> 200: response body /incident/status: 'acknowledge_log_entry' is not "
        "one of ['triggered', 'acknowledged', 'resolved']",
        "GET /incidents/PT4KHLK [getIncident] -> 200: response body /incident/body/details: "
        "matches none of the 2 anyOf alternatives; closest: /incident/body/details: 42 is not of type 'object'"]


@needs_contract
def test_timestamps_may_be_rfc3339_or_plus_0000(rest):
    def answer(stamp):
        body = example(rest, "GET", "/incidents/{id}")
        body["incident"]["created_at"] = stamp
        return exchange("GET", "/incidents/PT4KHLK", 200, body)

    for good in ("2015-10-06T21:30:42Z", "2015-10-06T21:30:42.123+0000", "2015-10-06T21:30:42-05:00"):
        assert check_exchanges([answer(good)]) == [], good
    for bad in ("2015-10-06 21:30:42", "2015-10-06T21:30:42", "2015-13-06T21:30:42Z", "yesterday"):
        assert check_exchanges([answer(bad)]) == [
            f"GET /incidents/PT4KHLK [getIncident] -> 200: response body /incident/created_at: "
            f"'{bad}' is not a 'date-time'"], bad


@needs_contract
def test_requests_may_carry_read_only_fields_and_put_may_be_partial(rest):
    created = example(rest, "POST", "/incidents", "201")
    request = {"incident": {"type": "incident", "title": "The server is on fire.",
                            "service": {"id": "PIJ90N7", "type": "service_reference", "summary": "Mail"},
                            "body": {"type": "incident_body", "details": "smoke everywhere"}}}
    user = example(rest, "GET", "/users/{id}")
    assert check_exchanges([
        exchange("POST", "/incidents", 201, created, request=request, headers=FROM),
        exchange("PUT", "/users/PXPGF42", 200, user, request={"user": {"name": "Earline"}}),
        exchange("PUT", "/incidents/PT4KHLK", 200, created, request={"incident": {"status": "resolved"}},
                 headers=FROM)]) == []
    assert check_exchanges([exchange("POST", "/users", 201, user, request={"user": {"name": "Earline"}},
                                     headers=FROM)]) == [
        "POST /users [createUser] -> 201: request body /user: 'email' is a required property",
        "POST /users [createUser] -> 201: request body /user: 'type' is a required property"]
    # Relaxed inside the wrapper only: the wrapper itself and deeper objects keep their `required`.
    assert check_exchanges([
        exchange("PUT", "/users/PXPGF42", 200, user, request={"name": "Earline"}),
        exchange("PUT", "/escalation_policies/PT20YPA", 200, example(rest, "GET", "/escalation_policies/{id}"),
                 request={"escalation_policy": {"escalation_rules": [{"escalation_delay_in_minutes": 5}]}})]) == [
        "PUT /users/PXPGF42 [updateUser] -> 200: request body /: 'user' is a required property",
        "PUT /escalation_policies/PT20YPA [updateEscalationPolicy] -> 200: request body "
        "/escalation_policy/escalation_rules/0: 'targets' is a required property"]
    # A wrapper that is a oneOf of kinds (contact methods) is relaxed too, but its `type` still picks the kind.
    method = {"contact_method": {"type": "phone_contact_method", "label": "Cell"}}
    path, answer = "/users/PXPGF42/contact_methods/PXPGF43", example(
        rest, "PUT", "/users/{id}/contact_methods/{contact_method_id}")
    assert check_exchanges([exchange("PUT", path, 200, answer, request=method)]) == []
    assert check_exchanges([exchange("PUT", path, 200, answer, request={"contact_method": {"label": "Cell"}})]) == [
        f"PUT {path} [updateUserContactMethod] -> 200: request body /contact_method: "
        "matches more than one of the 4 oneOf alternatives"]


@needs_contract
def test_the_published_examples_of_the_plugins_operations_pass_once_corrected(rest):
    """All but two: examples the file gets wrong itself, which no README correction covers."""
    with open(os.path.join(oc.contract_folder(), "relevant_operations.json"), encoding="utf-8") as fh:
        operations = json.load(fh)["operations"]
    problems = []
    for op in operations:
        for status, response in rest["paths"][op["path"]][op["method"].lower()]["responses"].items():
            media = oc._deref(rest, response).get("content", {}).get("application/json", {})
            for sample in media.get("examples", {}).values():
                problems += check_exchanges([exchange(op["method"], op["path"], int(status), sample["value"])])
    assert [line for line in problems if "response body" in line] == [
        "GET /users/me [getCurrentUser] -> 200: response body /user/created_via_sso: 'true,' is not of type 'boolean'",
        "GET /schedules/{id} [getSchedule] -> 200: response body /schedule/next_oncall_for_user/user: "
        "[{\"id\": \"PCQNVHM\", \"type\": \"user_reference\", \"summary\": \"Jim Halpert\", \"self\": … "
        "is not of type 'object'"]


# --- without the contract -----------------------------------------------------------------------

def test_the_skip_reason_names_the_missing_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PAGERDUTY_API_CONTRACT", raising=False)
    missing = os.path.join(oc.REPO, os.pardir, "no-such-folder")
    reason = oc.skip_reason(missing)
    assert reason.startswith("../no-such-folder not found: PagerDuty's published OpenAPI files are kept beside the "
                             "project, not in it")
    assert "PagerDuty/api-schema" in reason and reason.endswith("in ../no-such-folder, or name their folder in "
                                                                "PAGERDUTY_API_CONTRACT")
    (tmp_path / oc.FILES["rest"]).write_text("{}")
    monkeypatch.setenv("PAGERDUTY_API_CONTRACT", str(tmp_path))
    assert oc.skip_reason() == (f"{tmp_path} lacks {oc.FILES['events']}: the published contract is incomplete")


@pytest.mark.parametrize("workers", [[], ["-n", "2", "--dist", "loadfile"]], ids=["one process", "xdist"])
def test_the_suite_skips_with_the_reason_when_the_folder_is_absent(tmp_path, workers):
    if workers:
        pytest.importorskip("xdist", reason="pytest-xdist (make test's workers) is a test dependency")
    env = dict(os.environ, PAGERDUTY_API_CONTRACT=str(tmp_path / "absent"))
    done = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", *workers,
                           "-k", "wrong_type or tour or include"], capture_output=True, text=True, env=env, cwd=oc.REPO,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " skipped" in done.stdout and " passed" not in done.stdout, done.stdout
    # at the end, without -rs: the reasons grouped and counted (conftest's pytest_terminal_summary; under xdist,
    # the controller's, from the workers' reports)
    skipped = int(re.search(r"^(\d+) skipped", done.stdout, re.M).group(1))
    summary = done.stdout[done.stdout.index(f" {skipped} skipped, by reason "):]
    assert re.search(rf"^ +{skipped}  {re.escape(str(tmp_path / 'absent'))} not found: PagerDuty's published", summary,
                     re.M), summary


# --- a tour of the sandbox over real HTTP ---------------------------------------------------------

class Tour:
    """Calls the sandbox as a client would; `surprises` lists every answer whose status was not the one
    the published contract (and README) leads a client to expect."""

    def __init__(self, sandbox):
        import requests

        self.sandbox = sandbox
        self.session = requests.Session()
        self.keys = {"full": sandbox.api_key, "read_only": sandbox.readonly_api_key, "user": sandbox.user_api_key,
                     "wrong": "u+not_a_Key-0000", None: None}
        self.surprises = []

    def call(self, method, path, status, body=None, *, params=None, key="full", sender=True):
        info = self.sandbox.info
        headers = {"Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json"}
        if self.keys[key]:
            headers["Authorization"] = f"Token token={self.keys[key]}"
        if sender:
            headers["From"] = info["from_email"]
        base = info["events_url"] if path.startswith("/enqueue") or path.startswith("/change/") else info["api_url"]
        answer = self.session.request(method, base + path, headers=headers, json=body, params=params, timeout=10)
        if answer.status_code != status:
            self.surprises.append(f"{method} {path}: expected {status}, got {answer.status_code} {answer.text[:200]}")
        try:
            return answer.json()
        except ValueError:
            return {}

    def created(self, method, path, status, body, key, **options):
        """The id of what a create answered (a placeholder when it failed, already noted as a surprise)."""
        return (self.call(method, path, status, body, **options).get(key) or {}).get("id", "PFAILED")


def tour_users(t, ids):
    admin, team = ids["users"]["admin"], ids["teams"][0]
    t.call("GET", "/users", 200, params={"query": "a", "limit": 3, "offset": 1, "total": "true"})
    t.call("GET", "/users", 200, params={"team_ids[]": [team]})
    t.call("GET", "/users", 400, params={"offset": 9950, "limit": 100})
    t.call("GET", "/users", 401, key="wrong")
    t.call("GET", "/users", 401, key=None)
    t.call("GET", f"/users/{admin}", 200)
    t.call("GET", "/users/PNOPE00", 404)
    t.call("GET", "/users/me", 200, key="user")
    t.call("GET", "/users/me", 400)
    user = t.created("POST", "/users", 201, {"user": {"type": "user", "name": "Tess Tour", "email": "tess@example.com",
                                                      "role": "limited_user", "time_zone": "Europe/Paris"}}, "user")
    t.call("POST", "/users", 400, {"user": {"type": "user", "name": "No Email"}})
    t.call("POST", "/users", 400, {"user": {"type": "user", "name": "No From", "email": "nf@example.com"}},
           sender=False)
    t.call("POST", "/users", 403, {"user": {"type": "user", "name": "Reader", "email": "r@example.com"}},
           key="read_only")
    t.call("PUT", f"/users/{user}", 200, {"user": {"job_title": "Tourist"}})
    t.call("PUT", "/users/PNOPE00", 404, {"user": {"job_title": "Ghost"}})
    return user


def tour_contact_methods_and_rules(t, user):
    base = f"/users/{user}"
    t.call("GET", f"{base}/contact_methods", 200)
    method = t.created("POST", f"{base}/contact_methods", 201, {"contact_method": {
        "type": "phone_contact_method", "label": "Mobile", "address": "5555550199", "country_code": 1}},
        "contact_method")
    t.call("POST", f"{base}/contact_methods", 400, {"contact_method": {"type": "email_contact_method", "label": "x"}})
    t.call("GET", f"{base}/contact_methods/{method}", 200)
    t.call("GET", f"{base}/contact_methods/PNOPE00", 404)
    t.call("PUT", f"{base}/contact_methods/{method}", 200, {"contact_method": {
        "type": "phone_contact_method", "label": "Cell", "address": "5555550198", "country_code": 1}})
    t.call("GET", f"{base}/notification_rules", 200, params={"urgency": "high"})
    rule = t.created("POST", f"{base}/notification_rules", 201, {"notification_rule": {
        "type": "assignment_notification_rule", "start_delay_in_minutes": 0, "urgency": "high",
        "contact_method": {"id": method, "type": "phone_contact_method_reference"}}}, "notification_rule")
    t.call("POST", f"{base}/notification_rules", 400, {"notification_rule": {
        "type": "assignment_notification_rule", "start_delay_in_minutes": 0, "urgency": "high"}})
    t.call("GET", f"{base}/notification_rules/{rule}", 200)
    t.call("GET", f"{base}/notification_rules/PNOPE00", 404)
    t.call("PUT", f"{base}/notification_rules/{rule}", 200, {"notification_rule": {"start_delay_in_minutes": 5}})
    t.call("DELETE", f"{base}/notification_rules/{rule}", 204)
    t.call("DELETE", f"{base}/notification_rules/PNOPE00", 404)
    t.call("DELETE", f"{base}/contact_methods/{method}", 204)
    t.call("DELETE", f"{base}/contact_methods/PNOPE00", 404)


def tour_teams(t, ids, user):
    team, policy = ids["teams"][0], ids["escalation_policies"][0]
    t.call("GET", "/teams", 200, params={"query": "Plat", "limit": 10, "total": "true"})
    t.call("GET", f"/teams/{team}", 200)
    t.call("GET", "/teams/PNOPE00", 404)
    t.call("GET", f"/teams/{team}/members", 200, params={"limit": 2})
    t.call("GET", "/teams/PNOPE00/members", 404)
    new = t.created("POST", "/teams", 201, {"team": {"type": "team", "name": "Tour Team", "description": "x"}}, "team")
    t.call("POST", "/teams", 400, {"team": {"type": "team", "description": "nameless"}})
    t.call("POST", "/teams", 403, {"team": {"type": "team", "name": "Readers"}}, key="read_only")
    t.call("PUT", f"/teams/{new}", 200, {"team": {"description": "toured"}})
    t.call("PUT", "/teams/PNOPE00", 404, {"team": {"description": "ghost"}})
    t.call("PUT", f"/teams/{new}/users/{user}", 204, {"role": "responder"})
    t.call("PUT", f"/teams/{new}/users/PNOPE00", 404, {"role": "responder"})
    t.call("PUT", f"/teams/{new}/escalation_policies/{policy}", 204)
    t.call("DELETE", f"/teams/{new}/escalation_policies/{policy}", 204)
    t.call("DELETE", f"/teams/{new}/users/{user}", 204)
    t.call("DELETE", f"/teams/{new}", 204)


def tour_escalation_policies_and_schedules(t, ids, user):
    policy, schedule = ids["escalation_policies"][0], ids["schedules"][0]
    week = {"since": "2024-01-01T00:00:00Z", "until": "2024-01-08T00:00:00Z"}
    t.call("GET", "/escalation_policies", 200, params={"query": "", "user_ids[]": [ids["users"]["admin"]]})
    t.call("GET", f"/escalation_policies/{policy}", 200)
    t.call("GET", "/escalation_policies/PNOPE00", 404)
    new = t.created("POST", "/escalation_policies", 201, {"escalation_policy": {
        "type": "escalation_policy", "name": "Tour EP", "escalation_rules": [
            {"escalation_delay_in_minutes": 10, "targets": [{"id": user, "type": "user_reference"}]}]}},
        "escalation_policy")
    t.call("POST", "/escalation_policies", 400,
           {"escalation_policy": {"type": "escalation_policy", "name": "No rules"}})
    t.call("PUT", f"/escalation_policies/{new}", 200, {"escalation_policy": {"name": "Tour EP 2"}})
    t.call("PUT", "/escalation_policies/PNOPE00", 404, {"escalation_policy": {"name": "Ghost"}})
    t.call("GET", "/schedules", 200, params={"query": "", "limit": 5})
    t.call("GET", f"/schedules/{schedule}", 200, params={"time_zone": "UTC", **week})
    t.call("GET", "/schedules/PNOPE00", 404)
    t.call("GET", f"/schedules/{schedule}/users", 200, params=week)
    t.call("GET", f"/schedules/{schedule}/overrides", 201, params=week)      # 201: what the contract documents
    answer = t.call("POST", f"/schedules/{schedule}/overrides", 201, {"overrides": [{
        "start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z", "time_zone": "UTC",
        "user": {"id": user, "type": "user_reference"}}]})
    override = ((answer[0] if isinstance(answer, list) and answer else {}).get("override") or {}).get("id", "PFAILED")
    t.call("DELETE", f"/schedules/{schedule}/overrides/{override}", 204)
    t.call("DELETE", f"/schedules/{schedule}/overrides/PNOPE00", 404)
    layer = {"start": "2024-01-01T00:00:00Z", "rotation_virtual_start": "2024-01-01T00:00:00Z",
             "rotation_turn_length_seconds": 86400, "users": [{"user": {"id": user, "type": "user_reference"}}]}
    new_schedule = t.created("POST", "/schedules", 201, {"schedule": {
        "type": "schedule", "name": "Tour schedule", "time_zone": "UTC", "schedule_layers": [layer]}}, "schedule")
    t.call("POST", "/schedules", 400, {"schedule": {"type": "schedule", "name": "No layers", "time_zone": "UTC"}})
    t.call("PUT", f"/schedules/{new_schedule}", 200, {"schedule": {
        "type": "schedule", "name": "Tour schedule 2", "time_zone": "UTC", "schedule_layers": [layer]}})
    t.call("DELETE", f"/schedules/{new_schedule}", 204)
    t.call("DELETE", "/schedules/PNOPE00", 404)
    t.call("GET", "/oncalls", 200, params={"earliest": "true", "schedule_ids[]": [schedule], "time_zone": "UTC"})
    t.call("GET", "/oncalls", 200, params={"escalation_policy_ids[]": [policy], "limit": 5})
    return new


def tour_account(t, sandbox):
    t.call("GET", "/priorities", 200)
    t.call("GET", "/abilities", 200)
    t.call("GET", "/abilities/teams", 204)
    t.call("GET", "/abilities/no_such_ability", 404)
    sandbox.disable_ability("teams")
    t.call("GET", "/abilities/teams", 402)
    sandbox.enable_ability("teams")


def tour_services_and_extensions(t, ids, policy):
    service, schema = ids["services"][0], ids["extension_schemas"][0]
    t.call("GET", "/services", 200, params={"query": "", "sort_by": "name", "total": "true"})
    t.call("GET", f"/services/{service}", 200)
    t.call("GET", "/services/PNOPE00", 404)
    new = t.created("POST", "/services", 201, {"service": {
        "type": "service", "name": "Tour service",
        "escalation_policy": {"id": policy, "type": "escalation_policy_reference"}}}, "service")
    t.call("POST", "/services", 400, {"service": {"type": "service", "name": "No policy"}})
    t.call("PUT", f"/services/{new}", 200, {"service": {"description": "toured"}})
    t.call("PUT", "/services/PNOPE00", 404, {"service": {"description": "ghost"}})
    integration = t.created("POST", f"/services/{new}/integrations", 201, {"integration": {
        "type": "events_api_v2_inbound_integration", "name": "Events"}}, "integration")
    t.call("GET", f"/services/{new}/integrations/{integration}", 200)
    t.call("GET", f"/services/{new}/integrations/PNOPE00", 404)
    t.call("PUT", f"/services/{new}/integrations/{integration}", 200, {"integration": {
        "type": "events_api_v2_inbound_integration", "name": "Events 2"}})
    t.call("GET", "/extension_schemas", 200)
    t.call("GET", f"/extension_schemas/{schema}", 200)
    t.call("GET", "/extension_schemas/PNOPE00", 404)
    t.call("GET", "/extensions", 200, params={"extension_object_id": service})
    extension = t.created("POST", "/extensions", 201, {"extension": {
        "name": "Tour hook", "endpoint_url": "https://example.com/hook",
        "extension_schema": {"id": schema, "type": "extension_schema_reference"},
        "extension_objects": [{"id": new, "type": "service_reference"}]}}, "extension")
    t.call("POST", "/extensions", 400, {"extension": {"name": "No schema"}})
    t.call("GET", f"/extensions/{extension}", 200)
    t.call("GET", "/extensions/PNOPE00", 404)
    t.call("PUT", f"/extensions/{extension}", 200, {"extension": {"name": "Tour hook 2"}})
    t.call("POST", f"/extensions/{extension}/enable", 200)
    t.call("DELETE", f"/extensions/{extension}", 204)
    t.call("DELETE", "/extensions/PNOPE00", 404)
    t.call("GET", "/maintenance_windows", 200, params={"filter": "future", "service_ids[]": [new]})
    window = t.created("POST", "/maintenance_windows", 201, {"maintenance_window": {
        "type": "maintenance_window", "start_time": "2030-01-01T00:00:00Z", "end_time": "2030-01-01T01:00:00Z",
        "description": "tour", "services": [{"id": new, "type": "service_reference"}]}}, "maintenance_window")
    t.call("POST", "/maintenance_windows", 400, {"maintenance_window": {
        "type": "maintenance_window", "start_time": "2030-01-01T01:00:00Z", "end_time": "2030-01-01T00:00:00Z",
        "services": [{"id": new, "type": "service_reference"}]}})
    t.call("GET", f"/maintenance_windows/{window}", 200)
    t.call("GET", "/maintenance_windows/PNOPE00", 404)
    t.call("PUT", f"/maintenance_windows/{window}", 200, {"maintenance_window": {"description": "tour 2"}})
    t.call("DELETE", f"/maintenance_windows/{window}", 204)
    t.call("DELETE", "/maintenance_windows/PNOPE00", 404)
    return new


INCIDENT_INCLUDES = ["acknowledgers", "agents", "assignees", "conference_bridge", "escalation_policies",
                     "first_trigger_log_entries", "priorities", "services", "teams", "users"]


def tour_incidents(t, ids, service):
    admin, responder = ids["users"]["admin"], ids["responders"][0]
    reference = {"id": service, "type": "service_reference"}
    t.call("GET", "/incidents", 200, params={"statuses[]": ["triggered", "acknowledged"], "urgencies[]": ["high"],
                                             "include[]": INCIDENT_INCLUDES, "date_range": "all", "limit": 5,
                                             "total": "true", "sort_by": "created_at:desc"})
    t.call("GET", "/incidents", 200, params={"service_ids[]": [ids["services"][0]], "since": "2024-01-01T00:00:00Z",
                                             "until": "2024-01-31T00:00:00Z"})
    t.call("GET", "/incidents", 400, params={"since": "2020-01-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"})
    t.call("GET", f"/incidents/{ids['incidents']['triggered'][0]}", 200, params={"include[]": INCIDENT_INCLUDES})
    t.call("GET", "/incidents/PNOPE00", 404)
    incident = t.created("POST", "/incidents", 201, {"incident": {
        "type": "incident", "title": "Tour fire", "service": reference, "urgency": "high", "incident_key": "tour-1",
        "priority": {"id": ids["priorities"]["P1"], "type": "priority_reference"},
        "body": {"type": "incident_body", "details": "smoke everywhere"}}}, "incident")
    t.call("POST", "/incidents", 400, {"incident": {"type": "incident", "title": "Again", "service": reference,
                                                    "incident_key": "tour-1"}})
    t.call("POST", "/incidents", 400, {"incident": {"type": "incident", "title": "x", "service": reference}},
           sender=False)
    t.call("POST", "/incidents", 403, {"incident": {"type": "incident", "title": "x", "service": reference}},
           key="read_only")
    t.call("PUT", f"/incidents/{incident}", 200, {"incident": {"type": "incident_reference", "status": "acknowledged"}})
    t.call("PUT", "/incidents/PNOPE00", 404, {"incident": {"type": "incident_reference", "status": "acknowledged"}})
    t.call("GET", f"/incidents/{incident}/notes", 200)
    t.call("GET", "/incidents/PNOPE00/notes", 404)
    note = t.created("POST", f"/incidents/{incident}/notes", 200, {"note": {"content": "on it"}}, "note")
    t.call("POST", f"/incidents/{incident}/notes", 400, {"note": {"content": ""}})
    t.call("PUT", f"/incidents/{incident}/notes/{note}", 200, {"note": {"content": "on it, really"}})
    t.call("PUT", f"/incidents/{incident}/notes/PNOPE00", 404, {"note": {"content": "ghost"}})
    t.call("DELETE", f"/incidents/{incident}/notes/{note}", 204)
    t.call("POST", f"/incidents/{incident}/status_updates", 200, {"message": "Investigating"})
    t.call("POST", f"/incidents/{incident}/status_updates", 400, {"subject": "no message"})
    t.call("POST", f"/incidents/{incident}/snooze", 201, {"duration": 3600})
    t.call("POST", f"/incidents/{incident}/snooze", 400, {"duration": 0})
    targets = [{"responder_request_target": {"id": responder, "type": "user_reference"}}]
    t.call("POST", f"/incidents/{incident}/responder_requests", 200,
           {"requester_id": admin, "message": "help", "responder_request_targets": targets})
    t.call("POST", f"/incidents/{incident}/responder_requests", 400, {"message": "who asks?",
                                                                     "responder_request_targets": targets})
    t.call("PUT", f"/incidents/{incident}/responder_requests/cancel", 200,
           {"requester_id": admin, "responder_request_targets": [{"id": responder, "type": "user_reference"}]})
    t.call("GET", f"/incidents/{incident}/log_entries", 200, params={"include[]": ["channels"], "is_overview": "false"})
    entries = t.call("GET", "/log_entries", 200, params={"limit": 100, "total": "true", "time_zone": "UTC"})
    entries = entries.get("log_entries") or [{"id": "PFAILED", "channel": {}}]
    t.call("GET", f"/log_entries/{entries[0]['id']}", 200, params={"include[]": ["incidents"]})
    t.call("GET", "/log_entries/PNOPE00", 404)
    web = next((e["id"] for e in entries if e.get("channel", {}).get("type") == "web_trigger"), "PFAILED")
    t.call("PUT", f"/log_entries/{web}/channel", 202, {"channel": {"type": "web_trigger", "details": "edited"}})
    t.call("PUT", f"/log_entries/{web}/channel", 400, {"channel": {"type": "mobile", "details": "edited"}})
    source = t.created("POST", "/incidents", 201, {"incident": {"type": "incident", "title": "Tour source",
                                                                "service": reference}}, "incident")
    t.call("PUT", f"/incidents/{incident}/merge", 200,
           {"source_incidents": [{"id": source, "type": "incident_reference"}]})
    t.call("PUT", f"/incidents/{incident}/merge", 400,       # 1004 invalid id: the target exists
           {"source_incidents": [{"id": "PNOPE00", "type": "incident_reference"}]})
    t.call("PUT", "/incidents/PNOPE00/merge", 404, {"source_incidents": [{"id": source, "type": "incident_reference"}]})
    t.call("PUT", "/incidents", 200,
           {"incidents": [{"id": incident, "type": "incident_reference", "status": "resolved"}]})
    t.call("GET", f"/incidents/{incident}", 200)


def tour_events_and_alerts(t, ids):
    key = ids["routing_key"]
    event = {"routing_key": key, "event_action": "trigger", "dedup_key": "tour-disk",
             "payload": {"summary": "Disk full", "source": "db1", "severity": "critical",
                         "timestamp": "2030-01-01T00:00:00.000+0000", "custom_details": {"free": "0%"}},
             "links": [{"href": "https://example.com/runbook", "text": "Runbook"}]}
    t.call("POST", "/enqueue", 202, event, key=None, sender=False)
    t.call("POST", "/enqueue", 202, dict(event, dedup_key="tour-cpu", payload=dict(event["payload"], summary="CPU")),
           key=None, sender=False)
    t.call("POST", "/enqueue", 400, {"routing_key": key, "event_action": "trigger"}, key=None, sender=False)
    t.call("POST", "/enqueue", 202, {"routing_key": key, "event_action": "acknowledge", "dedup_key": "tour-cpu"},
           key=None, sender=False)
    t.call("POST", "/change/enqueue", 202, {"routing_key": key, "payload": {"summary": "Deployed", "source": "ci"}},
           key=None, sender=False)
    t.call("POST", "/change/enqueue", 400, {"routing_key": key}, key=None, sender=False)
    listed = t.call("GET", "/incidents", 200, params={"statuses[]": ["triggered"], "date_range": "all",
                                                      "sort_by": "created_at:desc", "limit": 1})
    incident = ((listed.get("incidents") or [{}])[0]).get("id", "PFAILED")
    alerts = t.call("GET", f"/incidents/{incident}/alerts", 200, params={"statuses[]": ["triggered"]})
    alert = ((alerts.get("alerts") or [{}])[0]).get("id", "PFAILED")
    t.call("GET", f"/incidents/{incident}/alerts/{alert}", 200)
    t.call("GET", f"/incidents/{incident}/alerts/PNOPE00", 404)
    t.call("PUT", f"/incidents/{incident}/alerts/{alert}", 200, {"alert": {"type": "alert", "status": "resolved"}})
    t.call("PUT", f"/incidents/{incident}/alerts", 200,
           {"alerts": [{"id": alert, "type": "alert", "status": "resolved"}]})
    tour_change_events(t, ids, incident)
    tour_analytics(t)


def tour_analytics(t):
    """Analytics: every aggregation, raw rows by cursor, and what PagerDuty refuses (400)."""
    window = {"created_at_start": "2020-01-01T00:00:00Z", "created_at_end": "2020-12-01T00:00:00Z"}
    for group in ("all", "services", "teams", "escalation_policies"):
        t.call("POST", f"/analytics/metrics/incidents/{group}", 200, {"aggregate_unit": "week"})
        t.call("POST", f"/analytics/metrics/incidents/{group}", 400, {"aggregate_unit": "year"})
    first = t.call("POST", "/analytics/raw/incidents", 200, {"limit": 2})
    t.call("POST", "/analytics/raw/incidents", 200, {"limit": 2, "starting_after": first.get("last", "PFAILED")})
    t.call("POST", "/analytics/raw/incidents", 200, {"filters": window})
    t.call("POST", "/analytics/raw/incidents", 400, {"limit": 1001})


def tour_change_events(t, ids, incident):
    service = ids["services"][0]
    listed = t.call("GET", "/change_events", 200, params={"limit": 5, "total": "true", "since": "2020-01-01T00:00:00Z",
                                                          "until": "2099-01-01T00:00:00Z"})
    change = ((listed.get("change_events") or [{}])[0]).get("id", "PFAILED")
    t.call("GET", "/change_events", 400, params={"since": "not a date"})
    t.call("GET", f"/change_events/{change}", 200)
    t.call("GET", "/change_events/01BBYA6PEVW6A852BUO6QYUE7O", 404)
    t.call("PUT", f"/change_events/{change}", 200, {"change_event": {"summary": "Deployed v2",
                                                                      "custom_details": {"build": "2"}}})
    t.call("PUT", f"/change_events/{change}", 400, {"change_event": {"custom_details": "none"}})
    t.call("GET", f"/services/{service}/change_events", 200, params={"team_ids[]": [ids["teams"][0]]})
    t.call("GET", "/services/PNOPE00/change_events", 404)
    t.call("GET", f"/incidents/{incident}/related_change_events", 200, params={"limit": 10})
    t.call("GET", "/incidents/PNOPE00/related_change_events", 404)


def tour_webhook_subscriptions(t, ids, service):
    hook = {"type": "http_delivery_method", "url": "http://127.0.0.1:9/webhooks/pagerduty",
            "custom_headers": [{"name": "X-Tour", "value": "yes"}]}
    body = {"webhook_subscription": {"type": "webhook_subscription", "delivery_method": hook,
                                     "events": ["incident.triggered", "incident.resolved"],
                                     "filter": {"type": "service_reference", "id": service},
                                     "description": "Tour webhooks"}}
    sub = t.created("POST", "/webhook_subscriptions", 200, body, "webhook_subscription")
    t.call("POST", "/webhook_subscriptions", 400, {"webhook_subscription": {**body["webhook_subscription"],
                                                                            "events": ["incident.nope"]}})
    t.call("POST", "/webhook_subscriptions", 403, body, key="read_only")
    t.call("GET", "/webhook_subscriptions", 200, params={"filter_type": "service", "filter_id": service,
                                                         "limit": 5, "total": "true"})
    t.call("GET", "/webhook_subscriptions", 400, params={"filter_type": "team"})
    t.call("GET", f"/webhook_subscriptions/{sub}", 200)
    t.call("GET", "/webhook_subscriptions/PNOPE00", 404)
    t.call("PUT", f"/webhook_subscriptions/{sub}", 200, {"webhook_subscription": {"events": ["incident.resolved"]}})
    t.call("PUT", f"/webhook_subscriptions/{sub}", 400, {"webhook_subscription": {"delivery_method": hook}})
    t.call("PUT", "/webhook_subscriptions/PNOPE00", 404, {"webhook_subscription": {"active": False}})
    t.call("POST", f"/webhook_subscriptions/{sub}/enable", 200)
    t.call("POST", "/webhook_subscriptions/PNOPE00/enable", 404)
    t.call("POST", f"/webhook_subscriptions/{sub}/ping", 202)
    t.call("POST", "/webhook_subscriptions/PNOPE00/ping", 404)
    t.call("DELETE", f"/webhook_subscriptions/{sub}", 204)
    t.call("DELETE", "/webhook_subscriptions/PNOPE00", 404)


def tour_newer_families(t, ids):
    """Incident workflows, automation actions, incident types and custom fields, past and related incidents,
    status pages (PagerDuty 2025–2026)."""
    incident = ids["incidents"]["triggered"][0]
    workflow, action = ids["incident_workflows"][0], ids["automation_actions"][0]
    t.call("GET", "/incident_workflows", 200, params={"query": "kickoff", "include[]": ["steps"], "limit": 5})
    t.call("GET", "/incident_workflows", 400, params={"include[]": ["nope"]})
    t.call("GET", f"/incident_workflows/{workflow}", 201)   # as the contract documents it
    t.call("GET", "/incident_workflows/PNOPE00", 404)
    instance = {"incident_workflow_instance": {"incident": {"id": incident, "type": "incident_reference"}}}
    t.call("POST", f"/incident_workflows/{workflow}/instances", 201, instance)
    t.call("POST", "/incident_workflows/PNOPE00/instances", 404, instance)
    t.call("POST", f"/incident_workflows/{workflow}/instances", 400,
           {"incident_workflow_instance": {"incident": {"id": "PNOPE00", "type": "incident_reference"}}})
    t.call("GET", "/automation_actions/actions", 200, params={"limit": 1, "classification": "diagnostic"})
    t.call("GET", "/automation_actions/actions", 400, params={"classification": "nope"})
    t.call("GET", f"/automation_actions/actions/{action}", 200)
    t.call("GET", "/automation_actions/actions/01NOPE0000000000000000000", 404)
    invocation = t.created("POST", f"/automation_actions/actions/{action}/invocations", 201,
                           {"invocation": {"metadata": {"incident_id": incident}}}, "invocation")
    t.call("POST", f"/automation_actions/actions/{action}/invocations", 400, {"invocation": {"metadata": {}}})
    t.call("POST", "/automation_actions/actions/01NOPE0000000000000000000/invocations", 404,
           {"invocation": {"metadata": {"incident_id": incident}}})
    t.call("GET", "/automation_actions/invocations", 200, params={"incident_id": incident, "action_id": action})
    t.call("GET", "/automation_actions/invocations", 400, params={"invocation_state": "nope"})
    t.call("GET", f"/automation_actions/invocations/{invocation}", 200)
    t.call("GET", "/automation_actions/invocations/01NOPE0000000000000000000", 404)
    t.call("GET", "/incidents/types", 200, params={"filter": "all"})
    t.call("GET", "/incidents/types", 400, params={"filter": "nope"})
    t.call("GET", "/incidents/types/security", 200)
    t.call("GET", "/incidents/types/nope", 404)
    fields = t.call("GET", "/incidents/types/security/custom_fields", 200, params={"include[]": ["field_options"]})
    t.call("GET", "/incidents/types/nope/custom_fields", 404)
    field = ((fields.get("fields") or [{}])[0]).get("id", "PFAILED")
    t.call("GET", f"/incidents/types/security/custom_fields/{field}/field_options", 200)
    t.call("GET", "/incidents/types/security/custom_fields/PNOPE00/field_options", 404)
    typed = t.created("POST", "/incidents", 201, {"incident": {
        "type": "incident", "title": "Tour security", "incident_type": {"name": "security"},
        "service": {"id": ids["services"][0], "type": "service_reference"}}}, "incident")
    t.call("GET", f"/incidents/{typed}/custom_fields/values", 200)
    t.call("GET", "/incidents/PNOPE00/custom_fields/values", 404)
    t.call("PUT", f"/incidents/{typed}/custom_fields/values", 201,
           {"custom_fields": [{"name": "environment", "value": "production"}, {"name": "affected_users", "value": 3},
                              {"name": "affected_regions", "value": ["eu", "us"]}]})
    t.call("PUT", "/incidents/PNOPE00/custom_fields/values", 404, {"custom_fields": [{"name": "x", "value": 1}]})
    t.call("GET", f"/incidents/{incident}/past_incidents", 200, params={"limit": 5, "total": "true"})
    t.call("GET", "/incidents/PNOPE00/past_incidents", 404)
    t.call("GET", f"/incidents/{incident}/related_incidents", 200, params={"additional_details[]": ["incident"]})
    t.call("GET", "/incidents/PNOPE00/related_incidents", 404)
    tour_status_pages(t, ids)


def tour_status_pages(t, ids):
    page = ids["status_pages"][0]
    t.call("GET", "/status_pages", 200, params={"status_page_type": "public"})
    t.call("GET", "/status_pages", 400, params={"status_page_type": "nope"})
    choices = {}
    for collection in ("statuses", "severities", "impacts"):
        answer = t.call("GET", f"/status_pages/{page}/{collection}", 200, params={"post_type": "incident"})
        choices[collection] = ((answer.get(collection) or [{}])[0]).get("id", "PFAILED")
        t.call("GET", f"/status_pages/PNOPE00/{collection}", 404)
    update = {"type": "status_page_post_update", "message": "Investigating", "update_frequency_ms": None,
              "notify_subscribers": False, "impacted_services": [],
              "status": {"id": choices["statuses"], "type": "status_page_status"},
              "severity": {"id": choices["severities"], "type": "status_page_severity"}}
    post_body = {"post": {"type": "status_page_post", "title": "Tour post", "post_type": "incident", "starts_at": None,
                          "ends_at": None, "status_page": {"id": page, "type": "status_page"}, "updates": [update]}}
    post = t.created("POST", f"/status_pages/{page}/posts", 201, post_body, "post")
    t.call("POST", f"/status_pages/{page}/posts", 400, {"post": {**post_body["post"], "updates": []}})
    t.call("GET", f"/status_pages/{page}/posts/{post}", 200)
    t.call("GET", f"/status_pages/{page}/posts/PNOPE00", 404)
    t.call("PUT", f"/status_pages/{page}/posts/{post}", 200,
           {"post": {"type": "status_page_post", "title": "Tour post 2", "status_page": {"id": page}}})
    t.call("PUT", f"/status_pages/{page}/posts/PNOPE00", 404, {"post": {"type": "status_page_post", "title": "x"}})
    t.call("POST", f"/status_pages/{page}/posts/{post}/post_updates", 201,
           {"post_update": {**update, "post": {"id": post, "type": "status_page_post"}}})
    t.call("POST", f"/status_pages/{page}/posts/{post}/post_updates", 400, {"post_update": {"message": ""}})
    t.call("GET", f"/status_pages/{page}/posts/{post}/post_updates", 200, params={"reviewed_status": "approved"})
    t.call("GET", f"/status_pages/{page}/posts/PNOPE00/post_updates", 404)


@pytest.fixture(scope="module")
def tour():
    from pagerduty_plugin.sandbox import Sandbox

    sandbox = Sandbox(seed="demo").start()
    try:
        t = Tour(sandbox)
        ids = sandbox.seed_ids
        user = tour_users(t, ids)
        tour_contact_methods_and_rules(t, user)
        tour_teams(t, ids, user)
        policy = tour_escalation_policies_and_schedules(t, ids, user)
        tour_account(t, sandbox)
        service = tour_services_and_extensions(t, ids, policy)
        tour_webhook_subscriptions(t, ids, service)
        tour_incidents(t, ids, service)
        tour_events_and_alerts(t, ids)
        tour_newer_families(t, ids)
        t.call("DELETE", f"/services/{service}", 204)
        t.call("DELETE", f"/escalation_policies/{policy}", 204)
        t.call("DELETE", "/escalation_policies/PNOPE00", 404)
        t.call("DELETE", f"/users/{user}", 204)
        t.call("DELETE", "/users/PNOPE00", 404)
    finally:
        sandbox.stop()
    return t, sandbox.exchanges


@needs_contract
def test_tour_every_answer_follows_the_published_contract(tour):
    t, exchanges = tour
    assert len(exchanges) > 150
    problems = check_exchanges(exchanges)
    assert (problems, t.surprises) == ([], []), "\n".join(["contract:", *problems, "statuses:", *t.surprises])


@needs_contract
def test_tour_visits_every_route_the_sandbox_serves_with_success_and_error(tour):
    from pagerduty_plugin.sandbox import routing

    _, exchanges = tour
    seen = {}
    for entry in exchanges:
        route, _ = routing.match(entry["method"], entry["path"])
        name = f"{entry['method']} {route.template if route else entry['path']}"
        seen.setdefault(name, set()).add("ok" if 200 <= entry["status"] < 300 else "error")
    served = {f"{route.method} {route.template}" for route in routing.all_routes()}
    assert sorted(served - set(seen)) == []
    assert {name for name, kinds in seen.items() if kinds == {"ok", "error"}} >= {
        "GET /users/{id}", "GET /incidents/{id}", "POST /incidents", "POST /v2/enqueue", "GET /teams/{id}",
        "GET /services/{id}", "GET /schedules/{id}", "GET /escalation_policies/{id}", "GET /log_entries/{id}"}


@needs_contract
def test_include_expansions_the_plugin_asks_for_follow_the_published_contract():
    """include[] as the plugin's actions send it (users, notification rules, team members, incidents)."""
    from pagerduty_plugin.sandbox import Sandbox

    with Sandbox(seed="demo") as sandbox:
        t, ids = Tour(sandbox), sandbox.seed_ids
        admin, team = ids["users"]["admin"], ids["teams"][0]
        users = ["contact_methods", "notification_rules", "teams"]
        t.call("GET", "/users", 200, params={"limit": 2, "include[]": users})
        t.call("GET", f"/users/{admin}", 200, params={"include[]": users})
        t.call("GET", f"/users/{admin}/notification_rules", 200, params={"include[]": ["contact_methods"]})
        t.call("GET", f"/teams/{team}/members", 200, params={"limit": 2, "include[]": ["users"]})
        t.call("GET", "/incidents", 200, params={"include[]": INCIDENT_INCLUDES, "date_range": "all"})
    problems = check_exchanges(sandbox.exchanges)
    assert (problems, t.surprises) == ([], []), "\n".join(["contract:", *problems, "statuses:", *t.surprises])
