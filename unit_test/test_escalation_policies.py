"""Escalation policy actions against the sandbox: rules whose targets are named by id, email or
name, partial updates, deletes, and the errors around them."""

import pytest
from test_services import HOSTILE_IDS, api, assert_hostile_id_sends_nothing, assert_read_only_key_refused, first  # helpers; the fixtures are conftest.py's


def test_list_policies_with_query_sort_and_max_results(step):
    result, sent = step("list_escalation_policies", query="e", sort_by="name:asc", max_results=1)
    assert result.output["count"] == len(result.output["escalation_policies"]) == 1
    assert result.output["truncated"] is True  # both demo policies have an "e"
    assert [(e["method"], e["path"], e["query"]) for e in sent] == [
        ("GET", "/escalation_policies", {"query": ["e"], "sort_by": ["name:asc"], "limit": ["1"], "offset": ["0"]})]


def test_list_policies_that_notify_a_user_by_email(step, users):
    user = users[0]
    result, sent = step("list_escalation_policies", users=[user["email"]])
    lookup, listing = sent
    assert (lookup["path"], lookup["query"]["query"]) == ("/users", [user["email"]])
    assert (listing["path"], listing["query"]["user_ids[]"]) == ("/escalation_policies", [user["id"]])
    assert result.output["truncated"] is False


def test_get_policy(step, policy):
    result, sent = step("get_escalation_policy", escalation_policy_id=policy["id"])
    got = result.output["escalation_policy"]
    assert got["id"] == policy["id"] and got["escalation_rules"][0]["targets"]
    assert [(e["method"], e["path"]) for e in sent] == [("GET", f"/escalation_policies/{policy['id']}")]


def test_create_policy_with_targets_by_id_email_and_name(step, sandbox, users):
    schedule = first(sandbox, "schedules")
    alice, bob = users[0], users[1]
    result, sent = step("create_escalation_policy", name="Checkout", description="Money", num_loops=2,
                        on_call_handoff_notifications="always", escalation_rules=[
                            {"escalation_delay_in_minutes": 10, "users": [alice["email"], bob["id"]]},
                            {"users": [bob["name"]], "schedules": [schedule["name"]]}])
    post = sent[-1]
    assert (post["method"], post["path"], post["headers"].get("From")) == (
        "POST", "/escalation_policies", sandbox.info["from_email"])
    assert post["json"] == {"escalation_policy": {
        "type": "escalation_policy", "name": "Checkout", "description": "Money", "num_loops": 2,
        "on_call_handoff_notifications": "always", "escalation_rules": [
            {"escalation_delay_in_minutes": 10, "targets": [{"id": alice["id"], "type": "user_reference"},
                                                            {"id": bob["id"], "type": "user_reference"}]},
            {"escalation_delay_in_minutes": 30, "targets": [{"id": bob["id"], "type": "user_reference"},
                                                            {"id": schedule["id"], "type": "schedule_reference"}]}]}}
    assert [(e["path"], e["query"].get("query")) for e in sent[:-1]] == [
        ("/users", [alice["email"]]), ("/users", [bob["name"]]), ("/schedules", [schedule["name"]])]
    created = result.output["escalation_policy"]
    assert [len(rule["targets"]) for rule in created["escalation_rules"]] == [2, 2]


@pytest.mark.parametrize("rules, cause", [
    ([{"users": []}], "Escalation rule 1 has 0 targets; PagerDuty needs 1 to 10"),
    ([{"users": ["PUSER01"]}, {"schedules": []}], "Escalation rule 2 has 0 targets; PagerDuty needs 1 to 10"),
    ([{"users": ["a@x.io"] * 6, "schedules": ["S"] * 5}], "Escalation rule 1 has 11 targets; PagerDuty needs 1 to 10"),
])
def test_rules_without_targets_send_nothing(step, rules, cause):
    result, sent = step("create_escalation_policy", name="Bad", escalation_rules=rules)
    assert (result.code, result.error["cause"], sent) == (1, cause, [])


@pytest.mark.parametrize("values", [
    {"name": "No rules"}, {"name": "Empty", "escalation_rules": []}, {"escalation_rules": [{"users": ["PUSER01"]}]},
    {"name": "x", "escalation_rules": [{"users": ["PUSER01"], "escalation_delay_in_minutes": 0}]},
    {"name": "x", "escalation_rules": [{"users": ["PUSER01"], "targets": []}]},
    {"name": "x", "escalation_rules": [{"users": ["PUSER01"]}], "on_call_handoff_notifications": "never"},
])
def test_bad_policy_input_sends_nothing(step, values):
    result, sent = step("create_escalation_policy", **values)
    assert result.code == 1 and sent == [] and result.error["assistance"]


def test_a_target_name_that_matches_nothing(step):
    result, sent = step("create_escalation_policy", name="X", escalation_rules=[{"users": ["Nobody Atall"]}])
    assert result.error["cause"] == "No user is named 'Nobody Atall'"
    assert [e["method"] for e in sent] == ["GET"]


