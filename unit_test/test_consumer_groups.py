"""Consumer groups: several `runbook serve` processes with one consumer name share its events (each
member claims a batch, `FOR UPDATE SKIP LOCKED` on PostgreSQL, with a lease on the store's clock),
each (runbook, event) runs once, a SIGKILLed member's claims are taken by the others after their
lease, on PostgreSQL and on one state directory; and a run's answer is recorded only by its owner.
Real processes, a real PostgreSQL (unit_test/postgres_server.py), the sandbox's notes as the journal."""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
from conftest import ROOT, run_command, sandbox_env
from outbox_support import postgres
from test_consumers import QUICK_LEASE, Lines, add_events, plugin
from test_state_postgresql import notes_of, wait_for

from test_triggers import webhook_body

from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE, Inbox
from pagerduty_plugin.state import runs, runs_pg
from pagerduty_plugin.state.runs import RunStore

GROUP = "runbooks:incident_event"  # runbook serve's default consumer, for the incident_event trigger


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state")
    return postgres().fresh_database("g" + uuid.uuid4().hex[:12])


@pytest.fixture
def database():
    return postgres().fresh_database("g" + uuid.uuid4().hex[:12])


def books_dir(tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(os.path.join(ROOT, "examples", "fleet", "note-once.yaml"), books)  # one note per event
    return books


class Members:
    """`count` runbook serve processes of the default group on one state."""

    def __init__(self, tmp_path, sandbox, state, count):
        env = {**sandbox_env(sandbox), **QUICK_LEASE, "PAGERDUTY_STATE": state, "PAGERDUTY_TIMEOUT": "60",
               "PAGERDUTY_MAX_RETRIES": "0"}
        books = books_dir(tmp_path)
        self.processes = [plugin(["runbook", "serve", str(books)], env=env) for _ in range(count)]
        self.outs = [Lines(process.stdout) for process in self.processes]
        self.errs = [Lines(process.stderr) for process in self.processes]
        for process, out, err in zip(self.processes, self.outs, self.errs):
            try:  # its position made or resumed: events added now are its
                err.wait_for(f"consumer {GROUP}: ", timeout=90)
            except AssertionError:  # a member that failed says why on stdout (its one JSON document)
                raise AssertionError(f"a member did not start (exit {process.poll()}): {out.lines}") from None

    def printed(self):
        return [[json.loads(line) for line in out.lines] for out in self.outs]

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(20)


def add_at_once(state, incidents):
    """One webhook event per incident, stored in one transaction (one claim sees them all): their ids."""
    bodies = [json.loads(webhook_body(incident_id=incident)) for incident in incidents]
    inbox = Inbox(state)
    inbox.add_each(WEBHOOK_SOURCE, [(body["event"]["id"], body) for body in bodies])
    inbox.close()
    return [body["event"]["id"] for body in bodies]


def ran_once_each(sandbox, members, state, incidents, ids):
    """Each event's runbook printed once, run once (ok), and noted once in the sandbox."""
    printed = [line["event"] for lines in members.printed() for line in lines]
    assert sorted(printed) == sorted(ids)
    store = RunStore(state)
    runs = store.latest(len(ids) + 10)
    store.close()
    assert sorted(run["event_id"] for run in runs) == sorted(ids) and {run["status"] for run in runs} == {"ok"}
    notes = [note for incident in incidents for note in notes_of(sandbox, incident) if "Seen by the fleet" in note]
    assert sorted(note.rsplit(" ", 1)[1] for note in notes) == sorted(ids)


def group_status(state):
    done = run_command(["state", "status", "--state", state])
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)["inbox"]


def test_members_of_one_group_share_its_events_and_run_each_once(tmp_path, sandbox, state):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    members = Members(tmp_path, sandbox, state, 3 if state.startswith("postgresql") else 2)
    try:
        sandbox.add_fault(method="GET", path=f"/incidents/{incident}/notes", delay=2, count=1)  # the first run is slow
        ids = add_events(state, 60 if state.startswith("postgresql") else 30, incident_id=incident)
        wait_for(lambda: sum(len(lines) for lines in members.printed()) >= len(ids), timeout=90)
        wait_for(lambda: group_status(state)["groups"][0]["backlog"] == 0)
    finally:
        members.stop()
    ran_once_each(sandbox, members, state, [incident], ids)
    assert sum(1 for lines in members.printed() if lines) > 1  # the work was shared
    inbox = group_status(state)
    assert [consumer["consumer"] for consumer in inbox["consumers"]] == [GROUP]  # one consumer for retention
    [group] = inbox["groups"]
    assert (group["consumer"], group["claimed"], group["done"], group["backlog"]) == (GROUP, 0, 0, 0)
    assert inbox["consumers"][0]["position"] == newest_seq(state)  # the low watermark: every event done


