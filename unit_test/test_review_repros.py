"""Regression tests of the review's findings on the fleet code (review-report, main 419054c): each
began as the reviewer's repro, marked xfail(strict) while the code broke what README's deployment
section promises. Real PostgreSQL (postgres_server.py), real TCP cuts, SQLite beside it where the
finding applies to one state directory too."""

import json
import socket
import threading
import time
import uuid

import pytest
from conftest import run_command
from outbox_support import postgres
from test_consumer_groups import GROUP, add_at_once, age, books_dir, dead_owner, judged_a_lease, seqs
from test_runbook_events import event_for, settings
from test_state_postgresql import notes_of

import postgres_server
from pagerduty_plugin import runbooks
from pagerduty_plugin.runbooks.command import flush_at_exit
from pagerduty_plugin.runbooks.event_runs import run_claimed
from pagerduty_plugin.state import leases, runs_pg
from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE, Inbox
from pagerduty_plugin.state.runs import RunStore, RunStoreError

INBOX_WRITE_LOCK = 727276  # inbox_pg.WRITE_LOCK


def database():
    return postgres().fresh_database("r" + uuid.uuid4().hex[:12])


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    return str(tmp_path / "state") if request.param == "sqlite" else database()


# --- 1. a PostgreSQL outage longer than a lease: a live owner's run is taken over and run again ----


def test_a_live_owners_run_is_not_taken_over_after_an_outage_longer_than_the_lease(monkeypatch):
    try:
        server = postgres_server.start()  # its own: this test stops it
    except postgres_server.Unavailable as exc:
        pytest.skip(str(exc))
    monkeypatch.setattr(runs_pg, "LEASE_SECONDS", 3.0)  # runbook serve's 30 s, scaled: beats every third
    stores = [RunStore(server.url) for _ in range(3)]
    owner, beats, taker = stores
    failed = threading.Event()
    try:
        run_id = owner.claim("book", "E1", "alive", {"id": "E1"})
        heartbeat = leases.Heartbeat(lambda: beats.beat("alive"), 1.0, lambda exc: failed.set()).start()
        time.sleep(2)
        assert taker.take_over("taker", ["book"]) == []  # control: a beating owner keeps its run
        server.pause()  # a failover, a restart: longer than the lease
        time.sleep(3.5)
        failed.clear()
        failed.wait(5)  # the owner's heartbeat has just tried (and failed): its next try is a period away
        server.resume()
        taken = None
        for _ in range(3):  # as serve_rounds: a failed round is said and tried again
            try:
                taken = taker.take_over("taker", ["book"])
                break
            except RunStoreError:
                continue
        heartbeat.stop()
        # the owner never stopped: it is still executing the run's steps, and now the taker runs them again
        assert taken == [], f"run {run_id} of a live owner taken over right after the outage: {taken}"
    finally:
        for store in stores:
            store.close()
        server.stop()


# --- 2. a run claim whose COMMIT's answer is lost: the run is never executed --------------------------


class CommitCutter:
    """A TCP proxy to PostgreSQL; once armed, it passes the client's next COMMIT on to the server
    and then cuts the connection without passing the answer back: a commit in doubt. refuse(): every
    connection cut at once and new ones refused (a database gone), until allow()."""

    def __init__(self, port):
        self.port = port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = self.listener.getsockname()[1]
        self.armed, self.commits_cut = threading.Event(), 0
        self.refusing, self.pairs = threading.Event(), []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            if self.refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.port))
            pair = {"held": False, "sockets": (client, upstream)}
            self.pairs.append(pair)
            threading.Thread(target=self.pump, args=(client, upstream, pair, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, pair, False), daemon=True).start()

    def pump(self, source, target, pair, from_client):
        try:
            while True:
                data = source.recv(65536)
                if not data or pair["held"]:
                    break
                if from_client and self.armed.is_set() and b"COMMIT" in data:
                    self.armed.clear()
                    pair["held"] = True  # the server's answer goes nowhere: the other pump cuts on it
                    self.commits_cut += 1
                    target.sendall(data)
                    continue
                target.sendall(data)
        except OSError:
            pass
        self.cut(pair)

    @staticmethod
    def cut(pair):
        for sock in pair["sockets"]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def refuse(self):
        self.refusing.set()
        for pair in self.pairs:
            self.cut(pair)

    def allow(self):
        self.refusing.clear()


