"""Scoped OAuth through the real CLI against the sandbox's identity service: one token for many
processes, renewal before expiry and once on a 401, a missing scope named, secrets never shown,
and the scopes each step asks for."""
import json
import os
import time

import pytest
from conftest import ROOT, run_command

from pagerduty_plugin import spec as speclib
from pagerduty_plugin.sandbox import Sandbox

CANARY_ID = "canary-client-7c1d"
CANARY_SECRET = "canarySECRET-oauth+9Zq4Wm"


@pytest.fixture
def identity_sandbox():
    """A sandbox of our own: its token route is the identity service's, which PagerDuty's REST
    OpenAPI (the conftest's strict-contract runs) does not describe."""
    server = Sandbox(seed="demo").start()
    with server.store.lock:
        server.identity.clients[CANARY_ID] = {"secret": CANARY_SECRET, "scopes": None}
    yield server
    server.stop()


@pytest.fixture
def oauth_env(identity_sandbox, tmp_path):
    info = identity_sandbox.info
    return {"PAGERDUTY_API_URL": info["api_url"], "PAGERDUTY_IDENTITY_URL": info["identity_url"],
            "PAGERDUTY_CLIENT_ID": CANARY_ID, "PAGERDUTY_CLIENT_SECRET": CANARY_SECRET,
            "PAGERDUTY_SUBDOMAIN": info["subdomain"], "PAGERDUTY_FROM": info["from_email"],
            "PAGERDUTY_TIMEOUT": "5", "XDG_STATE_HOME": str(tmp_path / "state")}


def requests_to(server, path=None):
    return [e for e in server.journal() if not e["path"].startswith("/_sandbox")
            and (path is None or e["path"] == path)]


def token_requests(server):
    return requests_to(server, "/oauth/token")


def hook(server, **settings):
    with server.store.lock:
        return server.identity.settings(settings)


def asked_scopes(server):
    """The scopes of every token the sandbox issued, in order (it refuses any other account than
    as_account-us.sandbox)."""
    with server.store.lock:
        return [sorted(token["scopes"]) for token in server.identity.tokens.values()]


def test_twenty_run_processes_fetch_one_token(identity_sandbox, oauth_env, tmp_path):
    for _ in range(20):
        result = run_command(["run", "list_incidents"], b'{"max_results": 1}', oauth_env)
        assert result.code == 0, result.stderr
        assert result.output["count"] == 1
    assert len(token_requests(identity_sandbox)) == 1
    listing = requests_to(identity_sandbox, "/incidents")
    assert len(listing) == 20
    assert all(e["headers"]["Authorization"].startswith("Bearer ") for e in listing)
    cached = list((tmp_path / "state" / "pagerduty-plugin" / "oauth").iterdir())
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o777 == 0o600
    assert CANARY_SECRET not in cached[0].read_text()


def test_no_scopes_configured_asks_exactly_the_actions(identity_sandbox, oauth_env):
    policy = identity_sandbox.seed_ids["escalation_policies"][0]
    assert run_command(["run", "get_on_call"], json.dumps({"escalation_policy_id": policy}), oauth_env).code == 0
    assert asked_scopes(identity_sandbox) == [["escalation_policies.read", "oncalls.read", "schedules.read"]]


def test_scopes_configured_are_asked_for_as_given(identity_sandbox, oauth_env):
    env = {**oauth_env, "PAGERDUTY_SCOPES": "incidents.read  users.read"}
    assert run_command(["run", "list_incidents"], b"{}", env).code == 0
    assert asked_scopes(identity_sandbox) == [["incidents.read", "users.read"]]


def test_a_token_that_expires_mid_stream_is_renewed_once(identity_sandbox, oauth_env):
    identity_sandbox.seed_incidents(450)
    hook(identity_sandbox, expire_next_after=2)  # the first token expires after two pages
    result = run_command(["run", "list_incidents"], b"{}", oauth_env)
    assert result.code == 0, result.stdout
    assert result.output["count"] >= 450 and not result.output["truncated"]
    assert len(token_requests(identity_sandbox)) == 2
    refused = [e for e in requests_to(identity_sandbox, "/incidents") if e["status"] == 401]
    assert 1 <= len(refused) <= 4  # the pages in flight with the expired token; each is asked again
    assert "renewing it once" in result.stderr


