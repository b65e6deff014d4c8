"""Triggers: signed webhooks into the durable inbox, polling, and the two consumers (NDJSON on
stdout, an InsightConnect dispatcher), through the real commands over HTTP on 127.0.0.1."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import ROOT, check_envelope, invoke, run_command, sandbox_env

SECRET = "whsec-" + "s" * 26
ROTATED = "whsec-" + "r" * 26


def signed(body, *secrets):
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def webhook_body(event_type="incident.triggered", incident_id="PINC001", service="PSVC001", event_id=None):
    return json.dumps({"event": {
        "id": event_id or uuid.uuid4().hex, "event_type": event_type, "resource_type": "incident",
        "occurred_at": "2026-11-26T07:00:00.000Z", "agent": None, "client": None,
        "data": {"id": incident_id, "type": "incident", "status": "triggered", "urgency": "high",
                 "service": {"id": service, "type": "service_reference"}, "teams": [{"id": "PTEAM01"}]},
    }}).encode()


def deliver(server, body, signature=None, webhook_id=None):
    headers = {"Content-Type": "application/json", "User-Agent": "PagerDuty-Webhook/V3.0"}
    if signature is not False:
        headers["X-PagerDuty-Signature"] = signature or signed(body, SECRET)
    if webhook_id:
        headers["X-Webhook-Id"] = webhook_id
    return requests.post(server.url + "/webhooks/pagerduty", data=body, headers=headers, timeout=10)


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / "state")


@pytest.fixture
def receiver(plugin_server, state):
    return plugin_server(["--state", state], env={"PAGERDUTY_WEBHOOK_SECRETS": f"{SECRET}, {ROTATED}"})


def take(state, name="incident_event", values=None, env=None, args=(), consumer=None):
    """`trigger NAME --once --replay` in a subprocess (a new consumer gets every event kept): the events it printed."""
    named = ["--consumer", consumer] if consumer else []
    result = run_command(["trigger", name, "--once", "--replay", "--state", state, *named, *args],
                         json.dumps(values or {}), env=env)
    assert result.code == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


# --- webhooks -------------------------------------------------------------------------------


def test_a_signed_webhook_is_stored_once_and_printed_once(receiver, state):
    body = webhook_body()
    first = deliver(receiver, body, webhook_id="wh-1")
    assert first.status_code == 202 and first.json()["duplicate"] is False
    again = deliver(receiver, body, webhook_id="wh-1")  # PagerDuty's retry of the same delivery
    assert again.status_code == 202 and again.json()["duplicate"] is True
    events = take(state)
    assert [e["event"]["id"] for e in events] == [json.loads(body)["event"]["id"]]
    assert take(state) == []  # taken: a second run finds nothing


def test_signatures(receiver, state):
    body = webhook_body()
    assert deliver(receiver, body, signature=signed(body, "whsec-wrong-secret")).status_code == 403
    assert deliver(receiver, body, signature="v1=" + "0" * 64).status_code == 403
    assert deliver(receiver, body, signature=False).status_code == 400
    assert deliver(receiver, body, signature="v0=abc").status_code == 400
    assert deliver(receiver, body + b" ", signature=signed(body, SECRET)).status_code == 403  # body changed
    # during a rotation PagerDuty signs with both; either secret alone is valid too
    assert deliver(receiver, body, signature=signed(body, "whsec-old-one-gone", ROTATED)).status_code == 202
    other = webhook_body()
    assert deliver(receiver, other, signature=signed(other, ROTATED)).status_code == 202
    assert len(take(state)) == 2


@pytest.mark.parametrize("body, status", [
    (b"", 400), (b"not json", 400), (b'{"event": {"id": "x"}}', 400), (b"[1]", 400),
    (b'{"event": {"id": "a", "event_type": "t", "resource_type": "r", "occurred_at": "z", "data": 1}}', 400),
])
def test_malformed_webhooks_get_400_and_store_nothing(receiver, state, body, status):
    response = deliver(receiver, body, signature=signed(body, SECRET))
    assert response.status_code == status and "error" in response.json()
    assert SECRET not in response.text
    assert take(state) == []


def test_oversized_webhooks_get_413(receiver):
    body = json.dumps({"event": {"id": "x", "pad": "p" * 300_000}}).encode()
    assert deliver(receiver, body).status_code == 413


def test_without_secrets_the_receiver_answers_503_so_pagerduty_retries(plugin_server, state):
    server = plugin_server(["--state", state])
    response = deliver(server, webhook_body())
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_an_inbox_that_cannot_be_opened_stops_the_start_and_one_failing_later_is_said_once(plugin_server, state):
    """The server started on a state directory it could not write, and every webhook got 503 with nothing
    on its stderr: only PagerDuty saw why, until it disabled the subscription."""
    store = os.path.join(state, "inbox.sqlite")
    os.makedirs(store)  # no SQLite file can be opened there
    refused = run_command(["http", "--port", "0", "--state", state], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET},
                          timeout=30)  # it used to start, and serve 503s
    assert refused.code == 1 and refused.doc["error"]["cause"].startswith(f"Cannot open the state file {store}")
    os.rmdir(store)
    server = plugin_server(["--state", state, "--workers", "1"], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    for leftover in os.listdir(state):  # the inbox the start opened, broken before the first webhook
        if leftover.startswith("inbox.sqlite"):
            os.remove(os.path.join(state, leftover))
    os.makedirs(store)
    assert [deliver(server, webhook_body()).status_code for _ in range(3)] == [503] * 3
    os.rmdir(store)
    assert deliver(server, webhook_body()).status_code == 202
    server.stop()
    err = server.process.stderr.read().decode()
    assert err.count("webhooks: the inbox cannot store events, each answered 503") == 1, err
    assert err.count("webhooks: the inbox stores events again") == 1, err
    assert len(take(state)) == 1


def test_the_webhook_route_needs_no_bearer_token(plugin_server, state, tmp_path):
    token = tmp_path / "token"
    token.write_text("t" * 32)
    token.chmod(0o600)
    server = plugin_server(["--state", state, "--token-file", str(token)],
                           env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    assert deliver(server, webhook_body()).status_code == 202


def test_a_receiver_killed_after_answering_202_loses_nothing(plugin_server, state):
    server = plugin_server(["--state", state], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    bodies = [webhook_body() for _ in range(20)]
    for body in bodies:
        assert deliver(server, body).status_code == 202
    server.stop(signal.SIGKILL)
    ids = {json.loads(b)["event"]["id"] for b in bodies}
    assert {e["event"]["id"] for e in take(state)} == ids


def test_filters_of_incident_event(receiver, state):
    deliver(receiver, webhook_body("incident.triggered", service="PSVC001"))
    deliver(receiver, webhook_body("incident.resolved", service="PSVC001"))
    deliver(receiver, webhook_body("incident.triggered", service="PSVC002"))
    only = take(state, values={"event_types": ["incident.triggered"], "services": ["PSVC001"]}, consumer="one")
    assert [(e["event"]["event_type"], e["event"]["data"]["service"]["id"]) for e in only] == \
        [("incident.triggered", "PSVC001")]
    assert len(take(state, consumer="all")) == 3  # another consumer (no filters) gets every event
    assert take(state, values={"teams": ["PNOTEAM"]}, consumer="none") == []


def test_bad_trigger_input_is_refused(state):
    unknown = run_command(["trigger", "no_such_trigger", "--once", "--state", state], "{}")
    assert unknown.code == 1 and "Unknown trigger" in unknown.doc["error"]["cause"]
    wrong = run_command(["trigger", "new_incident", "--once", "--state", state], '{"interval": "soon"}')
    assert wrong.code == 1 and "interval" in wrong.doc["error"]["cause"]
    too_often = run_command(["trigger", "new_incident", "--once", "--state", state], '{"interval": 1}')
    assert too_often.code == 1 and "at least 5" in too_often.doc["error"]["cause"]
    assert run_command(["trigger", "incident_event", "--once", "--state", state], "not json").code == 1


# --- message mode: trigger_start and a dispatcher ----------------------------------------------


class Dispatcher:
    """A dispatcher of the test's own: answers `fail_first` 500s, then accepts."""

    def __init__(self, fail_first=0):
        self.received, self.attempts, self.fail_first = [], 0, fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                status = 500 if outer.attempts <= outer.fail_first else 200
                if status == 200:
                    outer.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def trigger_start(name, values, dispatcher_url, connection=None):
    return {"version": "v1", "type": "trigger_start",
            "body": {"trigger": name, "meta": {"trigger_id": "t-1"}, "input": values, "connection": connection or {},
                     "dispatcher": {"url": dispatcher_url, "webhook_url": ""}}}