def test_a_run_whose_claim_commit_was_in_doubt_is_still_run():
    direct = database()
    host, port = direct.split("@", 1)[1].split("/", 1)[0].split(":")
    cutter = CommitCutter(int(port))
    store = RunStore(direct.replace(f":{port}/", f":{cutter.address}/"))  # runbook serve's store
    beats, other = RunStore(direct), RunStore(direct)
    try:
        cutter.armed.set()
        with pytest.raises(RunStoreError):  # run_for_event raises it: the event stays untaken ...
            store.claim("book", "E1", "serve-1", {"id": "E1"})
        assert cutter.commits_cut == 1
        again = store.claim("book", "E1", "serve-1", {"id": "E1"})  # ... and its next round claims again
        beats.beat("serve-1")  # serve-1 lives on: its heartbeat keeps every running run of its own fresh
        row = other.for_event("book", "E1")
        assert row["status"] == "running" and row["owner"] == "serve-1"  # committed after all
        assert other.take_over("serve-2", ["book"]) == []  # nobody may take it over while serve-1 beats
        # so unless the retry gets the run back, the event is marked done and the runbook never runs
        assert again is not None, f"run {row['id']} stays `running` with no process executing it"
    finally:
        for each in (store, beats, other):
            each.close()


def test_a_run_whose_claim_was_in_doubt_and_whose_event_went_to_another_member_is_run_by_its_owner():
    direct = database()
    port = direct.split("@", 1)[1].split("/", 1)[0].split(":")[1]
    cutter = CommitCutter(int(port))
    store = RunStore(direct.replace(f":{port}/", f":{cutter.address}/"))  # serve-1's store
    member = RunStore(direct)  # serve-2: the event, freed by serve-1's failed round, is its now
    try:
        cutter.armed.set()
        with pytest.raises(RunStoreError):
            store.claim("book", "E1", "serve-1", {"id": "E1"})
        assert member.claim("book", "E1", "serve-2", {"id": "E1"}) is None  # recorded: serve-2 marks it done
        [(run_id, runbook, event)] = store.recorded_in_doubt("serve-1")  # serve-1's next round runs it
        assert (runbook, event) == ("book", {"id": "E1"}) and member.for_event("book", "E1")["id"] == run_id
        assert store.recorded_in_doubt("serve-1") == []  # once
        assert store.claim("book", "E2", "serve-1", {"id": "E2"})  # a claim not in doubt: as before
        assert store.recorded_in_doubt("serve-1") == []
    finally:
        store.close()
        member.close()

# --- 3. a renewal that waited for the inbox's write lock writes a lease that has already run out ----


def test_a_lease_renewed_after_waiting_for_the_inbox_lock_is_not_already_over():
    import psycopg

    url = database()
    # the holder waits out the 3 s write below (lock_timeout 2 s would end its wait with LockBusy first)
    inbox, rival = Inbox(url + "?options=-c%20lock_timeout%3D20s"), Inbox(url)
    renewed = []
    try:
        assert inbox.acquire("poller", "holder", 30) is None
        with psycopg.connect(url) as writer:  # another host's long inbox write (a big poll stored, a purge)
            writer.execute("SELECT pg_advisory_xact_lock(%s)", (INBOX_WRITE_LOCK,))
            renewal = threading.Thread(target=lambda: renewed.append(inbox.renew("poller", "holder", 2) or True))
            renewal.start()
            time.sleep(3)
            writer.commit()
        renewal.join(30)
        assert renewed == [True], "the renewal did not complete"
        # the renewal succeeded just now, for 2 s more: nobody else may have the lease yet
        assert rival.acquire("poller", "rival", 30) is not None, "a lease renewed a moment ago was taken over"
    finally:
        inbox.close()
        rival.close()


