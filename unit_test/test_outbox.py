"""The outbox through the real CLI against the sandbox: queued on an outage, per-key order, 400s kept
as dead, drain/status/list/retry/purge, no routing key stored, and the cold path's imports.
Each store test runs on SQLite and on a real PostgreSQL server."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import ROOT, invoke, start_message
from outbox_support import deliveries, plain_env, postgres, store_url, with_outbox

pytestmark = pytest.mark.no_conformance  # the outage tests provoke 503s and 429s on purpose


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return store_url(request.param, tmp_path)


@pytest.fixture
def durable(connection, url):
    return with_outbox(connection, url)


def step(connection, action, **values):
    return invoke(["run"], start_message(action, values, connection))


def outbox(connection, *args):
    """`pagerduty-plugin outbox ARGS --connection FILE`, in process."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(connection, fh)
    try:
        return invoke(["outbox", *args, "--connection", fh.name])
    finally:
        os.unlink(fh.name)


def outage(sandbox, status=503):
    sandbox.add_fault(method="POST", path="/v2/*", count=None, status=status)


def test_sent_at_once_answers_as_without_an_outbox(durable, sandbox):
    result = step(durable, "send_trigger_event", description="disk full", incident_key="db-01/disk")
    assert result.output == {"status": "success", "message": "Event processed",
                             "incident_key": "db-01/disk", "dedup_key": "db-01/disk"}
    assert [(k, a) for k, a, _ in deliveries(sandbox)] == [("db-01/disk", "trigger")]
    assert outbox(durable, "status").doc["counts"] == {"pending": 0, "sending": 0, "sent": 1, "dead": 0}


def test_an_outage_queues_the_event_and_a_drain_delivers_it(durable, sandbox):
    outage(sandbox)
    result = step(durable, "send_trigger_event", description="disk full")
    assert result.code == 0
    output = result.output
    assert output["status"] == "queued" and "HTTP 503" in output["message"] and len(output["dedup_key"]) == 32
    assert deliveries(sandbox) == []
    sandbox.clear_faults()
    drained = outbox(durable, "drain", "--until-empty", "--max-seconds", "20").doc
    assert drained["sent"] == 1 and drained["open"] == 0
    assert [k for k, _, _ in deliveries(sandbox)] == [output["dedup_key"]]


def test_a_later_step_waits_behind_the_queued_ones_then_delivers_them_in_order(durable, sandbox):
    outage(sandbox)
    assert step(durable, "send_trigger_event", description="x", incident_key="k").output["status"] == "queued"
    behind = step(durable, "send_acknowledge_event", incident_key="k").output
    assert behind["status"] == "queued" and "earlier event of this dedup key" in behind["message"]
    step(durable, "send_trigger_event", description="other", incident_key="other")  # another key: its own lane
    sandbox.clear_faults()
    resolved = step(durable, "send_resolve_event", incident_key="k")
    assert resolved.output["status"] == "success"
    assert "delivered 2 earlier event(s)" in resolved.body["log"]
    assert [(k, a) for k, a, _ in deliveries(sandbox)] == [("k", "trigger"), ("k", "acknowledge"), ("k", "resolve")]


def test_a_refused_event_fails_the_step_and_is_kept_dead(durable, sandbox):
    wrong = {"secretKey": "0" * 32}  # well-formed, but no integration has it: PagerDuty answers 400
    result = step(durable, "send_trigger_event", description="x", incident_key="bad", service_key=wrong)
    assert result.code == 1 and "refused" in result.error["cause"]
    dead = outbox(durable, "list", "--status", "dead").doc["events"]
    assert [(e["dedup_key"], e["status"]) for e in dead] == [("bad", "dead")]
    assert "Invalid routing key" in dead[0]["last_error"]


def test_change_events_are_queued_too(durable, sandbox):
    outage(sandbox)
    result = step(durable, "send_change_event", summary="deployed v2")
    assert result.output["status"] == "queued"
    sandbox.clear_faults()
    assert outbox(durable, "drain", "--until-empty", "--max-seconds", "10").doc["sent"] == 1
    changes = [e for e in sandbox.exchanges if e["path"] == "/v2/change/enqueue" and e["status"] == 202]
    assert [c["request_json"]["payload"]["summary"] for c in changes] == ["deployed v2"]


