"""The state's upkeep in a fleet: retention trims the bookkeeping that would otherwise only grow (lease
and run takeovers, expired leases, members gone, claims of deleted events, abandoned runs) and counts
it; `state status` lists every member of a consumer group, idle or gone; a poller that lost its lease
mid-poll stores nothing; `--state` wins over PAGERDUTY_STATE for every store. SQLite and a real
PostgreSQL (unit_test/postgres_server.py), real processes."""

import json
import os
import signal
import socket
import uuid

import pytest
from conftest import run_command, sandbox_env
from outbox_support import postgres
from test_consumer_groups import Members, dead_owner, group_status
from test_consumers import QUICK_LEASE, Lines, add_events, plugin
from test_state_postgresql import wait_for
from test_triggers import alerts

from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE, Inbox, LeaseLost
from pagerduty_plugin.state.runs import RunStore

GROUP = "runbooks:incident_event"
DAYS = 86400
PG_NAMES = {"events": "inbox_events", "lease_takeovers": "inbox_lease_takeovers", "leases": "inbox_leases",
            "group_members": "inbox_group_members", "claims": "inbox_claims", "runs": "runbook_runs",
            "run_takeovers": "runbook_run_takeovers", "positions": "inbox_positions",
            "staged": "inbox_staged"}


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state")
    return postgres().fresh_database("u" + uuid.uuid4().hex[:12])


def sql(store, statement):
    """statement (SQLite's table names) on the store's own connection: rows."""
    if not hasattr(store, "database"):
        return store.db.execute(statement).fetchall()
    for table, name in PG_NAMES.items():
        statement = statement.replace(f" {table} ", f" {name} ")
    with store.database.transaction({}) as run:
        return run.execute(statement, {})


def rows(store, table):
    return sql(store, f"SELECT count(*) FROM {table} ")[0][0]


# --- retention of what would only grow --------------------------------------------------------------


def test_retention_trims_takeovers_expired_leases_gone_members_and_orphaned_claims_and_counts_them(state):
    inbox = Inbox(state)
    inbox.begin(GROUP, replay=True, sources=[WEBHOOK_SOURCE], shared=True)
    add_events(state, 2)
    for consumer in ("old", "new"):  # a lease taken over from a process that died, twice
        inbox.acquire(consumer, "dead", 30)
        inbox.acquire(consumer, "taker", 30, dead="dead")
    inbox.acquire("poller:new_incident:x", "killed", 30)  # a poller whose host died, never polled again
    inbox.claim(GROUP, [WEBHOOK_SOURCE], "killed", 30)  # both events, claimed by a member then killed
    event = {"event": {"id": "E", "event_type": "incident.acknowledged"}}
    inbox.acquire("poller:incident_changed:live", "polling", 30)  # a poll in progress: what it staged stays
    for source in ("new_incident:x", "incident_changed:stopped", "incident_changed:live"):
        inbox.stage(source, [("2026-01-01", "E", event)])
    for member in ("killed", "alive"):
        inbox.renew_claims(GROUP, member, 30)
    sql(inbox, f"UPDATE lease_takeovers SET at = at - {8 * DAYS} WHERE consumer = 'old'")
    sql(inbox, f"UPDATE leases SET expires = expires - {8 * DAYS} WHERE owner = 'killed'")
    sql(inbox, f"UPDATE group_members SET seen = seen - {8 * DAYS} WHERE owner = 'killed'")
    sql(inbox, f"UPDATE events SET received_at = received_at - {8 * DAYS} ")
    before = {table: rows(inbox, table) for table in ("lease_takeovers", "leases", "group_members", "claims", "staged")}
    assert before == {"lease_takeovers": 2, "leases": 4, "group_members": 2, "claims": 2, "staged": 3}
    assert inbox.purge(7) == {GROUP: 2}  # the events, past the age untaken: counted as before
    after = {table: rows(inbox, table) for table in before}
    assert after == {"lease_takeovers": 1, "leases": 3, "group_members": 1, "claims": 0, "staged": 1}
    inbox.close()
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)["inbox"]
    assert {what: found["rows"] for what, found in status["trimmed"].items()} == {
        "lease takeovers": 1, "expired leases": 1, "members gone": 1, "claims of deleted events": 2,
        "staged rows of stopped polls": 2}
    assert status["lease_takeovers"]["count"] == 1 and status["lease_takeovers"]["latest"][0]["consumer"] == "new"
    assert [member["owner"] for member in status["groups"][0]["members"]] == ["alive"]