def test_a_token_near_its_expiry_is_renewed_before_use(identity_sandbox, oauth_env):
    hook(identity_sandbox, lifetime=1)
    assert run_command(["run", "list_priorities"], b"{}", oauth_env).code == 0
    time.sleep(1.2)  # the cached token is now past its renewal time: no use waiting for a 401
    assert run_command(["run", "list_priorities"], b"{}", oauth_env).code == 0
    assert len(token_requests(identity_sandbox)) == 2
    assert all(e["status"] == 200 for e in requests_to(identity_sandbox, "/priorities"))


def test_a_401_with_a_fresh_token_fails_after_one_renewal(identity_sandbox, oauth_env):
    hook(identity_sandbox, reject_all=True)
    result = run_command(["run", "list_priorities"], b"{}", oauth_env)
    assert result.code == 1
    error = result.error
    assert "even after renewing it (HTTP 401)" in error["cause"]
    assert error["data"]["status"] == 401
    assert len(token_requests(identity_sandbox)) == 2
    assert [e["status"] for e in requests_to(identity_sandbox, "/priorities")] == [401, 401]


def test_a_step_whose_scope_is_missing_fails_with_the_scope_named(identity_sandbox, oauth_env):
    env = {**oauth_env, "PAGERDUTY_SCOPES": "incidents.read"}
    incident = identity_sandbox.seed_ids["incidents"]["triggered"][0]
    result = run_command(["run", "add_note"], json.dumps({"incident_id": incident, "note": "hi"}), env)
    assert result.code == 1
    error = result.error
    assert "incidents.write" in error["cause"] and "HTTP 403" in error["cause"]
    assert error["data"]["missing_scopes"] == ["incidents.write"]
    assert "pagerduty-plugin scopes" in error["assistance"]
    assert len(token_requests(identity_sandbox)) == 1  # a 403 is not a reason to renew


@pytest.mark.parametrize("action, given, scopes, missing", [
    ("list_incident_types", {}, "incidents.read", "incident_types.read"),
    ("list_incident_custom_fields", {"incident_type": "incident_default"}, "incident_types.read", "custom_fields.read"),
    ("start_incident_workflow", {"incident_workflow": "Major incident kickoff", "incident_id": "{incident}"},
     "incident_workflows.read incidents.write", "incident_workflows:instances.write"),
])
def test_the_newer_families_refuse_a_token_without_their_scope(identity_sandbox, oauth_env, action, given, scopes,
                                                                missing):
    incident = identity_sandbox.seed_ids["incidents"]["triggered"][0]
    step = {k: v.replace("{incident}", incident) for k, v in given.items()}
    refused = run_command(["run", action], json.dumps(step), {**oauth_env, "PAGERDUTY_SCOPES": scopes})
    assert refused.code == 1 and "HTTP 403" in refused.error["cause"], refused.stdout
    assert refused.error["data"]["missing_scopes"] == [missing]
    assert run_command(["run", action], json.dumps(step), oauth_env).code == 0  # asking its own scopes


def test_automation_actions_ask_no_scope(identity_sandbox, oauth_env):
    """PagerDuty's OpenAPI names no scope for Automation Actions: a token with none lists them."""
    result = run_command(["run", "list_automation_actions"], "{}", oauth_env)
    assert result.code == 0 and result.output["actions"], result.stdout
    assert asked_scopes(identity_sandbox) == [[]]


def test_wrong_client_secret_is_a_clear_error(identity_sandbox, oauth_env):
    env = {**oauth_env, "PAGERDUTY_CLIENT_SECRET": "not-the-secret-1234"}
    result = run_command(["run", "list_priorities"], b"{}", env)
    assert result.code == 1
    assert "did not accept the OAuth app's credentials" in result.error["cause"]
    assert result.error["data"]["code"] == "invalid_client"
    assert requests_to(identity_sandbox, "/priorities") == []


