"""Paging against servers that do not page as asked, and PagerDuty's answer envelope read
strictly: through the CLI, over real HTTP, against purpose-built servers."""

import pytest
from conftest import invoke, start_message
from hostile_server import HostileServer, Reply, connection_to

TEAMS = [{"id": f"PT{n:05d}", "type": "team", "summary": f"team {n}", "name": f"team {n}"} for n in range(600)]


def capped_pages(cap, echo, total=len(TEAMS), more_forever=False):
    """A /teams that answers at most `cap` items a page; `echo` is the limit it claims."""

    def answer(request):
        offset, limit = int(request.query["offset"][0]), int(request.query["limit"][0])
        items = TEAMS[offset: offset + min(cap, limit)]
        page = {"teams": items, "offset": offset, "more": more_forever or offset + len(items) < len(TEAMS)}
        if echo is not None:
            page["limit"] = echo(limit)
        if request.query.get("total") == ["true"]:
            page["total"] = total
        return Reply(200, page)

    return answer


def step(action, connection, **values):
    return invoke(["run"], start_message(action, values, connection))


@pytest.mark.parametrize("echo", [lambda asked: 50, lambda asked: asked, None],
                         ids=["echoes-50", "claims-the-limit-asked", "no-echo"])
def test_a_server_capping_pages_at_50_is_read_whole(echo):
    with HostileServer(capped_pages(50, echo)) as api:
        result = step("list_teams", connection_to(api.url), max_results=10000)
    output = result.output
    assert [t["id"] for t in output["teams"]] == [t["id"] for t in TEAMS]
    assert output["truncated"] is False and "more results appeared" not in result.stdout
    offsets = [int(r.query["offset"][0]) for r in api.requests]
    assert offsets == list(range(0, 600, 50)), "one request per page, from where the items ended"


def test_pages_the_sandbox_serves_whole_still_go_in_parallel():
    with HostileServer(capped_pages(100, lambda asked: asked)) as api:
        result = step("list_teams", connection_to(api.url))
    assert result.output["count"] == 600
    assert sorted(int(r.query["offset"][0]) for r in api.requests) == list(range(0, 600, 100))


@pytest.mark.parametrize("total", [10 ** 9, 0, 600])
def test_claims_of_more_and_total_never_fetch_beyond_max_results(total):
    with HostileServer(capped_pages(100, lambda asked: asked, total=total, more_forever=True)) as api:
        result = step("list_teams", connection_to(api.url), max_results=250)
    assert result.output["count"] == 250 and result.output["truncated"] is True
    assert len(api.requests) == 3


def test_a_server_that_answers_one_item_a_page_is_stopped():
    with HostileServer(capped_pages(1, None, more_forever=True)) as api:
        result = step("list_teams", connection_to(api.url))
    assert result.output["truncated"] is True
    assert len(api.requests) == 2 * 10000 // 100 + 1  # twice the pages the 10,000 cap needs, and one
    assert "far fewer than the 100 items a page asked for" in result.body["log"]


# --- 5. the answer envelope --------------------------------------------------------------------------


@pytest.mark.parametrize("page", [{"more": False}, {"teams": None}, {"teams": {"id": "PT1"}}, ["not", "an", "object"]])
def test_a_page_without_its_list_is_an_error_that_blames_the_answer(page):
    with HostileServer(lambda r: Reply(200, page)) as api:
        result = step("list_teams", connection_to(api.url))
    assert result.code == 1
    error = result.error
    assert error["cause"].startswith("The answer to GET /teams ")
    assert "bug in pagerduty-plugin" not in error["assistance"] and "api_url" in error["assistance"]


@pytest.mark.parametrize("action, values, answer", [
    ("get_incident", {"incident_id": "PABC123"}, {"incidents": []}),
    ("add_note", {"incident_id": "PABC123", "note": "x"}, {"notes": {}}),
    ("list_notes", {"incident_id": "PABC123"}, {"note": []}),
    ("update_status", {"incident_id": "PABC123", "status": "acknowledged"}, {}),
    ("create_service_integration", {"service_id": "PSVC123"}, {"service": {}}),
])
def test_an_answer_without_its_object_is_an_error_not_a_bug(action, values, answer):
    with HostileServer(lambda r: Reply(201 if r.method == "POST" else 200, answer)) as api:
        result = step(action, connection_to(api.url), **values)
    assert result.code == 1, result.stdout
    error = result.error
    assert error["cause"].startswith("The answer to ") and "has no" in error["cause"], error
    assert "bug in pagerduty-plugin" not in error["assistance"]


# --- 1. merge_incidents: PagerDuty documents a reference as the answer --------------------------------

FULL_INCIDENT = {"id": "PTARGET", "type": "incident", "summary": "[#7] disk full", "self": None, "html_url": None,
                 "incident_number": 7, "title": "disk full", "status": "triggered", "urgency": "high",
                 "service": {"id": "PSVC123", "type": "service_reference"}, "created_at": "2024-05-01T12:00:00Z"}


def test_merge_incidents_reads_the_target_back_after_the_documented_reference():
    reference = {"id": "PTARGET", "type": "incident_reference", "summary": "[#7] disk full",
                 "self": "https://api.pagerduty.com/incidents/PTARGET", "html_url": "https://x.pagerduty.com/i/7"}

    def answer(request):
        if request.method == "PUT":
            return Reply(200, {"incident": reference})
        return Reply(200, {"incident": FULL_INCIDENT})

    with HostileServer(answer) as api:
        result = step("merge_incidents", connection_to(api.url), target_incident_id="PTARGET",
                      source_incident_ids=["PSRC001"])
    assert result.output["incident"] == FULL_INCIDENT
    assert [(r.method, r.path) for r in api.requests] == [("PUT", "/incidents/PTARGET/merge"),
                                                          ("GET", "/incidents/PTARGET")]


def test_a_merge_whose_read_back_fails_says_the_merge_is_done():
    def answer(request):
        if request.method == "PUT":
            return Reply(200, {"incident": {"id": "PTARGET", "type": "incident_reference"}})
        return Reply(404, {"error": {"code": 2100, "message": "Not Found"}})

    with HostileServer(answer) as api:
        result = step("merge_incidents", connection_to(api.url), target_incident_id="PTARGET",
                      source_incident_ids=["PSRC001"])
    assert result.code == 1
    assert result.error["cause"].startswith("The incidents were merged into PTARGET, but reading it back failed")
    assert result.error["data"]["merged"] is True and "do not run the step again" in result.error["assistance"]