def run_trigger_message_until(message, state, dispatcher, count, timeout=20):
    """`run` with a trigger_start message, in a subprocess, stopped by SIGTERM once the dispatcher has
    count events (and a moment more, for any extra): (events received, stdout, stderr, exit code)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "run", "--state", state, "--replay"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    process.stdin.write(json.dumps(message).encode())
    process.stdin.close()
    process.stdin = None  # communicate() must not flush it again
    deadline = time.monotonic() + timeout
    while len(dispatcher.received) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # nothing more arrives
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    return dispatcher.received, out, err, process.returncode


def test_a_dispatcher_that_fails_three_times_gets_the_event_once(receiver, state):
    dispatcher = Dispatcher(fail_first=3)
    body = webhook_body()
    deliver(receiver, body)
    try:
        received, out, err, code = run_trigger_message_until(trigger_start("incident_event", {}, dispatcher.url),
                                                             state, dispatcher, count=1)
    finally:
        dispatcher.close()
    assert code == 0, err
    assert dispatcher.attempts == 4 and len(received) == 1
    posted = check_envelope(received[0])
    assert posted["type"] == "trigger_event" and posted["body"]["meta"] == {"trigger_id": "t-1"}
    assert posted["body"]["output"]["event"]["id"] == json.loads(body)["event"]["id"]
    final = check_envelope(json.loads(out))
    assert final["body"]["output"] == {"stopped": True, "delivered": 1}
    assert b"try 2" in err  # the failed posts were logged


def test_a_trigger_start_without_a_dispatcher_is_refused(state):
    message = trigger_start("incident_event", {}, None)
    result = invoke(["run", "--state", state], message)
    assert result.code == 1 and result.doc["type"] == "trigger_event"
    assert "dispatcher" in result.body["error"] and result.body["meta"] == {"trigger_id": "t-1"}


# --- polling ----------------------------------------------------------------------------------


def test_new_incident_polls_each_incident_once(sandbox, state):
    env = sandbox_env(sandbox)
    first_ids = set(sandbox.seed_incidents(3))
    first = take(state, "new_incident", env=env)
    assert first_ids <= {e["event"]["data"]["id"] for e in first}
    assert all(e["event"]["event_type"] == "incident.triggered" for e in first)
    later = set(sandbox.seed_incidents(2))
    second = take(state, "new_incident", env=env)
    assert {e["event"]["data"]["id"] for e in second} == later  # the overlap re-read nothing twice


def test_incident_changed_emits_acknowledge_and_resolve(sandbox, state, act):
    env = sandbox_env(sandbox)
    incident = act("create_incident", title="changes", service="Platform Web").output["incident"]["id"]
    take(state, "incident_changed", env=env)  # what happened before
    assert act("update_status", incident_id=incident, status="acknowledged").code == 0
    assert act("update_status", incident_id=incident, status="resolved").code == 0
    events = take(state, "incident_changed", {"event_types": ["incident.acknowledged", "incident.resolved"]}, env=env)
    assert [(e["event"]["event_type"], e["event"]["data"]["id"]) for e in events] == \
        [("incident.acknowledged", incident), ("incident.resolved", incident)]


def alerts(sandbox, count):
    """count new incidents, each opened by an Events API alert as monitoring would: their ids."""
    session, info = requests.Session(), sandbox.info
    keys = {uuid.uuid4().hex for _ in range(count)}
    for key in keys:
        answer = session.post(info["events_url"] + "/enqueue", json={
            "routing_key": info["routing_key"], "event_action": "trigger", "dedup_key": key,
            "payload": {"summary": f"alert {key}", "source": "test", "severity": "error"}})
        assert answer.status_code == 202
    session.headers.update({"Authorization": f"Token token={info['api_key']}",
                            "Accept": "application/vnd.pagerduty+json;version=2"})
    ids, offset = set(), 0
    while True:
        page = session.get(info["api_url"] + "/incidents",
                           params={"date_range": "all", "limit": 100, "offset": offset}).json()
        ids |= {incident["id"] for incident in page["incidents"] if incident["incident_key"] in keys}
        offset += len(page["incidents"])
        if not page.get("more"):
            assert len(ids) == count
            return ids


@pytest.mark.slow
@pytest.mark.no_conformance  # the delay fault holds a page on purpose
def test_1500_incidents_across_two_polls_and_a_kill_are_each_emitted_once(sandbox, state):
    env = sandbox_env(sandbox)
    since = {"since": (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat(timespec="seconds")}
    before = alerts(sandbox, 750)
    seen = [e["event"]["data"]["id"] for e in take(state, "new_incident", since, env=env)]
    after = alerts(sandbox, 750)
    # the next poll is killed in the middle of the listing: every page takes 0.4 s, 17 pages
    sandbox.add_fault(method="GET", path="/incidents", delay=0.4, count=None)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    full_env.update(env)
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "trigger", "new_incident", "--once",
                                "--state", state], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=full_env, cwd=ROOT)
    process.stdin.write(json.dumps(since).encode())
    process.stdin.close()
    process.stdin = None
    time.sleep(1.2)
    process.kill()
    out, _ = process.communicate(timeout=10)
    sandbox.clear_faults()
    seen += [json.loads(line)["event"]["data"]["id"] for line in out.splitlines()]
    seen += [e["event"]["data"]["id"] for e in take(state, "new_incident", since, env=env)]
    seen += [e["event"]["data"]["id"] for e in take(state, "new_incident", since, env=env)]
    mine = [i for i in seen if i in before | after]
    assert len(mine) == 1500 and set(mine) == before | after


def test_the_webhook_secret_never_leaves_the_server(plugin_server, state):
    canary = "whsec-CANARY-" + "c" * 20
    server = plugin_server(["--state", state, "--debug"], env={"PAGERDUTY_WEBHOOK_SECRETS": canary})
    body = webhook_body()
    answers = [deliver(server, body, signature=signed(body, canary)),
               deliver(server, body, signature=signed(body, "whsec-wrong-wrong-wrong")),
               deliver(server, b"not json", signature=signed(b"not json", canary))]
    assert [a.status_code for a in answers] == [202, 403, 400]
    server.stop()
    seen = server.process.stdout.read() + server.process.stderr.read()
    for answer in answers:
        seen += answer.content
    for name in os.listdir(state):
        with open(os.path.join(state, name), "rb") as fh:
            seen += fh.read()
    assert canary.encode() not in seen
    assert len(take(state)) == 1


def test_a_signature_that_is_not_hex_is_unusable_400(receiver):
    assert deliver(receiver, webhook_body(), signature="v1=" + "é" * 64).status_code == 400


def test_an_interval_under_a_second_is_refused(state):
    result = run_command(["trigger", "new_incident", "--interval", "0", "--state", state], "{}")
    assert result.code == 2 and "--interval" in result.doc["error"]["cause"]


def test_a_long_running_trigger_outlives_a_failed_poll(state):
    """PagerDuty unreachable: the trigger_start keeps going (the poll is retried at its interval)."""
    dispatcher = Dispatcher()
    unreachable = {"api_key": "k" * 20, "api_url": "http://127.0.0.1:9", "max_retries": 0, "timeout": 2}
    message = trigger_start("new_incident", {"interval": 5}, dispatcher.url, connection=unreachable)
    try:
        received, out, err, code = run_trigger_message_until(message, state, dispatcher, count=1, timeout=2)
    finally:
        dispatcher.close()
    assert code == 0 and received == [] and b"the poll failed" in err
    assert check_envelope(json.loads(out))["body"]["output"] == {"stopped": True, "delivered": 0}
    once = run_command(["trigger", "new_incident", "--once", "--state", state], "{}",
                       env={"PAGERDUTY_API_KEY": "k" * 20, "PAGERDUTY_API_URL": "http://127.0.0.1:9",
                            "PAGERDUTY_MAX_RETRIES": "0"})
    assert once.code == 1 and "error" in once.doc  # cron's --once says the poll failed


def test_a_dead_companion_is_started_again(plugin_server, state, tmp_path):
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "a.yaml").write_text("name: a\non: {trigger: incident_event}\nsteps:\n"
                                     "  - {id: t, action: list_teams, input: {}}\n")
    server = plugin_server(["--state", state, "--runbooks", str(runbooks)], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})

    def companions():
        found = subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", "runbook serve"],
                               capture_output=True, text=True).stdout.split()
        return [int(pid) for pid in found]

    deadline = time.monotonic() + 10
    while not companions() and time.monotonic() < deadline:
        time.sleep(0.2)
    [first] = companions()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and companions() in ([], [first]):
        time.sleep(0.3)
    assert companions() and first not in companions()


@pytest.mark.full_answers
def test_a_companion_stopped_with_the_whole_group_is_not_started_again(state, tmp_path, sandbox):
    """`systemctl stop` (and `timeout`) send SIGTERM to every process of the server: the companion that
    stopped with it was started again, with a warning, while the server let a step in flight finish."""
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "a.yaml").write_text("name: a\non: {trigger: incident_event}\nsteps:\n"
                                     "  - {id: t, action: list_teams, input: {}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(sandbox_env(sandbox), PAGERDUTY_WEBHOOK_SECRETS=SECRET)
    server = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "http", "--port", "0", "--state", state,
                               "--runbooks", str(runbooks)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, cwd=ROOT, start_new_session=True)
    try:
        url = json.loads(server.stdout.readline())["url"]
        sandbox.add_fault(method="GET", path="/priorities", count=1, delay=6)
        slow = threading.Thread(target=requests.post, args=(url + "/run/list_priorities",), kwargs={"json": {}})
        slow.start()
        time.sleep(2)  # the step in flight: the server's graceful stop waits for it, the companion does not
        os.killpg(server.pid, signal.SIGTERM)
        code = server.wait(60)
        slow.join(30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    err = server.stderr.read().decode()
    assert code == 0 and "starting it again" not in err, err
    left = subprocess.run(["pgrep", "-s", str(server.pid)], capture_output=True, text=True).stdout.split()
    assert left == [], "a process of the server's session outlived it"