def test_retention_deletes_runs_abandoned_past_the_age_and_old_run_takeovers_and_counts_them(state):
    runs = RunStore(state)
    taken = runs.claim("book", "e-taken", dead_owner("dead"), event={"id": "e-taken"})  # a fresh judge takes it
    sql(runs, f"UPDATE runs SET heartbeat = heartbeat - 3600 WHERE id = '{taken}'")
    assert [found[0] for found in runs.take_over("taker", ["book"])] == [taken]  # one takeover recorded
    runs.finish(taken, {"status": "ok"}, "taker")
    finished = runs.claim("book", "e-finished", "me")
    runs.finish(finished, {"status": "ok"})
    abandoned = runs.claim("gone-book", "e-abandoned", "dead", event={"id": "e-abandoned"})  # nobody serves it
    running = runs.claim("book", "e-running", "alive")
    sql(runs, f"UPDATE runs SET started_at = '2000-01-01T00:00:00.000Z' WHERE id IN ('{finished}', '{abandoned}', "
              f"'{running}')")
    sql(runs, f"UPDATE runs SET heartbeat = heartbeat - {8 * DAYS} WHERE id = '{abandoned}'")
    sql(runs, f"UPDATE run_takeovers SET at = at - {8 * DAYS} ")
    assert (rows(runs, "runs"), rows(runs, "run_takeovers")) == (4, 1)
    assert runs.purge(7) == {"finished runs": 1, "abandoned runs": 1, "run takeovers": 1}
    assert sorted(found["event_id"] for found in runs.latest()) == ["e-running", "e-taken"]  # alive, or recent
    assert (rows(runs, "runs"), rows(runs, "run_takeovers")) == (2, 0)
    assert runs.purge(7) == {}
    runs.close()
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)["runs"]
    assert {what: {key: value for key, value in found.items() if key != "last"}
            for what, found in status["purged"].items()} == {
        "finished runs": {"runs": 1}, "abandoned runs": {"runs": 1}, "run takeovers": {"rows": 1}}
    assert status["takeovers"] == {"count": 0, "latest": []}


# --- the members of a consumer group ----------------------------------------------------------------


@pytest.mark.full_answers  # about the group, not PagerDuty's contract: once
def test_state_status_lists_every_member_of_a_group_idle_ones_too_and_a_killed_one_as_gone(tmp_path, sandbox):
    state = str(tmp_path / "state")
    hanging = sandbox.seed_ids["incidents"]["triggered"][0]
    members = Members(tmp_path, sandbox, state, 2)
    store = RunStore(state)
    try:
        sandbox.add_fault(method="GET", path=f"/incidents/{hanging}/notes", delay=30, count=1)  # its run hangs
        [event] = add_events(state, 1, incident_id=hanging)
        run = wait_for(lambda: store.for_event("note-once", event))
        busy = next(process for process in members.processes if run["owner"].split(":")[1] == str(process.pid))
        idle = next(process for process in members.processes if process is not busy)
        listed = wait_for(lambda: listed_members(state, {"live"}, claims=True))
        assert {pid_of(member): member["claims"] for member in listed} == {busy.pid: 1, idle.pid: 0}
        assert {member["host"] for member in listed} == {socket.gethostname()}
        assert all(member["last_seen"].endswith("Z") and member["seen_ago"] >= 0 for member in listed)
        busy.kill()
        busy.wait(10)
        listed = wait_for(lambda: listed_members(state, {"live", "gone"}))  # not seen for a lease: gone
        assert {pid_of(member): member["state"] for member in listed} == {busy.pid: "gone", idle.pid: "live"}
    finally:
        members.stop()
        store.close()
    listed = group_status(state)["groups"][0]["members"]
    assert [(pid_of(member), member["state"]) for member in listed] == [(busy.pid, "gone")]  # the other left


def listed_members(state, states, claims=False):
    """The group's members once there are two, in these states (and, with claims, one holding a claim)."""
    groups = group_status(state)["groups"]
    listed = groups[0]["members"] if groups else []
    if len(listed) != 2 or {member["state"] for member in listed} != states:
        return None
    return listed if not claims or any(member["claims"] for member in listed) else None


def pid_of(member):
    return int(member["owner"].split(":")[1])


# --- a poller paused past its lease -----------------------------------------------------------------


