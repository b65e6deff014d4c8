"""list_users, access_review and get_user_by_email over more than 1,200 users: every page read,
max_results honoured, one request per team (never per user), exact email matches on later pages.
One sandbox serves the whole module (seeding 1,200 users once); tests only read from it."""

import math

import pytest
import requests
from conftest import _conformance, connection_for, journal_of
from test_users import api, new_team, new_user

BULK = 1200
OBSERVER_EVERY = 10
LOOKALIKES = 150  # users whose email ends in ann@example.com, listed before ann herself


@pytest.fixture(scope="module")
def paging_sandbox():
    from pagerduty_plugin.sandbox import Sandbox

    server = Sandbox(seed="demo").start()
    with requests.Session() as session:
        bulk = [new_user(server, f"bulk{n:04}@example.org", name=f"Bulk {n:04}", session=session,
                         role="observer" if n % OBSERVER_EVERY == 0 else "limited_user") for n in range(BULK)]
        for n in range(LOOKALIKES):
            new_user(server, f"j{n:03}ann@example.com", name=f"J{n:03} Ann", session=session)
    new_user(server, "ann@example.com", name="Zz Ann")
    new_team(server, "Paging Blue", [(user, "manager" if n < 5 else "responder") for n, user in enumerate(bulk[:60])])
    new_team(server, "Paging Green", [(user, "observer") for user in bulk[30:90]])
    seeded = len(server.exchanges)
    yield server
    server.stop()
    checker = _conformance()
    if checker is not None and checker.SKIP_REASON is None:  # the plugin's exchanges (seeding is checked elsewhere)
        problems = checker.check_exchanges(server.exchanges[seeded:])
        assert not problems, "sandbox answers that break the published contract:\n" + "\n".join(problems[:20])


@pytest.fixture
def connection(paging_sandbox):
    """act and the other steps of this module run against its one bulk-seeded sandbox. The tests count pages: a
    page answered past the usual 5 s (a loaded machine, parallel workers) must not be asked twice."""
    return {**connection_for(paging_sandbox), "timeout": 60}


@pytest.fixture
def journal(paging_sandbox):
    return journal_of(paging_sandbox)


def every_user(paging_sandbox):
    users, offset = [], 0
    while True:
        page = api(paging_sandbox, "GET", f"/users?limit=100&offset={offset}")
        users += page["users"]
        if not page["more"]:
            return users
        offset += 100


@pytest.fixture(scope="module")
def everyone(paging_sandbox):
    return every_user(paging_sandbox)


def user_pages(entries):
    return [e for e in entries if e["path"] == "/users"]


def test_list_users_reads_every_page(act, journal, everyone):
    mark = len(journal())
    output = act("list_users").output
    assert output["count"] == len(everyone) > BULK + LOOKALIKES and output["truncated"] is False
    assert [u["id"] for u in output["users"]] == [u["id"] for u in everyone]
    pages = user_pages(journal()[mark:])
    assert len(pages) == math.ceil(len(everyone) / 100)
    # pages after the second are fetched several at once: each offset once, in any order
    assert sorted(int(p["query"]["offset"][0]) for p in pages) == [n * 100 for n in range(len(pages))]
    assert {p["query"]["limit"][0] for p in pages} == {"100"}


def test_list_users_max_results_stops_early(act, journal):
    mark = len(journal())
    output = act("list_users", max_results=1150).output
    assert output["count"] == 1150 and output["truncated"] is True
    assert len(user_pages(journal()[mark:])) == 12


def test_list_users_roles_filter_over_every_page(act, everyone):
    output = act("list_users", roles=["Observer"]).output
    assert output["count"] == sum(u["role"] == "observer" for u in everyone) >= BULK // OBSERVER_EVERY
    assert {u["role_title"] for u in output["users"]} == {"Observer"}


def test_access_review_pages_and_asks_once_per_team(act, journal, everyone):
    mark = len(journal())
    output = act("access_review").output
    assert output["count"] == len(everyone) and output["truncated"] is False
    entries = journal()[mark:]
    pages = user_pages(entries)
    assert len(pages) == math.ceil(len(everyone) / 100)
    assert all("include[]" not in p["query"] for p in pages)  # references carry what the review needs
    member_paths = [e["path"] for e in entries if e["path"] != "/users"]
    assert all(p.startswith("/teams/") and p.endswith("/members") for p in member_paths)
    assert len(member_paths) == len(set(member_paths)) == output["teams_count"]
    assert len(entries) == len(pages) + len(member_paths)  # no request per user
    rows = {row["email"]: row for row in output["users"]}
    assert rows["bulk0000@example.org"]["teams"] == [{"id": rows["bulk0000@example.org"]["teams"][0]["id"],
                                                      "name": "Paging Blue", "role": "manager"}]
    assert sorted((t["name"], t["role"]) for t in rows["bulk0040@example.org"]["teams"]) == [
        ("Paging Blue", "responder"), ("Paging Green", "observer")]
    assert rows["bulk0010@example.org"]["role_title"] == "Observer"
    assert rows["bulk0011@example.org"]["contact_methods_count"] == 1
    assert len(output["csv"].splitlines()) == len(everyone) + 1


def test_access_review_max_results(act):
    output = act("access_review", max_results=250).output
    assert output["count"] == 250 and output["truncated"] is True


def test_get_user_by_email_finds_an_exact_match_on_a_later_page(act, journal, everyone):
    ann = next(u for u in everyone if u["email"] == "ann@example.com")
    mark = len(journal())
    output = act("get_user_by_email", email="ANN@example.com").output
    assert output["found"] is True and output["user"]["id"] == ann["id"]
    pages = user_pages(journal()[mark:])
    assert [p["query"]["offset"] for p in pages] == [["0"], ["100"]]
    joann = act("get_user_by_email", email="j007ann@example.com").output
    assert joann["user"]["email"] == "j007ann@example.com"


def test_every_email_lookup_is_exact_and_reads_every_page(act, journal, everyone):
    # list_escalation_policies resolves its users filter as assignees, rule targets, overrides,
    # requesters and team members are resolved: the same exact lookup over every page
    ann = next(u for u in everyone if u["email"] == "ann@example.com")
    mark = len(journal())
    result = act("list_escalation_policies", users=["Ann@Example.com"])
    assert result.code == 0, result.stdout
    sent = journal()[mark:]
    assert [p["query"]["offset"] for p in user_pages(sent)] == [["0"], ["100"]]  # 150 look-alikes first
    assert sent[-1]["path"] == "/escalation_policies" and sent[-1]["query"]["user_ids[]"] == [ann["id"]]


def test_an_email_only_look_alikes_have_is_no_user(act):
    result = act("list_escalation_policies", users=["nn@example.com"])  # a substring of every *ann@ email
    assert result.code == 1 and result.error["cause"] == "No PagerDuty user has the email 'nn@example.com'"