def newest_seq(state):
    inbox = Inbox(state)
    try:
        if state.startswith("postgresql"):
            with inbox.transaction(write=False) as run:
                return run("newest", {})[0][0]
        return inbox.db.execute("SELECT max(seq) FROM events").fetchone()[0]
    finally:
        inbox.close()


@pytest.mark.slow
def test_a_killed_members_claims_go_to_the_others_after_their_lease_and_nothing_runs_twice(
        tmp_path, sandbox, database):
    incident, hanging = sandbox.seed_ids["incidents"]["triggered"][:2]
    members = Members(tmp_path, sandbox, database, 3)
    store = RunStore(database)
    try:
        sandbox.add_fault(method="GET", path=f"/incidents/{hanging}/notes", delay=30, count=1)  # its first run hangs
        stuck, *ids = add_at_once(database, [hanging] + [incident] * 59)  # its member holds it while it hangs
        run = wait_for(lambda: store.for_event("note-once", stuck))
        killed = next(i for i, process in enumerate(members.processes)
                      if run["owner"].split(":")[1] == str(process.pid))
        held = wait_for(lambda: group_status(database)["groups"][0]["claimed"])
        members.processes[killed].kill()
        members.processes[killed].wait(10)
        wait_for(lambda: sum(len(lines) for lines in members.printed()) >= 59, timeout=90)
        wait_for(lambda: store.for_event("note-once", stuck)["status"] == "ok")
        wait_for(lambda: group_status(database)["groups"][0]["backlog"] == 0)
    finally:
        members.stop()
        store.close()
    survivors = [err.text() for i, err in enumerate(members.errs) if i != killed]
    assert held >= 1 and any("claimed by " + run["owner"] in text for text in survivors)  # its claim, taken over
    assert any("taking over run" in text for text in survivors)  # its half-done run, by the runs' takeover
    ran_once_each(sandbox, members, database, [incident, hanging], ids + [stuck])
    assert [line for line in members.printed()[killed] if line["event"] == stuck] == []


def test_a_group_of_one_per_host_name_still_takes_every_event(tmp_path, sandbox):
    state = str(tmp_path / "state")
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    env = {**sandbox_env(sandbox), "PAGERDUTY_STATE": state}
    books = books_dir(tmp_path)
    first = run_command(["runbook", "serve", str(books), "--once", "--consumer", "runbooks-host1"], env=env)
    assert first.code == 0, first.stderr
    ids = add_events(state, 3, incident_id=incident)
    for host in ("host1", "host2"):  # host2 is a new group: it starts after the newest event
        done = run_command(["runbook", "serve", str(books), "--once", "--consumer", f"runbooks-{host}"], env=env)
        assert done.code == 0, done.stderr
        assert [json.loads(line)["event"] for line in done.stdout.splitlines()] == (ids if host == "host1" else [])


# --- a run's answer is its owner's -----------------------------------------------------------------


def test_an_answer_is_recorded_only_while_its_process_still_owns_the_run(state, monkeypatch):
    said = []
    paused, taker = RunStore(state, warn=said.append), RunStore(state)
    run_id = paused.claim("book", "E1", owner="paused", event={"id": "E1"})
    age(state, run_id)  # the paused process's lease ended: its heartbeat is an hour old
    assert [found[0] for found in judged_a_lease(taker, monkeypatch)] == [run_id]
    paused.finish(run_id, {"status": "failed", "steps": [], "outputs": {}}, "paused")
    assert paused.flush() and paused.get(run_id)["status"] == "running" and paused.get(run_id)["owner"] == "taker"
    assert len(said) == 1 and run_id in said[0] and "no longer this process's" in said[0]
    paused.beat("paused")  # no beat for a run that is no longer its own
    taker.finish(run_id, {"status": "ok", "steps": [], "outputs": {}}, "taker")
    assert paused.get(run_id)["status"] == "ok"
    paused.close()
    taker.close()