def test_a_429_rests_the_routing_key_for_as_long_as_pagerduty_says(durable, sandbox, journal):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=1, status=429, ratelimit_reset=4)
    assert step(durable, "send_trigger_event", description="x", incident_key="a").output["status"] == "queued"
    (key,) = outbox(durable, "status").doc["keys"].values()
    assert 0 < key["resting_seconds"] <= 4 and key["routing_key"] == "the connection's routing_key"
    tried = len(journal())
    later = step(durable, "send_trigger_event", description="y", incident_key="b").output
    assert later["status"] == "queued" and "resting" in later["message"]
    assert outbox(durable, "drain").doc["sent"] == 0
    assert len(journal()) == tried  # nothing sent on a resting key
    assert outbox(durable, "drain", "--until-empty", "--max-seconds", "10").doc["sent"] == 2
    assert sorted(k for k, _, _ in deliveries(sandbox)) == ["a", "b"]
    assert [e["status"] for e in journal()] == [429, 202, 202]  # the key rested: no send between
    assert [e["attempts"] for e in outbox(durable, "list").doc["events"]] == [1, 1]  # the 429 did not count


def test_retry_and_purge(durable, sandbox):
    wrong = {"secretKey": "0" * 32}
    step(durable, "send_trigger_event", description="x", incident_key="bad", service_key=wrong)
    step(durable, "send_trigger_event", description="y", incident_key="good")
    assert outbox(durable, "retry", "--key", "nothing-like-it").doc["retried"] == 0
    assert outbox(durable, "retry", "--key", "bad").doc["retried"] == 1
    assert [e["status"] for e in outbox(durable, "list").doc["events"]] == ["pending", "sent"]
    assert outbox(durable, "purge", "--older-than", "1h").doc["purged"] == 0
    assert outbox(durable, "purge").doc["purged"] == 1
    assert outbox(durable, "purge", "--status", "dead").doc["purged"] == 0
    assert [e["dedup_key"] for e in outbox(durable, "list").doc["events"]] == ["bad"]


def test_a_drainer_leaves_keys_it_was_not_given(durable, sandbox, tmp_path):
    outage(sandbox)
    step(durable, "send_trigger_event", description="x", incident_key="k")
    sandbox.clear_faults()
    time.sleep(1)  # the step's failed try made the event due again in at most 1 s
    other = {**durable, "routing_key": {"secretKey": sandbox.seed_ids["second_routing_key"]}}
    drained = outbox(other, "drain").doc
    assert drained["sent"] == 0 and list(drained["unknown_keys"].values()) == [1]
    keys_file = tmp_path / "keys"
    with open(keys_file, "w") as fh:
        fh.write(f"# the first service\n{sandbox.info['routing_key']}\n")
    drained = outbox(other, "drain", "--keys", str(keys_file))
    assert drained.doc["sent"] == 1 and sandbox.info["routing_key"] not in drained.stdout + drained.stderr


def test_a_sending_row_whose_sender_died_is_taken_up_again(durable, sandbox, url):
    from pagerduty_plugin.state.outbox import key_ref, open_outbox

    store = open_outbox(url)
    ref = key_ref(sandbox.info["routing_key"])
    # a sender on another host took the row and vanished: its lease must run out first
    store.add(ref, {"event_action": "trigger", "dedup_key": "held",
                    "payload": {"summary": "x", "source": "h", "severity": "info"}}, "trigger", "far-host:1:x", 2.5)
    assert outbox(durable, "drain").doc["sent"] == 0
    time.sleep(2.6)
    assert outbox(durable, "drain").doc["sent"] == 1
    # a sender of this host whose process is gone: taken up at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket
    store.add(ref, {"event_action": "resolve", "dedup_key": "held"}, "resolve",
              f"{socket.gethostname()}:{dead.stdout.strip()}:x", 600)
    assert outbox(durable, "drain").doc["sent"] == 1
    assert [(k, a) for k, a, _ in deliveries(sandbox)] == [("held", "trigger"), ("held", "resolve")]
    store.close()


def test_no_routing_key_is_stored(connection, sandbox, tmp_path, url):
    """A canary key (the sandbox's) and a refused one never reach the SQLite file or PostgreSQL rows (each
    store its own test: PostgreSQL's skips, saying why, where no server can be had)."""
    canary, refused = sandbox.info["routing_key"], "c4n4ry" + "0" * 26
    durable = with_outbox(connection, url)
    step(durable, "send_trigger_event", description="sent", incident_key="a")
    step(durable, "send_trigger_event", description="refused", incident_key="b", service_key=refused)
    outage(sandbox)
    step(durable, "send_trigger_event", description="queued", incident_key="c")
    step(durable, "send_change_event", summary="queued change")
    sandbox.clear_faults()
    for args in (("status",), ("list",), ("drain", "--until-empty", "--max-seconds", "10")):
        result = outbox(durable, *args)
        assert canary not in result.stdout + result.stderr
    texts = stored_text(url, tmp_path)
    for text in texts:
        assert canary not in text and refused not in text
        assert canary.encode().hex() not in text
    assert len(deliveries(sandbox)) == 2  # a and c; b was refused


