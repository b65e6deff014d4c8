"""api_request: any REST call with the connection's auth, retries and error mapping; paths that
would leave the API are refused before anything is sent."""

import pytest
from test_users import header, new_user, only_request, readonly_connection


def test_get_with_query(act, sandbox, journal):
    teams = sandbox.seed_ids["teams"]
    result = act("api_request", path="/users", query={"query": "ada", "team_ids": teams, "limit": 5,
                                                       "total": True})
    assert result.code == 0
    entry = only_request(journal)
    assert (entry["method"], entry["path"]) == ("GET", "/users")
    assert entry["query"] == {"query": ["ada"], "team_ids[]": teams, "limit": ["5"], "total": ["true"]}
    assert header(entry, "Authorization") == "Token token=***"
    assert result.output["status"] == 200
    assert result.output["body"]["users"][0]["email"] == "ada.admin@example.com"


def test_path_without_leading_slash_and_trailing_slash(act, journal):
    assert act("api_request", path="abilities/").output["status"] == 200
    assert act("api_request", path=" /abilities ").output["status"] == 200
    assert [e["path"] for e in journal()] == ["/abilities", "/abilities"]


def test_post_with_body_and_from(act, sandbox, journal):
    result = act("api_request", method="POST", path="/teams", body={"team": {"type": "team", "name": "Raw"}},
                 from_email="uma.manager@example.com")
    entry = only_request(journal)
    assert (entry["method"], entry["json"]) == ("POST", {"team": {"type": "team", "name": "Raw"}})
    assert header(entry, "From") == "uma.manager@example.com"
    assert header(entry, "Content-Type") == "application/json"
    assert result.output["status"] == 201 and result.output["body"]["team"]["name"] == "Raw"


def test_connection_from_is_sent_by_default(act, sandbox, journal):
    act("api_request", path="/abilities")
    assert header(only_request(journal), "From") == sandbox.info["from_email"]


def test_delete_answers_204_without_body(act, sandbox, journal):
    user = new_user(sandbox, "raw.delete@example.com")
    result = act("api_request", method="DELETE", path=f"/users/{user['id']}")
    assert result.output["status"] == 204 and result.output.get("body") is None
    assert journal()[-1]["method"] == "DELETE"


def test_errors_are_mapped(act, sandbox, connection):
    missing = act("api_request", path="/users/PNOSUCH")
    assert missing.code == 1 and missing.error["cause"].startswith("User PNOSUCH was not found (HTTP 404)")
    assert missing.error["data"]["status"] == 404
    refused = act("api_request", method="POST", path="/teams", body={"team": {"type": "team"}})
    assert refused.code == 1 and refused.error["data"]["status"] == 400 and refused.error["assistance"]
    read_only = act("api_request", _connection=readonly_connection(sandbox, connection), method="POST",
                    path="/teams", body={"team": {"type": "team", "name": "Nope"}})
    assert read_only.code == 1 and "read-only" in read_only.error["cause"]


@pytest.mark.no_conformance
def test_retries_like_every_action(act, sandbox, journal):
    sandbox.add_fault(method="GET", path="/abilities", status=429, count=2, ratelimit_reset=0)
    result = act("api_request", path="/abilities")
    assert result.code == 0 and result.output["status"] == 200
    assert [e["status"] for e in journal()] == [429, 429, 200]


@pytest.mark.no_conformance
def test_a_failed_post_is_not_repeated(act, sandbox, journal):
    sandbox.add_fault(method="POST", path="/teams", status=503, count=1)
    result = act("api_request", method="POST", path="/teams", body={"team": {"type": "team", "name": "Once"}})
    assert result.code == 1 and "HTTP 503" in result.error["cause"]
    assert len(journal()) == 1


HOSTILE_PATHS = [
    "https://evil.example.com/users", "http://127.0.0.1:9/x", "//evil.example.com/users", "///users",
    "javascript:alert(1)", "api.pagerduty.com:443/users", "/users/../abilities", "../abilities", "/users/..",
    "/./users", "/users//PABC123", "/%2e%2e/abilities", "/users/%2E%2E/x", "/users%2fPABC123",
    "/users/%252e%252e", "\\\\evil.example.com\\users", "/users\\..\\abilities", "/users\nHost: evil",
    "/users\r\nX: y", "/users\x00", "/users\x7f", "/users?query=x", "/users#frag", "/users/P 1", "/usérs",
    "/users/\uff0e\uff0e", "", "/", "   ",
]


BAD_INPUTS = [
    {"method": "TRACE", "path": "/users"}, {"method": "get", "path": "/users"},
    {"path": "/users", "body": {"x": 1}}, {"path": "/users", "query": {"a": {"b": 1}}},
    {"path": "/users", "query": {"a": [1, {"b": 2}]}}, {"path": "/users", "query": "limit=1"},
    {"path": "/users", "body": "text"}, {"path": 5},
]


def test_paths_that_leave_the_api_and_bad_inputs_send_nothing(act, journal):
    for values in [{"path": path} for path in HOSTILE_PATHS] + BAD_INPUTS:
        result = act("api_request", **values)
        assert result.code == 1, (values, result.stdout)
        assert result.error["cause"] and result.error["assistance"], values
    assert journal() == []


def test_the_refusal_says_why(act):
    causes = {path: act("api_request", path=path).error["cause"]
              for path in ("https://evil.example.com/x", "/a/../b", "/%2e%2e/b", "/a\\b", "/a\nb", "/a//b")}
    assert "absolute URL" in causes["https://evil.example.com/x"]
    assert "leave the API" in causes["/a/../b"]
    assert "percent-encoding" in causes["/%2e%2e/b"]
    assert "backslashes" in causes["/a\\b"]
    assert "control characters" in causes["/a\nb"]
    assert "empty segments" in causes["/a//b"]


def test_the_api_key_is_never_printed(act, sandbox):
    for result in (act("api_request", path="/abilities"), act("api_request", path="/users/PNOSUCH"),
                   act("api_request", path="https://evil.example.com")):
        assert sandbox.info["api_key"] not in result.stdout + result.stderr
