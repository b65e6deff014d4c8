"""Contact methods and notification rules of a user, and access_review on a small account."""

import csv
import io

import pytest
from test_users import HOSTILE_IDS, api, new_team, new_user, only_request, readonly_connection


@pytest.fixture
def user(sandbox):
    return new_user(sandbox, "cm@example.com", name="Cam")


def test_list_contact_methods(act, sandbox, journal, user):
    mark = len(journal())
    output = act("list_contact_methods", user_id=user["id"]).output
    entry = only_request(journal, mark)
    assert (entry["method"], entry["path"], entry["query"]) == ("GET", f"/users/{user['id']}/contact_methods", {})
    assert output["count"] == 1 and output["truncated"] is False
    assert output["contact_methods"][0]["address"] == "cm@example.com"


def test_list_contact_methods_by_email_and_max_results(act, sandbox, user):
    api(sandbox, "POST", f"/users/{user['id']}/contact_methods", {"contact_method": {
        "type": "sms_contact_method", "label": "Mobile", "address": "5550100", "country_code": 1}})
    output = act("list_contact_methods", user_id="CM@example.com", max_results=1).output
    assert output["count"] == 1 and output["truncated"] is True


@pytest.mark.parametrize("kind", ["phone", "sms_contact_method"])
def test_create_phone_contact_method(kind, act, journal, user):
    mark = len(journal())
    result = act("create_contact_method", user_id=user["id"], type=kind, address="5550199", country_code=44,
                 label="Mobile")
    entry = only_request(journal, mark)
    full = kind if kind.endswith("_contact_method") else f"{kind}_contact_method"
    assert (entry["method"], entry["path"]) == ("POST", f"/users/{user['id']}/contact_methods")
    assert entry["json"] == {"contact_method": {"type": full, "address": "5550199", "label": "Mobile",
                                                "country_code": 44}}
    assert result.output["success"] is True and result.output["contact_method"]["country_code"] == 44


def test_create_email_contact_method_defaults(act, journal, user):
    mark = len(journal())
    result = act("create_contact_method", user_id=user["id"], type="email", address="cam2@example.com",
                 send_short_email=True)
    assert only_request(journal, mark)["json"] == {"contact_method": {
        "type": "email_contact_method", "address": "cam2@example.com", "label": "Work", "send_short_email": True}}
    assert result.output["contact_method"]["label"] == "Work"


def test_create_contact_method_refused(act, user):
    result = act("create_contact_method", user_id=user["id"], type="phone", address="not digits")
    assert result.code == 1 and result.error["data"]["status"] == 400 and result.error["assistance"]


def test_delete_contact_method(act, sandbox, journal, user):
    method = act("create_contact_method", user_id=user["id"], type="email", address="gone@example.com").output
    method_id = method["contact_method"]["id"]
    mark = len(journal())
    assert act("delete_contact_method", user_id=user["id"], contact_method_id=method_id).output == {"success": True}
    entry = only_request(journal, mark)
    assert (entry["method"], entry["path"], entry["status"]) == (
        "DELETE", f"/users/{user['id']}/contact_methods/{method_id}", 204)
    again = act("delete_contact_method", user_id=user["id"], contact_method_id=method_id)
    assert again.code == 1 and "not found" in again.error["cause"]


@pytest.mark.full_answers
def test_list_notification_rules(act, journal, user):
    mark = len(journal())
    output = act("list_notification_rules", user_id=user["id"], include_contact_methods=True).output
    entry = only_request(journal, mark)
    assert entry["path"] == f"/users/{user['id']}/notification_rules"
    assert entry["query"] == {"urgency": ["all"], "include[]": ["contact_methods"]}
    assert output["count"] == 2 and output["truncated"] is False
    assert output["notification_rules"][0]["contact_method"]["address"] == "cm@example.com"
    high = act("list_notification_rules", user_id=user["id"], urgency="high", max_results=5).output
    assert [r["urgency"] for r in high["notification_rules"]] == ["high"]


def test_create_notification_rule(act, journal, user):
    method = act("create_contact_method", user_id=user["id"], type="sms", address="5550123").output["contact_method"]
    mark = len(journal())
    result = act("create_notification_rule", user_id=user["id"], contact_method_id=method["id"],
                 start_delay_in_minutes=5, urgency="low")
    get, post = journal()[mark:]
    assert (get["method"], get["path"]) == ("GET", f"/users/{user['id']}/contact_methods/{method['id']}")
    assert (post["method"], post["path"]) == ("POST", f"/users/{user['id']}/notification_rules")
    assert post["json"] == {"notification_rule": {
        "type": "assignment_notification_rule", "urgency": "low", "start_delay_in_minutes": 5,
        "contact_method": {"id": method["id"], "type": "sms_contact_method_reference"}}}
    rule = result.output["notification_rule"]
    assert result.output["success"] is True and rule["start_delay_in_minutes"] == 5
    mark = len(journal())
    assert act("delete_notification_rule", user_id=user["id"], notification_rule_id=rule["id"]).code == 0
    entry = only_request(journal, mark)
    assert (entry["method"], entry["path"]) == ("DELETE", f"/users/{user['id']}/notification_rules/{rule['id']}")


def test_notification_rule_for_a_missing_contact_method(act, journal, user):
    mark = len(journal())
    result = act("create_notification_rule", user_id=user["id"], contact_method_id="PNOSUCH")
    assert result.code == 1 and "not found" in result.error["cause"]
    assert [e["method"] for e in journal()[mark:]] == ["GET"]