def stored_text(url, tmp_path):
    if url.startswith("sqlite"):
        path = url[len("sqlite://"):]
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint")  # rows reach the main file too
        db.close()
        found = []
        for name in os.listdir(os.path.dirname(path)):
            if name.startswith(os.path.basename(path)):
                with open(os.path.join(os.path.dirname(path), name), "rb") as fh:
                    found.append(fh.read().decode("latin-1"))
        assert any("queued change" in text for text in found)
        return found
    import psycopg

    with psycopg.connect(url) as db:
        rows = [r[0] for r in db.execute("SELECT t::text FROM outbox_events t").fetchall()]
        rows += [r[0] for r in db.execute("SELECT t::text FROM outbox_keys t").fetchall()]
    assert any("queued change" in row for row in rows)
    return rows


def test_the_outbox_is_off_unless_set(connection, sandbox):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=None, status=503)
    result = step({**connection, "max_retries": 0}, "send_trigger_event", description="x")
    assert result.code == 1 and "HTTP 503" in result.error["cause"]


@pytest.mark.parametrize("value", ["mysql://db/x", "/var/lib/outbox", "sqlite:///no/such/dir/outbox.sqlite3"])
def test_a_bad_outbox_setting_is_refused_before_sending(connection, journal, value):
    result = step(with_outbox(connection, value), "send_trigger_event", description="x")
    assert result.code == 1 and "outbox" in result.error["cause"].lower()
    assert journal() == []


def test_outbox_command_line_errors(durable):
    assert invoke(["outbox"]).code == 2
    assert invoke(["outbox", "retry"]).code == 2
    assert invoke(["outbox", "purge", "--status", "pending"]).code == 2
    result = outbox(durable, "purge", "--older-than", "soon")
    assert result.code == 2 and "duration" in result.error["cause"]


def test_a_postgresql_password_never_shows(connection, sandbox):
    server = postgres()
    url = server.url.replace("postgres@", "postgres:s3cr3t-canary@")  # trust auth: accepted, ignored
    result = outbox(with_outbox(connection, url), "status")
    assert result.code == 0 and "s3cr3t-canary" not in result.stdout + result.stderr
    assert result.doc["outbox"].startswith("postgresql://postgres:********@")
    bad = url.replace(str(server.port), "1")
    result = outbox(with_outbox(connection, bad), "status")
    assert result.code == 1 and "not usable" in result.error["cause"]
    assert "s3cr3t-canary" not in result.stdout + result.stderr


def imported_modules(args, env, stdin):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pagerduty_plugin", *args], cwd=ROOT,
                          input=stdin, capture_output=True, env={**full_env, **env}, timeout=60)
    assert done.returncode == 0, done.stdout
    return set(re.findall(r"\|\s+(\S+)\s*$", done.stderr.decode(), re.M)), json.loads(done.stdout)


def test_the_cold_path_imports_only_what_it_uses(sandbox, tmp_path):
    stdin = b'{"description": "disk full"}'
    env = plain_env(sandbox, f"sqlite:///{tmp_path}/o.sqlite3")
    direct, output = imported_modules(["run", "send_trigger_event"], {**env, "PAGERDUTY_OUTBOX": ""}, stdin)
    assert output["status"] == "success"
    assert not {m for m in direct if m.startswith(("sqlite3", "_sqlite3", "psycopg", "pagerduty_plugin.state",
                                                   "pagerduty_plugin.outbox"))}
    durable, output = imported_modules(["run", "send_trigger_event"], env, stdin)
    assert output["status"] == "success"
    assert "sqlite3" in durable and not {m for m in durable if m.startswith("psycopg")}


def test_the_http_server_drains_in_the_background(sandbox, plugin_server, tmp_path):
    """`pagerduty-plugin http` with an outbox: a step queued in an outage leaves once PagerDuty is back,
    sent by the drainer the server runs beside its workers."""
    import requests

    from conftest import sandbox_env
    from postgres_server import wait_until

    env = {**sandbox_env(sandbox), "PAGERDUTY_OUTBOX": f"sqlite:///{tmp_path / 'outbox.sqlite'}"}
    server = plugin_server(env=env)
    outage(sandbox)
    queued = requests.post(server.url + "/run/send_trigger_event", json={"description": "x", "incident_key": "bg"})
    assert queued.status_code == 200 and queued.json()["status"] == "queued"
    time.sleep(0.5)
    assert deliveries(sandbox) == []
    sandbox.clear_faults()
    assert wait_until(lambda: len(deliveries(sandbox)) == 1, timeout=20)
    assert [(key, action) for key, action, _ in deliveries(sandbox)] == [("bg", "trigger")]