@pytest.mark.full_answers  # about the poller's lease, not PagerDuty's contract: once
def test_a_poller_paused_past_its_lease_mid_poll_stores_nothing_and_leaves_the_cursor_to_the_new_holder(
        tmp_path, sandbox):
    state = str(tmp_path / "state")
    env = {**sandbox_env(sandbox), **QUICK_LEASE, "PAGERDUTY_STATE": state, "PAGERDUTY_TIMEOUT": "60",
           "PAGERDUTY_MAX_RETRIES": "0"}
    command = ["trigger", "new_incident", "--interval", "1", "--consumer"]
    first = plugin(command + ["first"], env=env)
    first_err = Lines(first.stderr)
    processes = [first]
    try:
        first_err.wait_for("this process polls it now", timeout=60)
        second = plugin(command + ["second"], env=env)
        processes.append(second)
        second_out, second_err = Lines(second.stdout), Lines(second.stderr)
        second_err.wait_for("polled by", timeout=60)
        paused_poll(sandbox, first, delay=15)  # first's next poll waits for its answer; first is stopped there
        second_err.wait_for("this process polls it now", timeout=60)  # first's lease ran out: second polls
        [early] = alerts(sandbox, 1)
        wait_for(lambda: any(early in line for line in second_out.lines))  # stored by second, cursor moved
        paused_poll(sandbox, second, delay=40, stop=False)  # second now waits in a poll: its cursor stays
        cursor, events = polled_state(state)
        [late] = alerts(sandbox, 1)  # in first's answer (made when its delay ends), never stored by second
        said_before = len(first_err.lines)
        first.send_signal(signal.SIGCONT)
        first_err.wait_for("the poll stops", timeout=60)
        assert polled_state(state) == (cursor, events)  # first stored no event, and left the cursor as it was
        assert not any(late in line for line in second_out.lines)
        assert not any("new event(s)" in line for line in first_err.lines[said_before:])
    finally:
        for process in processes:
            process.kill()
            process.wait(10)


def paused_poll(sandbox, process, delay, stop=True):
    """process's next GET /incidents answered after `delay` s: once it is waiting for it, SIGSTOP it
    (or, without stop, leave it waiting)."""
    sandbox.add_fault(method="GET", path="/incidents", delay=delay, count=1)
    wait_for(lambda: not sandbox.faults.listing())  # taken by its request (it alone polls)
    if stop:
        process.send_signal(signal.SIGSTOP)


def polled_state(state):
    """(the poller's cursor, how many events it stored)."""
    inbox = Inbox(state)
    try:
        [(cursor,)] = inbox.db.execute("SELECT value FROM cursors").fetchall()
        return cursor, inbox.count()
    finally:
        inbox.close()


def test_a_polls_writes_are_fenced_by_its_poller_lease_in_the_same_transaction(state):
    inbox = Inbox(state)
    lease, source = "poller:new_incident:x", "new_incident:x"
    event = {"event": {"id": "poll-P1", "event_type": "incident.triggered"}}
    inbox.acquire(lease, "paused", 30)
    assert inbox.add_many(source, [("P0", {"event": {"id": "poll-P0", "event_type": "incident.triggered"}})],
                          (source, "t0"), lease=(lease, "paused")) == 1  # still its lease, expired or not
    inbox.acquire(lease, "taker", 30, dead="paused")
    for write in (lambda: inbox.add_many(source, [("P1", event)], (source, "t1"), lease=(lease, "paused")),
                  lambda: inbox.unstage_all(source, lease=(lease, "paused")),
                  lambda: inbox.stage(source, [("s", "P1", event)], lease=(lease, "paused")),
                  lambda: inbox.store_staged(source, (source, "t1"), lease=(lease, "paused"))):
        with pytest.raises(LeaseLost, match="taker"):
            write()
    assert (inbox.count(), inbox.cursor(source)) == (1, "t0")
    assert inbox.add_many(source, [("P1", event)], (source, "t1"), lease=(lease, "taker")) == 1
    assert (inbox.count(), inbox.cursor(source)) == (2, "t1")
    inbox.close()


# --- --state beside PAGERDUTY_STATE ------------------------------------------------------------------

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nothing"  # a PAGERDUTY_STATE that any store opened in it fails on


@pytest.mark.full_answers  # about where the stores are, not PagerDuty's contract: once
def test_a_state_directory_given_with_state_wins_over_a_postgresql_pagerduty_state_for_every_store(
        tmp_path, sandbox):
    book, state = tmp_path / "alert.yaml", tmp_path / "state"
    book.write_text("name: alert\nsteps:\n  - id: event\n    action: send_trigger_event\n"
                    "    input: {description: disk full}\n")
    env = {**sandbox_env(sandbox), "PAGERDUTY_OUTBOX": "sqlite://", "PAGERDUTY_STATE": UNREACHABLE}
    done = run_command(["runbook", "run", str(book), "--state", str(state)], env=env)
    assert done.code == 0 and json.loads(done.stdout)["status"] == "ok", done.stdout + done.stderr
    assert {"runs.sqlite", "outbox.sqlite3"} <= set(os.listdir(state))  # the step's outbox beside the runs
    assert done.stderr.count(f"--state {state} holds every store") == 1 and "PAGERDUTY_STATE=postgresql" in done.stderr
    status = run_command(["outbox", "status"], env={**env, "PAGERDUTY_STATE": str(state)})
    assert json.loads(status.stdout)["counts"]["sent"] == 1