def test_hostile_ids_send_nothing(act, journal, user):
    mark = len(journal())
    for hostile, (action, values) in [(hostile, case) for hostile in HOSTILE_IDS for case in [("list_contact_methods", {"user_id": hostile}),
                           ("list_notification_rules", {"user_id": hostile}),
                           ("create_contact_method", {"user_id": hostile, "type": "email", "address": "a@b.c"}),
                           ("delete_contact_method", {"user_id": user["id"], "contact_method_id": hostile}),
                           ("delete_contact_method", {"user_id": "cm@example.com", "contact_method_id": hostile}),
                           ("create_notification_rule", {"user_id": user["id"], "contact_method_id": hostile}),
                           ("delete_notification_rule", {"user_id": user["id"], "notification_rule_id": hostile})]]:
        result = act(action, **values)
        assert result.code == 1 and "is not a valid PagerDuty" in result.error["cause"], (action, result.stdout)
    assert journal()[mark:] == []


def test_contact_method_bad_input_sends_nothing(act, journal, user):
    mark = len(journal())
    for values in ({"type": "pigeon", "address": "x"}, {"type": "phone", "address": "1", "country_code": 0},
                   {"type": "email"}, {"type": "email", "address": "a@b.c", "label": 5}):
        assert act("create_contact_method", user_id=user["id"], **values).code == 1
    assert act("create_notification_rule", user_id=user["id"], contact_method_id="PCM1234",
               start_delay_in_minutes=-1).code == 1
    assert journal()[mark:] == []


# --- access_review on a small account -----------------------------------------------------------------


def test_access_review_rows_and_csv(act, sandbox, connection, journal):
    ops = new_user(sandbox, "ops@example.com", name="=HYPERLINK(\"http://x\")", role="limited_user")
    boss = new_user(sandbox, "boss@example.com", name="Boss", role="admin")
    api(sandbox, "POST", f"/users/{ops['id']}/contact_methods", {"contact_method": {
        "type": "phone_contact_method", "label": "Mobile", "address": "5550100", "country_code": 1}})
    team = new_team(sandbox, "Review Team", [(ops, "responder"), (boss, "manager")])
    mark = len(journal())
    result = act("access_review", _connection=readonly_connection(sandbox, connection))
    assert result.code == 0, result.stdout
    output = result.output
    rows = {row["email"]: row for row in output["users"]}
    assert rows["ops@example.com"] == {**rows["ops@example.com"], "id": ops["id"], "role": "limited_user",
                                       "role_title": "Responder", "contact_methods_count": 2,
                                       "contact_method_types": ["email", "phone"],
                                       "teams": [{"id": team["id"], "name": "Review Team", "role": "responder"}]}
    assert rows["boss@example.com"]["teams"][0]["role"] == "manager"
    assert rows["boss@example.com"]["role_title"] == "Global Admin"
    assert all(e["method"] == "GET" for e in journal()[mark:])
    lines = list(csv.reader(io.StringIO(output["csv"])))
    assert lines[0][:5] == ["id", "name", "email", "role", "role_title"]
    ops_line = next(line for line in lines if line[0] == ops["id"])
    assert ops_line[1].startswith("'=")  # a spreadsheet shows it as text instead of running it
    assert ops_line[5] == "Review Team (responder)"
    assert output["generated_at"].endswith("Z")


def test_access_review_titles_every_role_of_the_demo_account(act, sandbox, connection, journal):
    result = act("access_review", _connection=readonly_connection(sandbox, connection))
    assert result.code == 0, result.stdout
    rows = {row["id"]: row for row in result.output["users"]}
    titles = {role: (rows[user_id]["role"], rows[user_id]["role_title"])
              for role, user_id in sandbox.seed_ids["users"].items()}
    assert titles == {
        "admin": ("admin", "Global Admin"),
        "user": ("user", "Manager/User"),
        "limited_user": ("limited_user", "Responder"),
        "observer": ("observer", "Observer"),
        "read_only_user": ("read_only_user", "Full Stakeholder"),
        "read_only_limited_user": ("read_only_limited_user", "Limited Stakeholder"),
        "restricted_access": ("restricted_access", "Restricted Access"),
        "owner": ("owner", "Account Owner"),
    }
    csv_titles = {line[0]: line[4] for line in csv.reader(io.StringIO(result.output["csv"]))}
    assert {role: csv_titles[user_id] for role, user_id in sandbox.seed_ids["users"].items()} == {
        role: title for role, (_, title) in titles.items()}
    assert {e["method"] for e in journal()} == {"GET"}


def test_access_review_team_filter(act, sandbox, journal):
    inside = new_user(sandbox, "in@example.com")
    new_user(sandbox, "out@example.com")
    team = new_team(sandbox, "Filtered", [(inside, "observer")])
    mark = len(journal())
    output = act("access_review", team_ids=[team["id"]]).output
    assert [row["email"] for row in output["users"]] == ["in@example.com"]
    assert journal()[mark]["query"]["team_ids[]"] == [team["id"]]


def test_access_review_with_a_bad_key(act, connection):
    result = act("access_review", _connection={**connection, "api_key": {"secretKey": "not-a-key"}})
    assert result.code == 1 and "401" in result.error["cause"]
