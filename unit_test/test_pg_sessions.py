"""PostgreSQL sessions that cannot hang a fleet (state/pg.py): a host frozen in the middle of a transaction
(SIGSTOP, as a paused VM or a partition) keeps its locks until the server cuts its session
(idle_in_transaction_session_timeout); meanwhile every other host's wait for them ends at lock_timeout with
LockBusy, which each caller retries. A real PostgreSQL, real processes; the timeouts shortened for the test
through the URL's own `options`, which take precedence over the plugin's."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import pytest
from conftest import ROOT
from outbox_support import postgres
from test_triggers import SECRET, deliver, webhook_body

from pagerduty_plugin.state import pg
from pagerduty_plugin.state.inbox import Inbox

QUICK = {"lock_timeout": "300ms", "idle_in_transaction_session_timeout": "4s"}


def with_options(url, settings):
    return url + "?options=" + quote(" ".join(f"-c {name}={value}" for name, value in settings.items()), safe="")


@pytest.fixture
def database():
    return postgres().fresh_database("p" + uuid.uuid4().hex[:12])


FROZEN = """
import json, os, signal, sys
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state.inbox import Inbox
from pagerduty_plugin.state.inbox_pg import event_params

url, key, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
inbox = Inbox(url)
try:
    with inbox.transaction() as run:  # the inbox's write transaction, as its webhook writer's
        run("add", event_params("webhook", key, event, run.now))
        print("inserted", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)  # frozen before the commit, its locks held
    print("committed", flush=True)
except PluginError as exc:
    print(json.dumps({"cause": exc.cause}), flush=True)
    sys.exit(3)