# --- 1, both stores: a judge that has just reached the store takes nothing; a taken-over owner stops --


def test_a_judge_that_has_just_reached_the_store_takes_no_live_run_but_a_dead_processs_at_once(state):
    owner, judge = RunStore(state), RunStore(state)
    try:
        alive = owner.claim("book", "E1", "host-b:1:alive", {"id": "E1"})
        dead = owner.claim("book", "E2", dead_owner("dead"), {"id": "E2"})
        for run_id in (alive, dead):
            age(state, run_id)  # no beat for an hour: an outage, or a process gone
        # host-b may have been cut off with the store; this host's process that owned E2 is gone for sure
        assert [found[0] for found in judge.take_over("judge", ["book"])] == [dead]
        assert judge.get(alive)["owner"] == "host-b:1:alive"
    finally:
        owner.close()
        judge.close()


def test_a_run_taken_over_from_its_owner_stops_before_its_next_step(tmp_path, state, connection, sandbox,
                                                                    monkeypatch):
    book = runbooks.load(str(books_dir(tmp_path) / "note-once.yaml"))  # steps: list notes, then add one
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    cut_off, taker = RunStore(state), RunStore(state)
    try:
        run_id = cut_off.claim(book.name, "E1", "cut-off", event_for(incident, "E1"))
        age(state, run_id)  # its owner could not beat for a lease (cut off alone) ...
        assert [found[0] for found in judged_a_lease(taker, monkeypatch, [book.name])] == [run_id]
        # ... and, still alive, runs its first step: before the second it finds the run is no longer its own
        answer = run_claimed(book, run_id, event_for(incident, "E1"), settings(connection), cut_off, owner="cut-off")
        assert answer["status"] == "taken_over" and run_id in answer["error"]["cause"]
        assert [note for note in notes_of(sandbox, incident) if "E1" in note] == []  # the second step never ran
        assert cut_off.get(run_id)["owner"] == "taker" and cut_off.get(run_id)["answer"] is None
        answer = run_claimed(book, run_id, event_for(incident, "E1"), settings(connection), taker, owner="taker")
        assert answer["status"] == "ok" and len([note for note in notes_of(sandbox, incident) if "E1" in note]) == 1
    finally:
        cut_off.close()
        taker.close()


# --- 6: a run whose every process dies (a runbook that crashes its host) fails after 3 takeovers ------


def test_a_run_taken_over_three_times_is_marked_failed_and_shows_so(state):
    said = []
    store = RunStore(state, warn=said.append)
    try:
        owners = [dead_owner(f"host{number}") for number in range(5)]  # each one OOM-killed in turn
        run_id = store.claim("book", "E1", owners[0], {"id": "E1"})
        for number in range(1, 4):
            age(state, run_id)
            assert [found[0] for found in store.take_over(owners[number], ["book"])] == [run_id]
        age(state, run_id)
        assert store.take_over(owners[4], ["book"]) == []  # not a 4th time
        run = store.get(run_id)
        assert run["status"] == "failed" and "taken over 3 times" in run["answer"]["error"]["cause"]
        assert len(said) == 1 and run_id in said[0] and "marked failed" in said[0]
    finally:
        store.close()
    listed = json.loads(run_command(["runbook", "runs", "--state", state]).stdout)["runs"]
    assert [(found["id"], found["status"]) for found in listed] == [(run_id, "failed")]
    assert "crash its host" in listed[0]["answer"]["error"]["cause"]
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)["runs"]
    assert status["runs"] == {"failed": 1} and status["takeovers"]["count"] == 3


# --- 4. runbook serve's exit: the answers the store refused are tried again, what is left is said -----


class Said:
    def __init__(self):
        self.lines = []

    def warning(self, message):
        self.lines.append(message)