def dead_owner(name):
    """An owner id of a process of this host that has exited (leases.died_here knows it is gone)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:{name}"


def judged_a_lease(taker, monkeypatch, runbooks=("book",)):
    """What taker takes over once it has looked at the store for a whole lease (1 s here): a judge
    that has just reached the store takes nothing (runs.Judge)."""
    for module in (runs, runs_pg):
        monkeypatch.setattr(module, "LEASE_SECONDS", 1.0)
    assert taker.take_over("taker", list(runbooks)) == []  # its first look
    for _ in range(100):
        time.sleep(0.2)  # looks closer together than a lease: the judge keeps watching
        taken = taker.take_over("taker", list(runbooks))
        if taken:
            return taken
    return []


def age(state, run_id):
    if state.startswith("postgresql"):
        store = RunStore(state)
        with store.transaction() as run:
            run.execute("UPDATE runbook_runs SET heartbeat = heartbeat - 3600 WHERE id = %(id)s", {"id": run_id})
        store.close()
        return
    db = sqlite3.connect(os.path.join(state, "runs.sqlite"))
    db.execute("UPDATE runs SET heartbeat = heartbeat - 3600 WHERE id = ?", (run_id,))
    db.commit()
    db.close()


# --- the claims themselves ---------------------------------------------------------------------------


def test_members_skip_events_being_claimed_take_expired_claims_and_the_position_is_the_low_watermark(state):
    inbox = Inbox(state)
    inbox.begin(GROUP, replay=True, sources=[WEBHOOK_SOURCE], shared=True)
    add_at_once(state, ["PINC001"] * 6)
    if state.startswith("postgresql"):  # c's claim in flight holds the oldest three: b skips them, waiting for none
        import psycopg

        from pagerduty_plugin.state.inbox_pg import SQL

        with psycopg.connect(state) as other:  # c's claim, its transaction not committed yet
            other.execute(SQL["claimable"], {"consumer": GROUP, "owner": "c", "now": 0.0, "sources": [WEBHOOK_SOURCE],
                                             "limit": 3, "window": 1000})
            assert seqs(inbox.claim(GROUP, [WEBHOOK_SOURCE], "b", 30)) == [4, 5, 6]
            other.rollback()
        assert seqs(inbox.claim(GROUP, [WEBHOOK_SOURCE], "c", 30)) == [1, 2, 3]
    else:  # SQLite's write transaction: one claim at a time
        assert seqs(inbox.claim(GROUP, [WEBHOOK_SOURCE], "c", 30, limit=3)) == [1, 2, 3]
        assert seqs(inbox.claim(GROUP, [WEBHOOK_SOURCE], "b", 30)) == [4, 5, 6]
    inbox.done(GROUP, [1, 2, 3])
    assert position_of(state) == 3 and inbox.claim(GROUP, [WEBHOOK_SOURCE], "d", 30) == ([], {})
    [group] = inbox.status()["groups"]
    members = [(member["owner"], member["claims"], member["state"]) for member in group.pop("members")]
    assert members == [("b", 3, "live")]
    assert group == {"consumer": GROUP, "claimed": 3, "done": 0, "backlog": 3}  # b never said it was a member
    expire(inbox, state)  # b's lease ended (it died): its claims are the next member's
    batch, taken = inbox.claim(GROUP, [WEBHOOK_SOURCE], "d", 30)
    assert [seq for seq, _ in batch] == [4, 5, 6] and taken == {"b": 3}
    inbox.done(GROUP, [6])
    assert position_of(state) == 3  # 4 and 5 are not done
    inbox.done(GROUP, [4, 5])
    assert position_of(state) == 6
    assert inbox.status()["groups"] == [{"consumer": GROUP, "members": [], "claimed": 0, "done": 0, "backlog": 0}]
    inbox.close()


def seqs(claimed):
    return [seq for seq, _ in claimed[0]]


def position_of(state):
    return next(c["position"] for c in group_status(state)["consumers"] if c["consumer"] == GROUP)


def expire(inbox, state):
    if state.startswith("postgresql"):
        with inbox.transaction(write=False) as run:
            run.execute("UPDATE inbox_claims SET expires = expires - 3600", {})
    else:
        inbox.db.execute("UPDATE claims SET expires = expires - 3600")