@pytest.mark.parametrize("settings, field", [
    ({"client_id": CANARY_ID}, "client_secret"),
    ({"client_id": CANARY_ID, "client_secret": CANARY_SECRET}, "subdomain"),
    ({"client_id": CANARY_ID, "client_secret": CANARY_SECRET, "subdomain": "sandbox",
      "api_key": "u+sbxDemo_Key-7QfZ2w"}, "api_key"),
])
def test_connection_rules_are_checked_before_any_request(identity_sandbox, settings, field, tmp_path):
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({**settings, "api_url": identity_sandbox.info["api_url"],
                                "identity_url": identity_sandbox.info["identity_url"]}))
    result = run_command(["run", "list_priorities", "--connection", str(path)], b"{}")
    assert result.code == 1
    assert field in result.error["data"]["fields"]
    assert requests_to(identity_sandbox) == []
    assert CANARY_SECRET not in result.stdout + result.stderr


def test_message_mode_and_connection_test_with_an_oauth_app(identity_sandbox, tmp_path):
    info = identity_sandbox.info
    connection = {"client_id": CANARY_ID, "client_secret": {"secretKey": CANARY_SECRET},
                  "subdomain": info["subdomain"], "api_url": info["api_url"], "identity_url": info["identity_url"]}
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    message = {"version": "v1", "type": "action_start",
               "body": {"action": "list_priorities", "meta": {}, "input": {}, "connection": connection}}
    result = run_command(["run"], json.dumps(message), env)
    assert result.code == 0 and result.output["count"] == 5
    tested = run_command(["test"], json.dumps({**message, "type": "connection_test"}), env)
    assert tested.body["output"]["success"] is True
    assert CANARY_SECRET not in result.stdout + tested.stdout


def test_a_runbook_asks_one_token_for_all_its_steps(identity_sandbox, oauth_env):
    incident = identity_sandbox.seed_ids["incidents"]["triggered"][0]
    result = run_command(["runbook", "run", os.path.join(ROOT, "examples", "runbooks", "triage.yaml"),
                          "--input", json.dumps({"incident_id": incident})], b"", oauth_env)
    assert result.code == 0, result.stdout
    assert result.doc["status"] == "ok"
    wanted = speclib.load().scopes(["get_incident", "get_on_call", "add_note", "add_responders"])
    assert asked_scopes(identity_sandbox) == [wanted]


def test_canary_secrets_never_appear(identity_sandbox, oauth_env, tmp_path):
    """The client secret and every token the sandbox issued: in no output, log or state file (the
    token cache alone holds its token, never the secret)."""
    incident = identity_sandbox.seed_ids["incidents"]["triggered"][0]
    runbook = os.path.join(ROOT, "examples", "runbooks", "resolve-stale.yaml")
    service = identity_sandbox.seed_ids["services"][0]
    hook(identity_sandbox, expire_next_after=1)  # a renewal too: two tokens to look for
    texts = []
    for args, stdin, env in [
        (["--debug", "run", "get_incident"], json.dumps({"incident_id": incident}), oauth_env),
        (["run", "list_incidents"], b"{}", oauth_env),
        (["run", "add_note"], json.dumps({"incident_id": incident, "note": "x"}),
         {**oauth_env, "PAGERDUTY_SCOPES": "incidents.read"}),
        (["--debug", "runbook", "run", runbook, "--input", json.dumps({"service_id": service, "hours": 0})], b"",
         oauth_env),
        (["run", "list_priorities"], b"{}", {**oauth_env, "PAGERDUTY_CLIENT_SECRET": CANARY_SECRET + "x"}),
    ]:
        result = run_command(args, stdin, env)
        texts += [result.stdout, result.stderr]
    tokens = list(identity_sandbox.identity.tokens)
    assert len(tokens) >= 2
    for text in texts:
        assert CANARY_SECRET not in text
        assert not any(token in text for token in tokens)
    state = tmp_path / "state"
    for path in state.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert CANARY_SECRET.encode() not in content, path
            if path.parent.name != "oauth":
                assert not any(token.encode() in content for token in tokens), path
    journal = json.dumps(identity_sandbox.journal())
    assert CANARY_SECRET not in journal and not any(token in journal for token in tokens)


