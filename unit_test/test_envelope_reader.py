"""Every REST answer is read through the one envelope-aware reader (client/rest.py's `unwrap`), so an
envelope PagerDuty changes is caught, and said, in one place. Three answers once bypassed it: a schedule
override's bare list, get_user_by_id's lookup (listing.get_or_none), and calls that named no key. Each is
shown here through the CLI against the sandbox, its answer changed by a fault."""

import pytest
from conftest import invoke

ODD_API = "The server at api_url answered unlike PagerDuty's API"


@pytest.fixture
def rota(act, sandbox):
    user = sandbox.seed_ids["users"]["admin"]
    result = act("create_schedule", name="Rota", layers=[{"start": "2024-05-01T00:00:00Z", "users": [user]}])
    return result.output["schedule"]["id"], user


@pytest.mark.no_conformance
def test_an_override_answered_inside_an_envelope_is_an_odd_answer_not_a_refusal(act, sandbox, rota):
    schedule, user = rota
    override = {"id": "PQ1X2Y3", "start": "2024-05-01T18:00:00Z", "end": "2024-05-02T06:00:00Z"}
    sandbox.add_fault(method="POST", path=f"/schedules/{schedule}/overrides", status=201,
                      body={"overrides": [{"status": 201, "override": override}]})
    result = act("create_schedule_override", schedule_id=schedule, user=user, start=override["start"],
                 end=override["end"])
    assert result.code == 1
    assert result.error["cause"] == f"The answer to POST /schedules/{schedule}/overrides is not a list as PagerDuty " \
                                    "sends"  # once: "PagerDuty did not create the override: no reason given"
    assert result.error["assistance"].startswith(ODD_API)


def test_an_override_s_bare_list_is_read_through_the_reader(act, rota):
    schedule, user = rota
    result = act("create_schedule_override", schedule_id=schedule, user=user, start="2024-05-01T18:00:00Z",
                 end="2024-05-02T06:00:00Z")
    assert result.code == 0 and result.output["override"]["user"]["id"] == user


@pytest.mark.no_conformance
@pytest.mark.parametrize("answer, cause", [
    ({"users": [{"id": "PABC123"}]}, "has no 'user' (PagerDuty's answers carry it)"),
    ({"user": [{"id": "PABC123"}]}, "has 'user' that is not an object"),
    ([{"id": "PABC123"}], "has no 'user' (PagerDuty's answers carry it)"),
])
def test_get_user_by_id_reads_its_answer_through_the_reader(act, sandbox, answer, cause):
    sandbox.add_fault(method="GET", path="/users/PABC123", status=200, body=answer)
    result = act("get_user_by_id", id="PABC123")
    assert result.code == 1 and result.error["cause"] == f"The answer to GET /users/PABC123 {cause}"
    assert result.error["assistance"].startswith(ODD_API)


@pytest.mark.no_conformance
@pytest.mark.parametrize("answer", [[], "abilities"])
def test_a_call_that_names_no_key_still_reads_its_answer_through_the_reader(sandbox, connection, answer):
    """The connection test reads GET /abilities without unwrapping a key: an answer that is no object
    (a proxy's list, a bare string) is not taken for a working key."""
    sandbox.add_fault(method="GET", path="/abilities", status=200, body=answer)
    result = invoke(["test"], {"version": "v1", "type": "connection_test", "body": {"connection": connection}})
    assert result.code == 1 and "output" not in result.body
    assert "The answer to GET /abilities is not an object as PagerDuty sends" in result.body["error"]


@pytest.mark.no_conformance
def test_an_answer_that_is_not_read_may_be_anything(act, sandbox, users):
    """kind=None: a membership PUT's answer (204 from PagerDuty) is not read, whatever comes back."""
    team = act("list_teams").output["teams"][0]["id"]
    sandbox.add_fault(method="PUT", path="/teams/*/users/*", status=200, body=["not", "an", "object"])
    result = act("add_team_member", team_id=team, user_id=users[0]["id"])
    assert result.code == 0 and result.output["success"] is True
