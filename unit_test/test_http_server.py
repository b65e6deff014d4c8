"""`pagerduty-plugin http`, started as a user would (`--port 0`), exercised over real HTTP."""

import json
import signal
import threading
import time

import pytest
import requests

from conftest import check_envelope, run_command, sandbox_env, start_message


def post(server, path, body, token=None, raw=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else json.dumps(body)
    return requests.post(server.url + path, data=data, headers=headers, timeout=30)


def envelope(response):
    return check_envelope(response.json())


@pytest.fixture
def server(plugin_server, sandbox):
    return plugin_server(env=sandbox_env(sandbox))


def test_status_info_actions_and_spec(server):
    assert requests.get(server.url + "/api/v1/status").json() == {"status": "Ready"}
    info = requests.get(server.url + "/api/v1/info").json()
    assert info["name"] == "pagerduty" and "send_trigger_event" in info["actions"]
    actions = requests.get(server.url + "/api/v1/actions").json()
    assert "get_incident" in actions and len(actions) >= 65
    spec = requests.get(server.url + "/api/v1/spec").json()
    assert spec["actions"].keys() == set(actions)


def test_an_action_start_message_on_both_paths(server, connection):
    for path in ("/actions/send_trigger_event", "/api/v1/actions/send_trigger_event"):
        message = start_message("send_trigger_event", {"description": "disk full"}, connection, meta={"step": 7})
        response = post(server, path, message)
        doc = envelope(response)
        assert response.status_code == 200 and doc["type"] == "action_event"
        assert doc["body"]["status"] == "ok" and doc["body"]["meta"] == {"step": 7}
        assert len(doc["body"]["output"]["dedup_key"]) > 0


def test_a_step_error_answers_400_with_the_envelope(server, connection, journal):
    message = start_message("get_incident", {"incident_id": "../x"}, connection, meta={"run": "r1"})
    response = post(server, "/api/v1/actions/get_incident", message)
    doc = envelope(response)
    assert response.status_code == 400 and doc["body"]["status"] == "error" and "output" not in doc["body"]
    assert doc["body"]["meta"] == {"run": "r1"} and "not a valid PagerDuty incident id" in doc["body"]["error"]
    assert journal() == []


@pytest.mark.parametrize("raw, words", [
    (b"not json", "not valid JSON"),
    (b'{"version":"v2","type":"action_start","body":{"meta":{"m":1}}}', "Unsupported message version"),
    (b'{"version":"v1","type":"task_start","body":{"meta":{"m":1}}}', "Unexpected message type"),
    (b"", "no body"),
])
def test_refused_messages_keep_their_meta(server, raw, words):
    response = post(server, "/api/v1/actions/get_incident", None, raw=raw)
    doc = envelope(response)
    assert response.status_code == 400 and words in doc["body"]["error"]
    assert doc["body"]["meta"] == ({"m": 1} if b"meta" in raw else {})


def test_a_message_for_another_action_is_refused(server, connection, journal):
    message = start_message("delete_user_by_id", {"id": "PUSER01"}, connection)
    response = post(server, "/api/v1/actions/get_incident", message)
    assert response.status_code == 400 and "posted to 'get_incident'" in envelope(response)["body"]["error"]
    assert journal() == []


def test_connection_tests(server, connection):
    response = post(server, "/api/v1/connection/test", {"version": "v1", "type": "connection_test",
                                                          "body": {"meta": {}, "connection": connection}})
    doc = envelope(response)
    assert response.status_code == 200 and doc["type"] == "connection_test" and doc["body"]["output"]["success"]
    bad = {**connection, "api_key": "wrong-key-wrong-key-"}
    response = post(server, "/api/v1/actions/get_incident/test", start_message("get_incident", {}, bad))
    doc = envelope(response)
    assert response.status_code == 400 and doc["type"] == "action_event"
    assert "did not accept the API key" in doc["body"]["error"]


def test_run_takes_the_bare_input_with_the_servers_connection(server, sandbox):
    created = post(server, "/run/send_trigger_event", {"description": "over http"})
    assert created.status_code == 200 and created.json()["status"] == "success"
    listed = post(server, "/run/list_incidents", {"max_results": 5})
    assert listed.status_code == 200 and listed.json()["count"] >= 1
    refused = post(server, "/run/get_incident", {"incident_id": 5})
    assert refused.status_code == 400 and "error" in refused.json()
    unknown = post(server, "/run/no_such_action", {})
    assert unknown.status_code == 400 and "Unknown action" in unknown.json()["error"]["cause"]


def test_unknown_routes_and_methods(server):
    assert requests.get(server.url + "/nope").status_code == 404
    wrong = requests.get(server.url + "/run/get_incident")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"


def test_bodies_over_one_megabyte_get_413(server, journal):
    big = json.dumps({"description": "x" * (1024 * 1024)})
    assert post(server, "/run/send_trigger_event", None, raw=big).status_code == 413

    def chunks():  # no Content-Length: chunked transfer encoding
        for _ in range(20):
            yield b"x" * 65536

    response = requests.post(server.url + "/run/send_trigger_event", data=chunks(), timeout=30)
    assert response.status_code == 413
    assert journal() == []


def test_a_token_guards_every_route_but_status(plugin_server, sandbox, connection, tmp_path):
    token = "t0ken-" + "a" * 30
    path = tmp_path / "token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    server = plugin_server(["--token-file", str(path)], env=sandbox_env(sandbox))
    assert requests.get(server.url + "/api/v1/status").status_code == 200
    message = start_message("send_trigger_event", {"description": "x"}, connection)
    for route, body in (("/api/v1/actions/send_trigger_event", message), ("/run/send_trigger_event", {})):
        assert post(server, route, body).status_code == 401
        assert post(server, route, body, token=token[:-1] + "b").status_code == 401
    assert requests.get(server.url + "/api/v1/actions").status_code == 401
    assert post(server, "/api/v1/actions/send_trigger_event", message, token=token).status_code == 200
    assert requests.get(server.url + "/api/v1/actions", headers={"Authorization": f"Bearer {token}"}).ok


def test_refuses_to_serve_beyond_loopback_without_a_token():
    result = run_command(["http", "--host", "0.0.0.0", "--port", "0"])
    assert result.code == 2 and "without a token" in result.doc["error"]["cause"]
    assert run_command(["http", "--workers", "0"]).code == 2
    assert run_command(["http", "--bogus"]).code == 2


def test_a_missing_token_file_says_how_to_make_one(tmp_path):
    result = run_command(["http", "--port", "0", "--token-file", str(tmp_path / "token.txt")])
    assert result.code == 2 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert result.doc["error"]["cause"].startswith(f"Cannot read the token file {tmp_path / 'token.txt'}")
    assert f"openssl rand -hex 32 > {tmp_path / 'token.txt'}" in result.doc["error"]["assistance"]


def test_concurrent_clients_never_share_a_connection(server, sandbox, connection):
    """Full-access and read-only keys interleaved on 8 threads: each answer matches its own key."""
    readonly = {**connection, "api_key": {"secretKey": sandbox.readonly_api_key}}
    failures = []

    incident = post(server, "/run/create_incident", {"title": "shared", "service": "Platform Web"})
    assert incident.status_code == 200, incident.text
    incident_id = incident.json()["incident"]["id"]

    def client_for(number):
        def run():
            for round_ in range(6):
                writer = (number + round_) % 2 == 0
                message = start_message("add_note", {"incident_id": incident_id, "note": f"n{number}.{round_}"},
                                        connection if writer else readonly)
                response = post(server, "/api/v1/actions/add_note", message)
                if writer != (response.status_code == 200):
                    failures.append((number, round_, response.status_code, response.text[:200]))
        return run

    threads = [threading.Thread(target=client_for(n)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []


def test_secrets_never_reach_an_answer(server, connection):
    canary = "CANARYsecret" + "Z" * 20
    message = start_message("get_incident", {"incident_id": canary}, {**connection, "api_key": canary})
    for path in ("/api/v1/actions/get_incident", "/api/v1/connection/test"):
        response = post(server, path, message)
        assert canary not in response.text and response.status_code == 400


def test_sigterm_lets_the_step_in_flight_finish_then_exits_0(server, sandbox):
    sandbox.add_fault(method="GET", path="/users", delay=2, count=1)
    result = {}

    def slow_call():
        result["response"] = post(server, "/run/list_users", {"max_results": 1})

    caller = threading.Thread(target=slow_call)
    caller.start()
    deadline = time.monotonic() + 30
    while sandbox.faults.listing() and time.monotonic() < deadline:  # until the step waits on the sandbox
        time.sleep(0.02)
    assert not sandbox.faults.listing(), "the step never reached the sandbox"
    server.process.send_signal(signal.SIGTERM)
    caller.join(30)
    assert result["response"].status_code == 200 and result["response"].json()["count"] == 1
    assert server.process.wait(30) == 0


def test_the_server_is_not_imported_by_run():
    """gunicorn stays off the cold path of `run ACTION`."""
    result = run_command(["run", "no_such_action"], env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "import time:" in result.stderr
    assert "gunicorn" not in result.stderr and "pagerduty_plugin.server" not in result.stderr


def test_an_outbox_without_a_routing_key_to_drain_with_is_refused(tmp_path):
    result = run_command(["http", "--port", "0"], env={"PAGERDUTY_OUTBOX": f"sqlite:///{tmp_path / 'o.sqlite'}",
                                                       "XDG_STATE_HOME": str(tmp_path)})
    assert result.code == 2 and "no routing key" in result.doc["error"]["cause"]
