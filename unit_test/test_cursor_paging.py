"""Cursor paging (`cursor` in, `next_cursor` out) read with the same distrust as offset paging:
through the CLI, over real HTTP, against purpose-built servers and the sandbox."""

import pytest
from conftest import invoke, start_message
from hostile_server import HostileServer, Reply, connection_to

ACTIONS = [{"id": f"01ACTION{n:018d}", "type": "action", "name": f"action {n}", "action_type": "script",
            "creation_time": "2026-01-01T00:00:00Z", "modify_time": "2026-01-01T00:00:00Z"} for n in range(230)]


def cursor_pages(page_size=100, repeat_cursor=False, empty_with_more=False, no_key=False, endless=False):
    def answer(request):
        start = int(request.query.get("cursor", ["0"])[0])
        limit = min(int(request.query["limit"][0]), page_size)
        items = [] if (empty_with_more and start) else ACTIONS[start:start + limit]
        end = start + limit
        following = str(end) if end < len(ACTIONS) or endless else None
        if repeat_cursor and start:
            following = str(start)
        page = {"actions": items if not endless else ACTIONS[:limit], "limit": limit}
        if not no_key:
            page["next_cursor"] = following
        return Reply(200, page)
    return answer


def step(connection, **values):
    return invoke(["run"], start_message("list_automation_actions", values, connection))


def test_every_cursor_page_is_read_once_in_order():
    with HostileServer(cursor_pages(page_size=50)) as api:
        result = step(connection_to(api.url))
    assert [a["id"] for a in result.output["actions"]] == [a["id"] for a in ACTIONS]
    assert result.output["truncated"] is False
    assert [r.query.get("cursor", [None])[0] for r in api.requests] == [None, "50", "100", "150", "200"]
    assert all("offset" not in r.query for r in api.requests)


def test_max_results_reads_no_further_page():
    with HostileServer(cursor_pages()) as api:
        result = step(connection_to(api.url), max_results=120)
    assert (result.output["count"], result.output["truncated"]) == (120, True)
    assert len(api.requests) == 2


@pytest.mark.parametrize("server, says", [
    (cursor_pages(repeat_cursor=True), "a second time"),
    (cursor_pages(empty_with_more=True), "empty page that claims more"),
    (cursor_pages(no_key=True), "has no 'next_cursor'"),
], ids=["repeated-cursor", "empty-page-with-more", "no-next-cursor"])
def test_odd_cursor_pages_are_clear_errors(server, says):
    with HostileServer(server) as api:
        result = step(connection_to(api.url))
    assert result.code == 1
    assert says in result.error["cause"] and "api_url" in result.error["assistance"]
    assert len(api.requests) <= 3


def test_a_cursor_that_never_ends_is_stopped_at_the_page_budget():
    def answer(request):
        n = int(request.query.get("cursor", ["0"])[0])
        return Reply(200, {"actions": ACTIONS[:1], "limit": 1, "next_cursor": str(n + 1)})
    with HostileServer(answer) as api:
        result = step(connection_to(api.url), max_results=40)
    assert result.output["truncated"] is True
    assert len(api.requests) <= 2 * 40 + 1


def test_the_sandbox_answers_cursor_pages(act):
    first = act("list_automation_actions", max_results=1)
    assert (first.output["count"], first.output["truncated"]) == (1, True)
    every = act("list_automation_actions")
    assert every.output["count"] == 2 and every.output["truncated"] is False