def test_a_target_name_that_matches_several(step, sandbox, users):
    twin = api(sandbox, "POST", "/users", {"user": {"type": "user", "name": users[0]["name"],
                                                    "email": "twin@example.com"}})["user"]
    result, sent = step("create_escalation_policy", name="X", escalation_rules=[{"users": [users[0]["name"]]}])
    assert result.error["cause"].startswith(f"2 users are named {users[0]['name']!r}")
    assert twin["id"] in result.error["cause"] and "id instead" in result.error["assistance"]
    assert [e["method"] for e in sent] == ["GET"]


def test_a_schedule_name_that_matches_several(step, sandbox, users):
    layer = {"start": "2024-01-01T00:00:00Z", "users": [users[0]["id"]]}
    for _ in range(2):
        assert step("create_schedule", name="Twin Rota", layers=[layer])[0].code == 0
    result, sent = step("create_escalation_policy", name="X", escalation_rules=[{"schedules": ["twin rota"]}])
    assert result.error["cause"].startswith("2 schedules are named 'twin rota'")
    assert [e["method"] for e in sent] == ["GET"]


def test_update_policy_name_only(step, policy):
    result, sent = step("update_escalation_policy", escalation_policy_id=policy["id"], name="Renamed")
    assert result.output["escalation_policy"]["name"] == "Renamed"
    assert result.output["escalation_policy"]["escalation_rules"] == policy["escalation_rules"]
    assert [(e["method"], e["path"], e["json"]) for e in sent] == [
        ("PUT", f"/escalation_policies/{policy['id']}", {"escalation_policy": {"type": "escalation_policy",
                                                                               "name": "Renamed"}})]


def test_update_policy_rules_replace_them_all(step, policy, users):
    result, sent = step("update_escalation_policy", escalation_policy_id=policy["id"],
                        escalation_rules=[{"escalation_delay_in_minutes": 5, "users": [users[1]["id"]]}])
    rules = result.output["escalation_policy"]["escalation_rules"]
    assert [(r["escalation_delay_in_minutes"], [t["id"] for t in r["targets"]]) for r in rules] == [
        (5, [users[1]["id"]])]
    assert [e["method"] for e in sent] == ["PUT"]


def test_update_with_nothing_to_change(step, policy):
    result, sent = step("update_escalation_policy", escalation_policy_id=policy["id"])
    assert result.code == 1 and sent == [] and "Give at least one of" in result.error["cause"]


def test_delete_policy(step, users):
    made = step("create_escalation_policy", name="Spare", escalation_rules=[{"users": [users[0]["id"]]}])[0]
    policy_id = made.output["escalation_policy"]["id"]
    result, sent = step("delete_escalation_policy", escalation_policy_id=policy_id)
    assert result.output == {"success": True}
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [("DELETE", f"/escalation_policies/{policy_id}",
                                                                      204)]
    error = step("get_escalation_policy", escalation_policy_id=policy_id)[0].error
    assert error["cause"].startswith(f"Escalation policy {policy_id} was not found (HTTP 404)")


@pytest.mark.no_conformance  # PagerDuty answers 400 here; the published contract lists no 400
def test_delete_a_policy_that_a_service_uses_is_refused_clearly(step, sandbox):
    used = first(sandbox, "services")["escalation_policy"]["id"]
    result, sent = step("delete_escalation_policy", escalation_policy_id=used)
    assert result.code == 1 and "HTTP 400" in result.error["cause"] and "in use" in result.error["cause"]
    assert result.error["data"]["status"] == 400 and len(sent) == 1


@pytest.mark.parametrize("action, extra", [("get_escalation_policy", {}), ("delete_escalation_policy", {}),
                                           ("update_escalation_policy", {"name": "X"})])
def test_unknown_policy(step, action, extra):
    result, sent = step(action, escalation_policy_id="PNOSUCH", **extra)
    assert result.code == 1 and result.error["data"]["status"] == 404 and len(sent) == 1


@pytest.mark.parametrize("bad", HOSTILE_IDS)
@pytest.mark.parametrize("action", ["get_escalation_policy", "update_escalation_policy", "delete_escalation_policy"])
def test_hostile_policy_ids_send_nothing(step, action, bad):
    # update names a team too: the id is checked before that lookup would be made
    extra = {"teams": ["Ops"]} if action == "update_escalation_policy" else {}
    assert_hostile_id_sends_nothing(step, action, "escalation_policy", bad, **extra)


@pytest.mark.parametrize("action, values", [
    ("create_escalation_policy", {"name": "X", "escalation_rules": [{"users": ["PUSER01"]}]}),
    ("update_escalation_policy", {"name": "X"}),
    ("delete_escalation_policy", {}),
])
def test_a_read_only_key_is_refused(act, readonly, policy, action, values):
    if action != "create_escalation_policy":
        values = {"escalation_policy_id": policy["id"], **values}
    assert_read_only_key_refused(act, readonly, action, values)
