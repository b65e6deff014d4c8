"""Incident actions under faults injected by the sandbox (rate limits, outages, timeouts,
malformed answers) with the number of requests counted, and pagination at scale."""

import time

import pytest

from incident_support import api, open_incident, since

pytestmark = pytest.mark.no_conformance


def tries(journal, mark, method, path):
    return [e for e in since(journal, mark) if e["method"] == method and e["path"] == path]


def test_429_with_ratelimit_reset_waits_then_succeeds(act, sandbox, journal):
    sandbox.add_fault(method="GET", path="/incidents", count=1, status=429, ratelimit_reset=1)
    result = act("list_incidents", max_results=5)
    assert result.code == 0, result.stdout
    assert [e["status"] for e in journal()] == [429, 200]
    assert "GET /incidents got HTTP 429; retry 1 of 3 in 1.0 s" in result.body["log"]  # ratelimit-reset: 1


def test_429_with_retry_after_is_honoured(act, sandbox, journal):
    sandbox.add_fault(method="GET", path="/incidents", count=1, status=429, headers=True, retry_after=1,
                      ratelimit_reset=None)
    result = act("list_incidents", max_results=5)
    assert result.code == 0, result.stdout
    assert [e["status"] for e in journal()] == [429, 200]
    assert "retry 1 of 3 in 1.0 s" in result.body["log"], "Retry-After: 1 wins over the window's ratelimit-reset"


def test_bare_429_backs_off_then_succeeds(act, sandbox, journal):
    sandbox.add_fault(method="GET", path="/incidents", count=2, status=429, headers=False)
    result = act("list_incidents", max_results=5)
    assert result.code == 0, result.stdout
    assert [e["status"] for e in journal()] == [429, 429, 200]
    assert "retry 2 of 3" in result.body["log"]


def test_429_on_a_write_is_repeated(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    sandbox.add_fault(method="POST", path="/incidents/*/notes", count=1, status=429, headers=False)
    result = act("add_note", incident_id=incident["id"], note="x")
    assert result.code == 0, result.stdout
    assert [e["status"] for e in tries(journal, mark, "POST", f"/incidents/{incident['id']}/notes")] == [429, 200]


def test_503_twice_then_success(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    sandbox.add_fault(method="PUT", path=f"/incidents/{incident['id']}", count=2, status=503)
    result = act("update_status", incident_id=incident["id"], status="acknowledged")
    assert result.code == 0, result.stdout
    assert [e["status"] for e in tries(journal, mark, "PUT", f"/incidents/{incident['id']}")] == [503, 503, 200]
    assert result.output["incident"]["status"] == "acknowledged"


def test_503_on_a_write_that_is_not_safe_to_repeat_is_not_repeated(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    sandbox.add_fault(method="POST", path="/incidents/*/notes", count=1, status=503)
    result = act("add_note", incident_id=incident["id"], note="x")
    assert result.code == 1
    assert result.error["cause"] == f"PagerDuty failed with HTTP 503 (POST /incidents/{incident['id']}/notes)"
    assert len(since(journal, mark)) == 1


def test_503_beyond_max_retries_fails_clearly(act, sandbox, connection, journal):
    sandbox.add_fault(method="GET", path="/incidents", count=5, status=503)
    result = act("list_incidents", _connection=dict(connection, max_retries=1), max_results=5)
    assert result.code == 1
    assert result.error["cause"] == "PagerDuty failed with HTTP 503 (GET /incidents)"
    assert len(journal()) == 2


def test_timeout_on_a_write_is_not_repeated(act, sandbox, connection, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    sandbox.add_fault(method="POST", path="/incidents/*/notes", count=1, delay=1.3)
    result = act("add_note", _connection=dict(connection, timeout=1), incident_id=incident["id"], note="once")
    assert result.code == 1
    assert result.error["cause"].startswith("No answer in time talking to 127.0.0.1")
    assert f"(POST /incidents/{incident['id']}/notes)" in result.error["cause"]
    assert "may have been carried out" in result.error["assistance"]
    deadline = time.monotonic() + 5
    while not since(journal, mark) and time.monotonic() < deadline:
        time.sleep(0.05)  # the sandbox journals the slow request once it has answered it
    assert len(since(journal, mark)) == 1


def test_timeout_on_a_read_is_repeated(act, sandbox, connection, journal):
    sandbox.add_fault(method="GET", path="/incidents", count=1, delay=1.2)
    result = act("list_incidents", _connection=dict(connection, timeout=1), max_results=5)
    assert result.code == 0, result.stdout
    assert "got no answer in time; retry 1 of 3" in result.body["log"]


def test_malformed_json_answer_is_a_clear_error(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    sandbox.add_fault(method="GET", path=f"/incidents/{incident['id']}", count=1, malformed=True)
    result = act("get_incident", incident_id=incident["id"])
    assert result.code == 1
    assert result.error["cause"].endswith("answered HTTP 200 with a body that is not JSON")
    assert result.error["data"]["body_start"].startswith("<html>")
    assert len(since(journal, mark)) == 1


def test_dropped_connection_on_a_write_is_not_repeated(act, sandbox, journal):
    incident = open_incident(sandbox)
    mark = len(journal())
    sandbox.add_fault(method="POST", path="/incidents/*/snooze", count=1, drop=True)
    result = act("snooze_incident", incident_id=incident["id"], duration=60)
    assert result.code == 1
    assert "dropped connection" in result.error["cause"].lower()
    assert len(since(journal, mark)) == 1


# --- pagination ----------------------------------------------------------------------------------


@pytest.mark.full_answers
def test_2500_incidents_are_listed_in_25_requests(act, sandbox, journal):
    already = api(sandbox, "GET", "/incidents", date_range="all", total="true", limit=1, **{"statuses[]": "triggered"})
    sandbox.seed_incidents(2500 - already["total"])
    mark = len(journal())
    result = act("list_incidents", date_range="all", statuses=["triggered"])
    assert result.code == 0, result.stdout
    pages = since(journal, mark)
    assert len(pages) == 25
    # pages after the second are fetched several at once: each offset once, in any order
    assert sorted(int(e["query"]["offset"][0]) for e in pages) == [n * 100 for n in range(25)]
    assert [e["query"].get("total") for e in pages[:2]] == [None, ["true"]]
    assert {e["query"]["limit"][0] for e in pages} == {"100"}
    assert result.output["count"] == 2500 and result.output["truncated"] is False
    assert len({i["id"] for i in result.output["incidents"]}) == 2500


def test_reaching_the_10000_cap_is_reported_not_an_error(act, sandbox, journal):
    sandbox.seed_incidents(10050)
    mark = len(journal())
    result = act("list_incidents", date_range="all")
    assert result.code == 0, result.stdout
    assert result.output["count"] == 10000 and result.output["truncated"] is True
    pages = since(journal, mark)
    assert len(pages) == 100 and max(int(e["query"]["offset"][0]) for e in pages) == 9900
    assert "stopped at PagerDuty's limit of 10000 results" in result.body["log"]
