"""Review repros (throwaway, branch `review`): each test asserts what README's deployment section
promises and is marked xfail(strict) because the code on main 419054c breaks it. A fix turns the
test into an XPASS, which fails it: then drop the marker. Real PostgreSQL (postgres_server.py)."""

import socket
import threading
import time
import uuid

import pytest
from outbox_support import postgres

import postgres_server
from pagerduty_plugin.state import leases, runs_pg
from pagerduty_plugin.state.inbox import Inbox
from pagerduty_plugin.state.runs import RunStore, RunStoreError

INBOX_WRITE_LOCK = 727276  # inbox_pg.WRITE_LOCK


def database():
    return postgres().fresh_database("r" + uuid.uuid4().hex[:12])


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
    and then cuts the connection without passing the answer back: a commit in doubt."""

    def __init__(self, port):
        self.port = port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = self.listener.getsockname()[1]
        self.armed, self.commits_cut = threading.Event(), 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.port))
            pair = {"held": False, "sockets": (client, upstream)}
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
        for sock in pair["sockets"]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


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


# --- 3. a renewal that waited for the inbox's write lock writes a lease that has already run out ----


def test_a_lease_renewed_after_waiting_for_the_inbox_lock_is_not_already_over():
    import psycopg

    url = database()
    inbox, rival = Inbox(url), Inbox(url)
    try:
        assert inbox.acquire("poller", "holder", 30) is None
        with psycopg.connect(url) as writer:  # another host's long inbox write (a big poll stored, a purge)
            writer.execute("SELECT pg_advisory_xact_lock(%s)", (INBOX_WRITE_LOCK,))
            renewal = threading.Thread(target=inbox.renew, args=("poller", "holder", 2))
            renewal.start()
            time.sleep(3)
            writer.commit()
        renewal.join(30)
        # the renewal succeeded just now, for 2 s more: nobody else may have the lease yet
        assert rival.acquire("poller", "rival", 30) is not None, "a lease renewed a moment ago was taken over"
    finally:
        inbox.close()
        rival.close()
