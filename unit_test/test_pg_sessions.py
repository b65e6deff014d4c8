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
    assert stored_with_key(database, key) == 1 and Inbox(database).count("webhook") == 2


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