def test_answers_refused_at_exit_are_written_by_a_bounded_retry_and_what_is_left_is_said():
    direct = database()
    port = direct.split("@", 1)[1].split("/", 1)[0].split(":")[1]
    proxy = CommitCutter(int(port))
    store, reader = RunStore(direct.replace(f":{port}/", f":{proxy.address}/")), RunStore(direct)
    answer = {"status": "ok", "steps": [], "outputs": {}}
    try:
        blip, down = (store.claim("book", event, "serve-1", {"id": event}) for event in ("E1", "E2"))
        proxy.refuse()  # a deploy restarts the database as serve exits: the answer is refused ...
        store.finish(blip, answer, "serve-1")
        assert blip in store.unfinished
        log = Said()
        assert flush_at_exit(store, log, wait=proxy.allow)  # ... and written once the database is back
        assert reader.get(blip)["status"] == "ok" and log.lines == [] and not store.unfinished

        proxy.refuse()  # a database that stays away
        store.finish(down, answer, "serve-1")
        waits = []
        assert flush_at_exit(store, log, tries=3, wait=lambda: waits.append(1)) is False
        assert len(waits) == 2 and reader.get(down)["status"] == "running"
        [line] = log.lines
        warning = json.loads(line)["warning"]
        assert warning["data"]["runs"] == [{"run_id": down, "status": "ok", "owner": "serve-1"}]
        assert "refused 3 times" in warning["cause"] and "takes them over" in warning["assistance"]
    finally:
        store.close()
        reader.close()


# --- 5. a claim racing a done() that moves the position: it never claims events at or below it ------


def test_a_claim_waits_for_a_done_moving_the_position_and_claims_nothing_below_it():
    import psycopg

    url = database()
    inbox = Inbox(url)
    inbox.begin(GROUP, replay=True, sources=[WEBHOOK_SOURCE], shared=True)
    add_at_once(url, ["PINC001"] * 3)
    claimed = []
    try:
        with psycopg.connect(url) as member_a:  # a's done() of all three, in flight: the position moves to 3
            member_a.execute("SELECT seq FROM inbox_positions WHERE consumer = %s FOR UPDATE", (GROUP,))
            member_a.execute("UPDATE inbox_positions SET seq = 3 WHERE consumer = %s", (GROUP,))
            claim = threading.Thread(target=lambda: claimed.append(inbox.claim(GROUP, [WEBHOOK_SOURCE], "b", 30)))
            claim.start()
            assert postgres_server.wait_until(lambda: claimed or waiting_for_a_lock(url), 30)
            member_a.commit()
        claim.join(30)
        assert seqs(claimed[0]) == []  # b read the position after a's done committed
    finally:
        inbox.close()


def waiting_for_a_lock(url):
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                          "wait_event_type = 'Lock'").fetchone()[0] > 0


# --- 6. a member blocked in a long step holds only the event it runs: the others take the rest ------


def test_a_member_blocked_in_a_long_step_holds_only_that_event(state):
    import logging

    from pagerduty_plugin import spec as speclib
    from pagerduty_plugin.consumer_group import GroupRun

    nowhere = {"api_key": "u+canary-not-used-0000", "api_url": "http://127.0.0.1:9"}  # webhooks only: no request
    member = GroupRun(speclib.load(), "incident_event", {}, nowhere, logging.getLogger("test"), state,
                      consumer=GROUP, owner="blocked", replay=True)
    other = Inbox(state)
    member.begin(wait=False)
    add_at_once(state, ["PINC001"] * 4)
    running, release, handed = threading.Event(), threading.Event(), []

    def deliver(event):  # its first event's step hangs
        handed.append(event["event"]["id"])
        running.set()
        release.wait(30)

    blocked = threading.Thread(target=member.hand_over, args=(deliver,))
    blocked.start()
    try:
        assert running.wait(30)
        # the others get every event but the one it runs, at once (not a lease later)
        assert len(seqs(other.claim(GROUP, [WEBHOOK_SOURCE], "free", 30))) == 3
    finally:
        release.set()
        blocked.join(30)
        member.heartbeat.stop()
        member.close()
        other.close()
    assert len(handed) == 1