def test_scopes_command_prints_the_union():
    result = run_command(["scopes", "get_incident", "add_note"])
    assert result.code == 0
    assert result.doc == {"scopes": ["incidents.read", "incidents.write"],
                          "actions": {"get_incident": ["incidents.read"], "add_note": ["incidents.write"]}}
    by_path = run_command(["scopes", "api_request"]).doc
    assert by_path["scopes_by_path"] == ["api_request"] and "PAGERDUTY_SCOPES" in by_path["note"]
    assert run_command(["scopes"]).code == 2
    assert run_command(["scopes", "no_such_action"]).code == 1


def test_http_mode_steps_share_one_token(identity_sandbox, oauth_env, plugin_server):
    import requests

    server = plugin_server(["--workers", "1"], oauth_env)
    for _ in range(3):
        answer = requests.post(f"{server.url}/run/list_priorities", json={}, timeout=30)
        assert answer.status_code == 200 and answer.json()["count"] == 5
        assert CANARY_SECRET not in answer.text
    assert len(token_requests(identity_sandbox)) == 1
    assert asked_scopes(identity_sandbox) == [["priorities.read"]]


def test_a_polling_trigger_asks_for_its_own_scopes(identity_sandbox, oauth_env, tmp_path):
    result = run_command(["trigger", "new_incident", "--once", "--state", str(tmp_path / "inbox")],
                         json.dumps({"since": "2020-01-01T00:00:00Z"}), oauth_env)
    assert result.code == 0, result.stderr
    assert result.stdout.count("\n") >= 1
    assert asked_scopes(identity_sandbox) == [["incidents.read"]]
    assert CANARY_SECRET not in result.stdout + result.stderr


def test_the_outbox_drainer_takes_an_oauth_connection(identity_sandbox, oauth_env, tmp_path):
    env = {**oauth_env, "PAGERDUTY_OUTBOX": f"sqlite:///{tmp_path / 'outbox.sqlite3'}",
           "PAGERDUTY_ROUTING_KEY": identity_sandbox.info["routing_key"],
           "PAGERDUTY_EVENTS_URL": identity_sandbox.info["events_url"]}
    sent = run_command(["run", "send_trigger_event"], b'{"description": "disk full", "severity": "critical"}', env)
    assert sent.code == 0, sent.stdout
    drained = run_command(["outbox", "drain"], b"", env)
    assert drained.code == 0, drained.stdout
    assert token_requests(identity_sandbox) == []  # the Events API takes the routing key, never a token


def test_a_cache_file_others_may_read_is_not_trusted(identity_sandbox, oauth_env, tmp_path):
    assert run_command(["run", "list_priorities"], b"{}", oauth_env).code == 0
    cached, = (tmp_path / "state" / "pagerduty-plugin" / "oauth").iterdir()
    cached.chmod(0o644)
    assert run_command(["run", "list_priorities"], b"{}", oauth_env).code == 0
    assert len(token_requests(identity_sandbox)) == 2
    assert cached.stat().st_mode & 0o777 == 0o600  # replaced by a private one


def test_the_identity_host_follows_the_region(monkeypatch, tmp_path):
    import logging

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    from pagerduty_plugin.connection import Connection

    settings = {"client_id": CANARY_ID, "client_secret": CANARY_SECRET, "subdomain": "acme", "region": "eu"}
    tokens = Connection(settings, logging.getLogger("test"), scopes=["incidents.read"]).tokens
    assert tokens.url == "https://identity.eu.pagerduty.com/oauth/token"
    assert tokens.account == "as_account-eu.acme" and tokens.scopes == ["incidents.read"]