"""


def stopped(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rpartition(")")[2].split()[0] == "T"


def stored_with_key(url, key):
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT count(*) FROM inbox_events WHERE key = %s", (key,)).fetchone()[0]


def test_a_host_frozen_mid_transaction_delays_a_webhook_but_never_hangs_it_and_it_is_stored_once(
        plugin_server, database):
    url = with_options(database, QUICK)
    server = plugin_server(["--state", url, "--workers", "1"], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    assert deliver(server, webhook_body(), webhook_id="before").status_code == 202  # its inbox open and migrated
    body, key = webhook_body(), "delivery-" + uuid.uuid4().hex[:8]
    frozen = subprocess.Popen([sys.executable, "-c", FROZEN, url, key, body.decode()], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert frozen.stdout.readline() == b"inserted\n", frozen.stderr.read()
        deadline = time.monotonic() + 30
        while not stopped(frozen.pid):
            assert time.monotonic() < deadline, "the frozen process never stopped"
            time.sleep(0.01)
        answers = []
        while not answers or answers[-1][0] != 202:  # as PagerDuty does: the same delivery until it is taken
            assert len(answers) < 200, answers[-3:]
            answer = deliver(server, body, webhook_id=key)
            answers.append((answer.status_code, answer.json()))
            time.sleep(0.1)
        refused = answers[:-1]
        assert refused and {status for status, _ in refused} == {503}  # answered, not hung, while it was frozen
        assert all("busy" in found["error"]["cause"] and "lock_timeout" in found["error"]["cause"]
                   for _, found in refused), refused[0]
        assert answers[-1][1]["duplicate"] is False  # the frozen insert was rolled back by the server
        assert stored_with_key(database, key) == 1
        frozen.send_signal(signal.SIGCONT)  # it wakes up and commits, on a session the server has ended
        out, err = frozen.communicate(timeout=60)
    finally:
        if frozen.poll() is None:
            frozen.kill()
            frozen.wait(10)
    assert frozen.returncode == 3 and b"Traceback" not in err, (out, err)
    assert "not usable" in json.loads(out)["cause"]
    assert stored_with_key(database, key) == 1
    again = deliver(server, body, webhook_id=key)  # PagerDuty's late retry of a delivery it saw refused
    assert again.status_code == 202 and again.json()["duplicate"] is True
    inbox = Inbox(database)
    assert stored_with_key(database, key) == 1 and inbox.count("webhook") == 2
    inbox.close()


# --- every store's wait ends in its own retriable error -------------------------------------------------


class Holder:
    """Another session holding locks in an open transaction (a host stalled mid-transaction)."""

    def __init__(self, url):
        import psycopg

        self.db = psycopg.connect(url)  # not autocommit: the first statement opens the transaction

    def __call__(self, text, params=()):
        self.db.execute(text, params)
        return self

    def release(self):
        self.db.rollback()
        self.db.close()


def test_each_stores_wait_for_a_held_lock_ends_in_lock_busy_and_succeeds_once_it_is_free(database):
    from pagerduty_plugin.state.inbox_pg import WRITE_LOCK
    from pagerduty_plugin.state.outbox import key_ref, open_outbox
    from pagerduty_plugin.state.runs import RunStore, RunStoreError

    url = with_options(database, QUICK)
    inbox, runs, outbox = Inbox(url), RunStore(url), open_outbox(url)
    ref = key_ref("R" * 32)
    outbox.add(ref, {"dedup_key": "k"}, "trigger", owner="me", lease=30)  # the key's budget row exists
    holder = (Holder(database)(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
              ("INSERT INTO runbook_runs (id, runbook, event_id, status, started_at) "
               "VALUES ('held', 'book', 'e1', 'running', 'now')")
              ("SELECT * FROM outbox_keys WHERE key_ref = %s FOR UPDATE", (ref,)))
    try:
        with pytest.raises(pg.LockBusy, match="busy"):
            inbox.add("webhook", "k1", json.loads(webhook_body()))
        with pytest.raises(RunStoreError) as raised:  # runbook serve leaves the event for its next round
            runs.claim("book", "e1", "me")
        assert isinstance(raised.value, pg.LockBusy)
        with pytest.raises(pg.LockBusy):
            outbox.add(ref, {"dedup_key": "k2"}, "trigger", owner="me", lease=30)
    finally:
        holder.release()
    assert inbox.add("webhook", "k1", json.loads(webhook_body()))  # the same connections, usable again
    assert runs.claim("book", "e1", "me") is not None
    assert outbox.add(ref, {"dedup_key": "k2"}, "trigger")[0]
    for store in (inbox, runs, outbox):
        store.close()


# --- the settings, and the URL's own taking precedence ---------------------------------------------------


def session_settings(database):
    with database.transaction({}) as run:
        found = run.execute("SELECT current_setting('lock_timeout'), "
                            "current_setting('idle_in_transaction_session_timeout')", {})[0]
    return found, database.connection().info.get_parameters()


def test_every_session_has_the_timeouts_and_keepalives_and_the_urls_own_settings_win(database):
    mine = pg.Database(database, "inbox")
    (lock, idle), params = session_settings(mine)
    assert (lock, idle) == (pg.SESSION["lock_timeout"], pg.SESSION["idle_in_transaction_session_timeout"])
    assert {name: params[name] for name in pg.TCP} == {name: str(value) for name, value in pg.TCP.items()}
    theirs = pg.Database(with_options(database, {"lock_timeout": "7s"}) + "&keepalives_idle=45", "inbox")
    (lock, idle), params = session_settings(theirs)
    assert (lock, idle, params["keepalives_idle"]) == ("7s", pg.SESSION["idle_in_transaction_session_timeout"], "45")
    for each in (mine, theirs):
        each.close()


def test_pgoptions_in_the_environment_takes_precedence_too(database):
    env = {**os.environ, "PGOPTIONS": "-c lock_timeout=9s"}
    code = ("import sys; from pagerduty_plugin.state import pg; d = pg.Database(sys.argv[1], 'inbox'); "
            "print(d.connection().execute(\"SELECT current_setting('lock_timeout')\").fetchone()[0])")
    done = subprocess.run([sys.executable, "-c", code, database], cwd=ROOT, env=env, capture_output=True,
                          timeout=60)
    assert done.stdout.decode().strip() == "9s", done.stderr


# --- the callers retry: runbook serve's round, the outbox's drainer ----------------------------------------


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


@pytest.mark.full_answers
def test_runbook_serve_retries_a_round_whose_claim_met_a_held_lock_and_runs_the_event_once(
        tmp_path, sandbox, database):
    import shutil

    from conftest import sandbox_env
    from test_consumers import Lines, plugin
    from test_state_postgresql import notes_of

    from pagerduty_plugin.state.runs import RunStore

    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "fleet", "note-once.yaml"), books)
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    event_id = "held-" + uuid.uuid4().hex[:8]
    url = with_options(database, QUICK)
    RunStore(database).close()  # its tables made
    holder = Holder(database)("INSERT INTO runbook_runs (id, runbook, event_id, status, started_at) "
                              "VALUES ('held', 'note-once', %s, 'running', 'now')", (event_id,))
    serve = plugin(["runbook", "serve", str(books)], env={**sandbox_env(sandbox), "PAGERDUTY_STATE": url})
    out, err = Lines(serve.stdout), Lines(serve.stderr)
    try:
        err.wait_for("starting after the newest event", timeout=60)
        body = json.loads(webhook_body(incident_id=incident, event_id=event_id))
        inbox = Inbox(database)
        assert inbox.add("webhook", event_id, body)
        inbox.close()
        err.wait_for("busy", timeout=60)  # its claim waited lock_timeout: the round said so and ended
        assert out.lines == []
        holder.release()  # the stalled host's transaction rolled back
        wait_for(lambda: out.lines, "the event's run")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
    assert [json.loads(line)["event"] for line in out.lines] == [event_id]
    assert "Traceback" not in err.text()
    runs = RunStore(database)
    assert runs.for_event("note-once", event_id)["status"] == "ok" and len(runs.latest(50)) == 1
    runs.close()
    assert [note for note in notes_of(sandbox, incident) if event_id in note] == [
        f"Seen by the fleet: event {event_id}"]


@pytest.mark.full_answers
def test_a_drainer_retries_after_a_held_lock_and_delivers_the_event_once(sandbox, database):
    from outbox_support import deliveries, plain_env
    from test_consumers import Lines

    from pagerduty_plugin.state.outbox import key_ref, open_outbox

    ref = key_ref(sandbox.info["routing_key"])
    store = open_outbox(database)
    store.add(ref, {"event_action": "trigger", "dedup_key": "held-lane",
                    "payload": {"summary": "disk full", "source": "db-01", "severity": "error"}}, "trigger")
    store.execute_alone("throttle", {"key_ref": ref, "tokens": 5.0, "now": 0.0, "until": 0.0})  # its budget row
    store.close()
    holder = Holder(database)("SELECT * FROM outbox_keys WHERE key_ref = %s FOR UPDATE", (ref,))
    drainer = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "outbox", "drain", "--forever"], cwd=ROOT,
                               env={**{k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")},
                                    **plain_env(sandbox, with_options(database, QUICK))},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    err = Lines(drainer.stderr)
    try:
        err.wait_for("busy", timeout=60)  # its claim waited lock_timeout for the budget row, said so, goes on
        assert deliveries(sandbox) == []
        holder.release()
        wait_for(lambda: deliveries(sandbox), "the delivery")
    finally:
        drainer.send_signal(signal.SIGTERM)
        drainer.communicate(timeout=30)
    assert [key for key, _, _ in deliveries(sandbox)] == ["held-lane"]
    assert "Traceback" not in err.text()


# --- the outbox's schema versions ----------------------------------------------------------------------


def old_outbox(kind, tmp_path, ref):
    """A state (directory or database) whose outbox the code before schema versions made: its tables and two
    pending events of the routing key `ref` as its steps wrote them (SQLite's from before the per-key budget)."""
    from pagerduty_plugin.state import outbox as sqlite_form
    from pagerduty_plugin.state import outbox_pg

    events = [{"event_action": "trigger", "dedup_key": f"old-{n}",
               "payload": {"summary": f"old {n}", "source": "db-01", "severity": "error"}} for n in (1, 2)]
    rows = [{"key_ref": ref, "lane": f"{ref}:old-{n}", "dedup_key": f"old-{n}", "action": "trigger",
             "body": json.dumps(event), "status": "pending", "now": time.time(), "lease_until": None, "owner": None}
            for n, event in enumerate(events, 1)]
    if kind == "postgresql":
        import psycopg

        state = postgres().fresh_database("o" + uuid.uuid4().hex[:12])
        with psycopg.connect(state) as db:
            db.execute(outbox_pg.SCHEMA)
            for row in rows:
                db.execute(outbox_pg.SQL["insert"], row)
        return state
    import sqlite3

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = sqlite3.connect(str(state / sqlite_form.DEFAULT_FILE))
    db.executescript(sqlite_form.SCHEMA.replace("  tokens REAL NOT NULL DEFAULT 0,\n  refilled_at REAL NOT NULL "
                                                "DEFAULT 0,\n", ""))
    for row in rows:
        db.execute(sqlite_form.SQLITE_SQL["insert"], row)
    db.commit()
    db.close()
    os.chmod(state / sqlite_form.DEFAULT_FILE, 0o600)
    return str(state)


@pytest.mark.full_answers
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_outbox_made_before_versions_is_upgraded_in_place_by_state_migrate_and_its_events_delivered(
        kind, tmp_path, sandbox):
    from conftest import run_command
    from outbox_support import deliveries, plain_env

    from pagerduty_plugin.state.outbox import key_ref

    state = old_outbox(kind, tmp_path, key_ref(sandbox.info["routing_key"]))
    migrated = run_command(["state", "migrate", "--state", state])
    assert migrated.code == 0, migrated.stdout + migrated.stderr
    assert json.loads(migrated.stdout)["outbox"] == {"applied": [1], "version": 1}
    assert json.loads(run_command(["state", "migrate", "--state", state]).stdout)["outbox"]["applied"] == []
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)["outbox"]
    assert (status["schema_version"], status["schema_latest"], status["counts"]["pending"]) == (1, 1, 2)
    env = {**plain_env(sandbox, "sqlite://"), "PAGERDUTY_STATE": state}
    drained = run_command(["outbox", "drain", "--until-empty", "--max-seconds", "30"], env=env)
    assert drained.code == 0 and json.loads(drained.stdout)["sent"] == 2, drained.stdout + drained.stderr
    assert sorted(key for key, _, _ in deliveries(sandbox)) == ["old-1", "old-2"]


def test_outboxes_opening_together_apply_its_migration_once(database):
    code = ("import sys, json; from pagerduty_plugin.state.outbox import open_outbox; "
            "print(json.dumps(open_outbox(sys.argv[1]).migrated))")
    processes = [subprocess.Popen([sys.executable, "-c", code, database], cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(3)]
    applied = [json.loads(process.communicate(timeout=60)[0]) for process in processes]
    assert sorted(applied) == [[], [], [1]]