def test_a_database_given_with_state_wins_over_a_state_directory_in_pagerduty_state(tmp_path):
    database, directory = postgres().fresh_database("u" + uuid.uuid4().hex[:12]), tmp_path / "unused"
    for command in (["state", "status"], ["dead-letters", "list"]):
        done = run_command([*command, "--state", database], env={"PAGERDUTY_STATE": str(directory)})
        assert done.code == 0, done.stdout + done.stderr
        assert done.stderr.count("holds every store") == 1 and f"PAGERDUTY_STATE={directory}" in done.stderr
    assert json.loads(done.stdout) is not None and not directory.exists()
    same = run_command(["state", "status", "--state", database], env={"PAGERDUTY_STATE": database})
    assert same.code == 0 and "holds every store" not in same.stderr  # nothing to say when they agree


# --- two consumer groups claiming at once ----------------------------------------------------------


def test_a_groups_claim_in_flight_holds_back_its_own_members_only_not_another_group(tmp_path):
    import psycopg

    from pagerduty_plugin.state.inbox_pg import SQL

    database = postgres().fresh_database("u" + uuid.uuid4().hex[:12])
    inbox = Inbox(database)
    for group in ("first", "second"):
        inbox.begin(group, replay=True, sources=[WEBHOOK_SOURCE], shared=True)
    add_events(database, 6)
    with psycopg.connect(database) as other:  # a member of "first" in the middle of its claim of 1 to 3
        params = {"consumer": "first", "owner": "a", "now": 0.0, "sources": [WEBHOOK_SOURCE], "limit": 3,
                  "window": 1000}
        assert [found[0] for found in other.execute(SQL["claimable"], params).fetchall()] == [1, 2, 3]
        assert claimed(inbox.claim("second", [WEBHOOK_SOURCE], "b", 30)) == [1, 2, 3, 4, 5, 6]  # not skipped
        assert claimed(inbox.claim("first", [WEBHOOK_SOURCE], "c", 30)) == [4, 5, 6]  # its own group's: skipped
        other.rollback()
    assert claimed(inbox.claim("first", [WEBHOOK_SOURCE], "d", 30)) == [1, 2, 3]
    inbox.close()


def claimed(batch):
    return sorted(seq for seq, _ in batch[0])


# --- a consumer that never comes back ------------------------------------------------------------------


def test_a_consumer_unused_for_longer_than_the_retention_is_set_aside_and_no_longer_holds_early_deletion(state):
    inbox = Inbox(state)
    for consumer in ("present", "vanished", "upgraded"):
        inbox.begin(consumer, sources=[WEBHOOK_SOURCE])
    inbox.begin(GROUP, sources=[WEBHOOK_SOURCE], shared=True)
    add_events(state, 3)
    inbox.taken("present", 3)
    inbox.taken("upgraded", 3)
    inbox.claim(GROUP, [WEBHOOK_SOURCE], "member", 30)
    inbox.done(GROUP, [1, 2, 3])
    sql(inbox, f"UPDATE events SET received_at = received_at - {3 * DAYS} ")  # past the 2 days of de-duplication
    assert inbox.purge(7) == {} and inbox.count() == 3  # "vanished" has not taken them: kept until the age
    sql(inbox, f"UPDATE positions SET seen = seen - {8 * DAYS} WHERE consumer IN ('vanished', '{GROUP}')")
    sql(inbox, "UPDATE positions SET seen = NULL WHERE consumer = 'upgraded'")  # made before `seen`: a new start
    inbox.renew_claims(GROUP, "member", 30)  # a member of the group beats: the group is used
    assert inbox.set_aside_vanished(7, in_use="vanished") == []  # the consumer a process is starting
    assert [(consumer, round(days)) for consumer, days in inbox.set_aside_vanished(7)] == [("vanished", 8)]
    assert inbox.set_aside_vanished(7) == []  # said once
    assert inbox.purge(7) == {} and inbox.count() == 0  # every consumer still waited for had taken them
    add_events(state, 1)
    sql(inbox, f"UPDATE events SET received_at = received_at - {8 * DAYS} ")
    assert "vanished" not in inbox.purge(7)  # past the age, untaken by "vanished": not warned of, it is dormant
    status = json.loads(run_command(["state", "status", "--state", state]).stdout)["inbox"]
    assert status["dormant_consumers"] == ["vanished"] and status["trimmed"]["consumers set aside"]["rows"] == 1
    assert inbox.begin("vanished", sources=[WEBHOOK_SOURCE]) == ("resumed", 0)  # back: from where it was
    assert json.loads(run_command(["state", "status", "--state", state]).stdout)["inbox"]["dormant_consumers"] == []
    inbox.close()
