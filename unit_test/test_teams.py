"""Teams, team membership with team roles, and priorities against the sandbox."""

import pytest
from test_users import HOSTILE_IDS, new_team, new_user, only_request


@pytest.fixture
def team(sandbox):
    return new_team(sandbox, "Zebra Squad")


def test_list_teams(act, sandbox, journal, team):
    mark = len(journal())
    output = act("list_teams", query="zebra").output
    entry = only_request(journal, mark)
    assert (entry["path"], entry["query"]) == ("/teams", {"query": ["zebra"], "limit": ["100"], "offset": ["0"]})
    assert [t["id"] for t in output["teams"]] == [team["id"]]
    assert output["count"] == 1 and output["truncated"] is False
    everything = act("list_teams", max_results=1).output
    assert everything["count"] == 1 and everything["truncated"] is True


def test_get_team_with_members(act, sandbox, journal):
    ann = new_user(sandbox, "tm.ann@example.com")
    team = new_team(sandbox, "Members Team", [(ann, "manager")])
    mark = len(journal())
    output = act("get_team", team_id=team["id"]).output
    get, members = journal()[mark:]
    assert (get["path"], members["path"]) == (f"/teams/{team['id']}", f"/teams/{team['id']}/members")
    assert output["team"]["name"] == "Members Team"
    assert [(m["user"]["id"], m["role"]) for m in output["members"]] == [(ann["id"], "manager")]
    assert output["members_truncated"] is False


def test_get_team_by_name_without_members(act, journal, team):
    mark = len(journal())
    output = act("get_team", team_id="zebra SQUAD", include_members=False).output
    lookup, get = journal()[mark:]
    assert (lookup["path"], lookup["query"]["query"]) == ("/teams", ["zebra SQUAD"])
    assert get["path"] == f"/teams/{team['id']}"
    assert output["team"]["id"] == team["id"] and "members" not in output


def test_get_missing_team(act):
    result = act("get_team", team_id="PNOSUCH")
    assert result.code == 1 and "Team PNOSUCH was not found" in result.error["cause"]
    unnamed = act("get_team", team_id="No Such Team")
    assert unnamed.code == 1 and "No team is named 'No Such Team'" in unnamed.error["cause"]


def test_add_team_member_with_a_role(act, sandbox, journal, team):
    user = new_user(sandbox, "joiner@example.com")
    mark = len(journal())
    result = act("add_team_member", team_id=team["id"], user_id="JOINER@example.com", role="observer")
    lookup, put = journal()[mark:]
    assert (lookup["path"], lookup["query"]["query"]) == ("/users", ["JOINER@example.com"])
    assert (put["method"], put["path"], put["json"], put["status"]) == (
        "PUT", f"/teams/{team['id']}/users/{user['id']}", {"role": "observer"}, 204)
    assert result.output == {"success": True, "team_id": team["id"], "user_id": user["id"], "role": "observer"}
    members = act("get_team", team_id=team["id"]).output["members"]
    assert [(m["user"]["id"], m["role"]) for m in members] == [(user["id"], "observer")]


def test_add_team_member_role_chosen_by_pagerduty(act, sandbox, journal, team):
    user = new_user(sandbox, "plain@example.com")
    mark = len(journal())
    result = act("add_team_member", team_id=team["id"], user_id=user["id"])
    entry = only_request(journal, mark)
    assert entry["method"] == "PUT" and entry["json"] is None
    assert result.output["role"] is None


def test_remove_team_member(act, sandbox, journal):
    user = new_user(sandbox, "leaver@example.com")
    team = new_team(sandbox, "Leavers", [(user, "responder")])
    mark = len(journal())
    result = act("remove_team_member", team_id=team["id"], user_id=user["id"])
    entry = only_request(journal, mark)
    assert (entry["method"], entry["path"], entry["status"]) == (
        "DELETE", f"/teams/{team['id']}/users/{user['id']}", 204)
    assert result.output == {"success": True, "team_id": team["id"], "user_id": user["id"]}
    again = act("remove_team_member", team_id=team["id"], user_id=user["id"])
    assert again.code == 1 and "not found" in again.error["cause"]


def test_membership_with_a_read_only_key(act, sandbox, connection, team):
    from test_users import readonly_connection

    result = act("add_team_member", _connection=readonly_connection(sandbox, connection), team_id=team["id"],
                 user_id=sandbox.seed_ids["users"]["user"], role="manager")
    assert result.code == 1 and "read-only" in result.error["cause"]


def test_hostile_ids(act, journal, team):
    mark = len(journal())
    for hostile in HOSTILE_IDS:
        for action in ("add_team_member", "remove_team_member"):
            result = act(action, team_id=team["id"], user_id=hostile)
            assert result.code == 1 and "not a valid PagerDuty user id" in result.error["cause"], hostile
    assert journal()[mark:] == []
    # A team is also found by name: a hostile value is only ever a `query=` text, never a path.
    for hostile in HOSTILE_IDS:
        result = act("get_team", team_id=hostile)
        assert result.code == 1 and "No team is named" in result.error["cause"], hostile
    assert [(e["path"], e["query"]["query"]) for e in journal()[mark:]] == [("/teams", [h]) for h in HOSTILE_IDS]


def test_list_priorities(act, sandbox, journal):
    output = act("list_priorities").output
    entry = only_request(journal)
    assert (entry["path"], entry["query"]) == ("/priorities", {"limit": ["100"], "offset": ["0"]})
    assert [p["name"] for p in output["priorities"]] == ["P1", "P2", "P3", "P4", "P5"]
    assert output["priorities"][0]["id"] == sandbox.seed_ids["priorities"]["P1"]
    assert output["count"] == 5 and output["truncated"] is False
    capped = act("list_priorities", max_results=2).output
    assert capped["count"] == 2 and capped["truncated"] is True


def test_list_bad_input_sends_nothing(act, journal):
    for bad in ({"max_results": 0}, {"max_results": "ten"}, {"max_results": 10001}):
        for action in ("list_priorities", "list_teams", "list_users", "access_review", "list_contact_methods"):
            assert act(action, **{"user_id": "PABC123", **bad} if action == "list_contact_methods" else bad).code == 1
    assert journal() == []


def test_bad_team_role_sends_nothing(act, journal, team):
    result = act("add_team_member", team_id=team["id"], user_id="PABC123", role="owner")
    assert result.code == 1 and "observer, responder, manager" in result.error["cause"]


def test_only_pagerduty_id_shapes_skip_the_name_lookup():
    from pagerduty_plugin.actions.common import looks_like_id

    assert looks_like_id("PKARGHE") and looks_like_id("Q0RIJJZL24RC6W")
    assert not looks_like_id("PLATFORM") and not looks_like_id("OPS") and not looks_like_id("PABC12")