def test_a_refused_connection_queues_the_event(durable, sandbox):
    from postgres_server import free_port

    closed = {**durable, "events_url": f"http://127.0.0.1:{free_port()}/v2"}
    result = step(closed, "send_trigger_event", description="x", incident_key="net")
    assert result.code == 0 and result.output["status"] == "queued"
    assert "connection failure" in result.output["message"].lower()
    assert "the request was not sent" in result.output["message"]
    time.sleep(1)
    assert outbox(durable, "drain", "--until-empty", "--max-seconds", "10").doc["sent"] == 1
    assert [k for k, _, _ in deliveries(sandbox)] == ["net"]


def test_a_failing_dedup_key_backs_off_alone_and_ends_dead_while_the_others_are_delivered(connection, sandbox, url):
    """30 dedup keys of one routing key, 10 events each; PagerDuty fails one key's sends forever."""
    from outbox_support import fill

    durable = with_outbox(connection, url, outbox_max_attempts=2, outbox_max_age=0, outbox_rate=100000)
    written = fill(url, sandbox.info["routing_key"], lanes=30, per_lane=10)
    sandbox.add_fault(method="POST", path="/v2/enqueue", dedup_key="lane-7", count=None, status=500)
    drained = outbox(durable, "drain", "--until-empty", "--max-seconds", "120").doc
    assert drained["sent"] == 290 and drained["dead"] == 10 and drained["open"] == 0
    delivered = {}
    for dedup, action, _ in deliveries(sandbox):
        delivered.setdefault(dedup, []).append(action)
    assert delivered == {key: actions for key, actions in written.items() if key != "lane-7"}  # in order per key
    dead = outbox(durable, "list", "--status", "dead").doc["events"]
    assert {e["dedup_key"] for e in dead} == {"lane-7"} and all(e["attempts"] == 2 for e in dead)
    assert all("gave up after 2 tries" in e["last_error"] and "HTTP 500" in e["last_error"] for e in dead)
    sandbox.clear_faults()
    assert outbox(durable, "retry", "--key", "lane-7").doc["retried"] == 10
    assert outbox(durable, "drain", "--until-empty", "--max-seconds", "60").doc["sent"] == 10
    assert [a for k, a, _ in deliveries(sandbox) if k == "lane-7"] == written["lane-7"]


def test_a_routing_keys_budget_is_shared_by_drainers_and_steps(connection, sandbox, url):
    """outbox_rate 12 a minute: a bucket of one send, refilled every 5.5 s. A drain takes what the
    budget allows and leaves the rest due later; a step finding it spent queues its event."""
    from outbox_support import fill

    durable = with_outbox(connection, url, outbox_rate=12)
    fill(url, sandbox.info["routing_key"], lanes=5, per_lane=1)
    drained = outbox(durable, "drain").doc
    assert drained["sent"] == 1 and drained["open"] == 4
    later = step(durable, "send_trigger_event", description="x", incident_key="late").output
    assert later["status"] == "queued" and "out of budget" in later["message"]
    assert len(deliveries(sandbox)) == 1


def test_a_closed_port_says_the_alert_was_not_sent(connection, sandbox):
    from postgres_server import free_port

    closed = {**connection, "max_retries": 0, "events_url": f"http://127.0.0.1:{free_port()}/v2"}
    result = step(closed, "send_trigger_event", description="x")
    assert result.code == 1 and "the request was not sent" in result.error["cause"]
    assert result.error["assistance"].startswith("The alert was not sent")
    assert "may have accepted" not in result.error["assistance"]


def test_what_a_failed_send_means_is_read_from_the_errors_class_not_its_data():
    from pagerduty_plugin.outbox.sender import DEAD, RETRY, SENT, THROTTLED, outcome_of
    from pagerduty_plugin.errors import AnswerTooLarge, BadAnswer, HttpRefusal, NetworkError, NotSent, PluginError

    cases = [(NetworkError("c", "a", {}, sent=False), RETRY), (NetworkError("c", "a", {}, sent=True), RETRY),
             (HttpRefusal("c", "a", {}, 429, retry_after=3), THROTTLED), (HttpRefusal("c", "a", {}, 503), RETRY),
             (HttpRefusal("c", "a", {}, 408), RETRY), (HttpRefusal("c", "a", {}, 400), DEAD),
             (HttpRefusal("c", "a", {}, 404), DEAD), (HttpRefusal("c", "a", {}, 307), DEAD),
             (BadAnswer("c", "a", {}, 202), SENT), (AnswerTooLarge("c", "a", {}, 202), DEAD),
             (NotSent("c", "a", {}), DEAD),
             # data whose keys once decided it mean nothing now
             (PluginError("c", "a", {"host": "x", "status": 503}), DEAD),
             (HttpRefusal("c", "a", {"bytes": 1}, 500), RETRY)]
    assert [outcome_of(error) for error, _ in cases] == [outcome for _, outcome in cases]
