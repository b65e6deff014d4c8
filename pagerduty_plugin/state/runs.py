"""Runbook runs: one row per run in the state directory's runs.sqlite, listed by `runbook runs`.

A run started by an event is claimed before it starts: UNIQUE(runbook, event_id) makes a second
claim for the same event fail, so a redelivered event (or a restart between the claim and the end
of the run) never starts the runbook twice. A claim that cannot be recorded (store locked, full,
read-only) raises RunStoreError: the event is then left untaken and tried again later.

Each run names its owner (the process) and carries a heartbeat the owner renews (store time); a
`running` run whose heartbeat is older than a lease is listed as `abandoned`: its process died.
A run started by an event keeps the event, and `runbook serve` takes such a run over (take_over:
one taker per run, the others skip it) and runs the runbook again from its first step: never
while its owner lives and beats, nor right after an outage (Judge); a run taken over MAX_TAKEOVERS
times is marked failed instead. Takeovers are recorded (`state status`); retention deletes finished
runs, runs abandoned as long and takeovers as old, and counts them. Answers are stored as
the run returned them, secrets already masked; an answer that cannot be written yet is kept in
memory and written at the next beat. An answer is written only while its process still owns the
run: one paused past its lease, whose run was taken over meanwhile, has its answer said, not kept.

Given a PostgreSQL URL (--state, PAGERDUTY_STATE), RunStore(url) is runs_pg.py's PostgresRunStore.
"""

import contextlib
import json
import os
import sqlite3
import time
import uuid
from datetime import datetime, timezone

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state import location, open_sqlite, state_dir
from pagerduty_plugin.state.leases import LEASE_SECONDS, SQLITE_NOW, died_here
from pagerduty_plugin.state.migrations import migrate_sqlite, sqlite_version, statements

FILE_NAME = "runs.sqlite"
MAX_ANSWER_BYTES = 256 * 1024  # a stored answer past this keeps its statuses and errors, not the steps' outputs
RUNNING = "running"
MAX_TAKEOVERS = 3  # a run whose takers die too (a runbook that crashes its host) then fails: never a 4th
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    runbook TEXT NOT NULL,
    event_id TEXT,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    answer TEXT,
    UNIQUE (runbook, event_id)
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
"""
ABANDONED = "abandoned"
MIGRATIONS = [  # numbered from 1 (state/migrations.py); the first is the store as made before versions
    statements(SCHEMA) + ["ALTER TABLE runs ADD COLUMN owner TEXT", "ALTER TABLE runs ADD COLUMN heartbeat REAL"],
    ["ALTER TABLE runs ADD COLUMN event TEXT",
     "ALTER TABLE runs ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0",
     "CREATE TABLE run_takeovers (run_id TEXT NOT NULL, runbook TEXT NOT NULL, event_id TEXT, "
     "from_owner TEXT, to_owner TEXT NOT NULL, at REAL NOT NULL)",
     "CREATE TABLE retention_drops (what TEXT PRIMARY KEY, dropped INTEGER NOT NULL, last_at REAL NOT NULL)"],
]


class RunStoreError(PluginError):
    """The runs store cannot record a claim or an answer now (locked, full, read-only)."""


def store_error(exc, path):
    return RunStoreError(f"The runs store {path} cannot record the run: {exc}",
                         "Check the state directory's disk and permissions; the event is tried again.")


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunStore:
    STORE = "runs"

    def __new__(cls, state=None, warn=None):
        if cls is RunStore and location.database_url(state):
            from pagerduty_plugin.state.runs_pg import PostgresRunStore

            return super().__new__(PostgresRunStore)
        return super().__new__(cls)

    def __init__(self, state=None, warn=None):
        """warn(message): says what the store refuses to record (an answer of a run taken over)."""
        self.warn = warn or (lambda message: None)
        self.path = os.path.join(state_dir(state), FILE_NAME)
        self.db = open_sqlite(self.path)
        try:
            self.migrated = migrate_sqlite(self.db, self.STORE, MIGRATIONS)
        except sqlite3.Error as exc:
            self.db.close()
            raise store_error(exc, self.path) from None
        self.unfinished = {}  # run id -> (answer, owner) not written yet (the store refused it)
        self.judge, self.in_doubt = Judge(), {}

    def close(self):
        self.db.close()

    def claim(self, runbook, event_id=None, owner=None, event=None):
        """A new run id for runbook (status running); None when this event already has a run;
        RunStoreError when the claim cannot be recorded. event: kept, for a takeover to run it again."""
        doubted = self.in_doubt.pop((runbook, event_id), (None,))[0]  # an earlier try's: it may be recorded
        run_id = doubted or uuid.uuid4().hex
        try:
            self.db.execute("INSERT INTO runs (id, runbook, event_id, status, started_at, owner, heartbeat, event) "
                            f"VALUES (?, ?, ?, ?, ?, ?, {SQLITE_NOW}, ?)",
                            (run_id, runbook, event_id, RUNNING, now(), owner, event_text(event)))
        except sqlite3.IntegrityError:
            return self.claimed_in_doubt(run_id, owner, doubted and self.get(run_id))
        except sqlite3.Error as exc:
            self.doubt(runbook, event_id, run_id, event)
            raise store_error(exc, self.path) from None
        self.judge.reached(LEASE_SECONDS)
        return run_id

    def doubt(self, runbook, event_id, run_id, event):
        """A claim that raised may still have been recorded (its commit's answer lost): the next claim
        of the event tries the same run id, and runs it if it finds it recorded; if another process
        gets the event meanwhile, recorded_in_doubt() finds the run for this one."""
        self.judge.lost()
        if event_id is not None:
            self.in_doubt[(runbook, event_id)] = (run_id, event)

    def recorded_in_doubt(self, owner):
        """[(run id, runbook, event)] of this process's claims that raised yet were recorded: nobody
        else runs them (they are owner's, who beats for them), so owner runs them now. The others are
        forgotten: their events stayed in the inbox, for a claim of their own."""
        found = []
        for key, (run_id, event) in list(self.in_doubt.items()):
            recorded = self.get(run_id)  # RunStoreError: still in doubt, looked at again next time
            del self.in_doubt[key]
            if self.claimed_in_doubt(run_id, owner, recorded):
                found.append((run_id, key[0], event))
        return found

    @staticmethod
    def claimed_in_doubt(run_id, owner, found):
        """A claim that conflicts with a run: run_id when that run is this claim's own, recorded by an
        earlier try whose answer was lost (it raised, so nobody runs it) and still owner's, else None."""
        return run_id if found and found["owner"] == owner and found["status"] in (RUNNING, ABANDONED) else None

    def finish(self, run_id, answer, owner=None):
        """Record the answer (already masked, cut past MAX_ANSWER_BYTES) and its status; kept for the
        next beat when the store cannot take it now. owner: recorded only while the run is still
        owner's (else warned of and dropped: the process that took the run over records its own)."""
        self.unfinished[run_id] = (answer, owner)
        self.flush()

    def flush(self):
        """Write the answers the store refused before; True when none is left."""
        for run_id, (answer, owner) in list(self.unfinished.items()):
            try:
                written = self.write_answer(run_id, answer, owner)
            except RunStoreError:
                return False
            del self.unfinished[run_id]
            if not written:
                self.warn(f"run {run_id}: its answer ({answer.get('status', 'failed')}) is not recorded: the run is "
                          f"no longer this process's ({owner}); the process that took it over records its own")
        return True

    def write_answer(self, run_id, answer, owner):
        """Whether the answer was written (the run is owner's, or no owner was given)."""
        try:
            return self.db.execute("UPDATE runs SET status = ?, finished_at = ?, answer = ? WHERE id = ? AND "
                                   "(? IS NULL OR owner = ?)", (answer.get("status", "failed"), now(),
                                                                stored_text(answer), run_id, owner, owner)).rowcount > 0
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

    def beat(self, owner):
        """The owner is alive: its running runs' heartbeat is now (and answers kept back are written);
        a run taken over from it is no longer its own, so it beats for it no more."""
        self.flush()
        self.db.execute(f"UPDATE runs SET heartbeat = {SQLITE_NOW} WHERE owner = ? AND status = ?", (owner, RUNNING))

    def purge(self, days):
        """Retention: finished runs started over `days` ago, runs abandoned that long (their heartbeat
        stopped `days` ago and nobody took them over: no event to run again, or a runbook no longer
        served), and the takeovers recorded before then. {what: how many}, counted in the store."""
        with self.writing():
            params = {"running": RUNNING, "lease": LEASE_SECONDS, "seconds": days * 86400, "started": cutoff_text(days)}
            gone = {what: self.db.execute(statement, params).rowcount for what, statement in PURGES.items()}
            for what, count in gone.items():
                if count > 0:
                    self.db.execute("INSERT INTO retention_drops (what, dropped, last_at) VALUES (?, ?, ?) "
                                    "ON CONFLICT (what) DO UPDATE SET dropped = dropped + excluded.dropped, "
                                    "last_at = excluded.last_at", (what, count, time.time()))
        return {what: count for what, count in gone.items() if count > 0}

    def take_over(self, owner, runbooks, limit=10):
        """Runs of `runbooks` started by an event whose owner stopped beating a lease ago, now owner's:
        [(run id, runbook, event, previous owner)], recorded as takeovers."""
        if not runbooks:
            return []
        marks = ",".join("?" * len(runbooks))
        try:
            with self.writing():
                found = self.db.execute(
                    f"SELECT id, runbook, event_id, event, owner, takeovers FROM runs WHERE status = ? AND event IS "
                    f"NOT NULL AND runbook IN ({marks}) AND {STALE} ORDER BY started_at LIMIT ?",
                    (RUNNING, *runbooks, LEASE_SECONDS, limit)).fetchall()
                taken, failed = self.verdicts(found, LEASE_SECONDS)
                for run_id, _, _, _, _, takeovers in failed:
                    self.db.execute("UPDATE runs SET status = ?, finished_at = ?, answer = ? WHERE id = ?",
                                    ("failed", now(), stored_text(given_up(takeovers)), run_id))
                for run_id, runbook, event_id, _, before, _ in taken:
                    self.db.execute(f"UPDATE runs SET owner = ?, heartbeat = {SQLITE_NOW}, takeovers = takeovers + 1 "
                                    "WHERE id = ?", (owner, run_id))
                    self.db.execute("INSERT INTO run_takeovers (run_id, runbook, event_id, from_owner, to_owner, at) "
                                    f"VALUES (?, ?, ?, ?, ?, {SQLITE_NOW})", (run_id, runbook, event_id, before, owner))
        except RunStoreError:
            self.judge.lost()
            raise
        return self.taken_over(taken, failed)

    def verdicts(self, found, lease):
        """Of the stale runs found, (those to take over, those to mark failed): none while this process
        may not judge yet (Judge) but a run whose process is gone from this host; a run taken over
        MAX_TAKEOVERS times already is failed, not taken again."""
        judging = self.judge.may_judge(lease)
        ripe = [row for row in found if judging or (row[4] and died_here(row[4]))]
        return [row for row in ripe if row[5] < MAX_TAKEOVERS], [row for row in ripe if row[5] >= MAX_TAKEOVERS]

    def taken_over(self, taken, failed):
        """take_over's answer, the failed runs said."""
        for run_id, runbook, event_id, _, _, takeovers in failed:
            self.warn(f"runbook {runbook}: run {run_id} for event {event_id} is marked failed: taken over "
                      f"{takeovers} times, each process running it stopped before its end (the runbook may crash "
                      "its host); it is not taken over again")
        return [(run_id, runbook, json.loads(event), before) for run_id, runbook, _, event, before, _ in taken]

    def owns(self, run_id, owner):
        """Whether the run is still owner's and running (not taken over meanwhile)."""
        return self.claimed_in_doubt(run_id, owner, self.get(run_id)) is not None

    @contextlib.contextmanager
    def writing(self):
        """One write transaction (BEGIN IMMEDIATE … COMMIT, rolled back on any error); the store's
        errors as RunStoreError."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite may have ended it itself: the first error is the one to say
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

    def status(self):
        """What `state status` shows of the runs."""
        by_status = dict(self.db.execute(f"SELECT CASE WHEN status = '{RUNNING}' AND "
                                         f"{STALE.replace('?', str(LEASE_SECONDS))} THEN '{ABANDONED}' ELSE status "
                                         "END, count(*) FROM runs GROUP BY 1").fetchall())
        takeovers = (self.db.execute("SELECT count(*) FROM run_takeovers").fetchone()[0],
                     self.db.execute("SELECT run_id, runbook, event_id, from_owner, to_owner, at FROM run_takeovers "
                                     "ORDER BY at DESC LIMIT 10").fetchall())
        drops = self.db.execute("SELECT what, dropped, last_at FROM retention_drops").fetchall()
        return runs_status(sqlite_version(self.db, self.STORE), len(MIGRATIONS), by_status, takeovers, drops)

    def abandoned(self, limit=100):
        """Runs still `running` whose owner stopped beating: its process died during the run."""
        rows = self.db.execute(f"SELECT {COLUMNS} FROM runs WHERE status = ? AND {STALE} ORDER BY started_at LIMIT ?",
                               (RUNNING, LEASE_SECONDS, limit)).fetchall()
        return [as_dict(row) for row in rows]

    def get(self, run_id):
        row = self.db.execute(f"SELECT {COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return as_dict(row) if row else None

    def for_event(self, runbook, event_id):
        row = self.db.execute(f"SELECT {COLUMNS} FROM runs WHERE runbook = ? AND event_id = ?",
                              (runbook, event_id)).fetchone()
        return as_dict(row) if row else None

    def latest(self, limit=20):
        rows = self.db.execute(f"SELECT {COLUMNS} FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?",
                               (limit,)).fetchall()
        return [as_dict(row) for row in rows]


class Judge:
    """When this process may judge another's run stale. A heartbeat is old either because its owner
    died or because the store was out of reach for everyone, owner included: after an outage longer
    than a lease every owner looks dead until its next beat, a third of a lease away. So a judge that
    has just reached the store (its first call, one after a failed call, or after none for over a
    lease: it may have been cut off unawares) waits one full lease before taking anything: every live
    owner has beaten by then. An owner taken over all the same (cut off alone) stops between steps
    (event_runs.run_claimed). Claims and takeovers are the calls counted: a serve makes one per event."""

    def __init__(self):
        self.since = self.last = None

    def reached(self, lease):
        """A call that reached the store."""
        now = time.monotonic()
        if self.last is None or now - self.last > lease:
            self.since = now
        self.last = now

    def may_judge(self, lease):
        self.reached(lease)
        return time.monotonic() - self.since >= lease

    def lost(self):
        """A call that failed: the store may have been out of reach for everyone."""
        self.last = None


def given_up(takeovers):
    """The answer of a run no longer taken over: each process that ran it stopped before its end."""
    error = PluginError(f"The run was taken over {takeovers} times and each process running it stopped before its "
                        "end: the runbook may crash its host (out of memory, killed)",
                        "Run it by hand (`pagerduty-plugin runbook run FILE --event EVENT.json`) to see where it "
                        "stops; fix the runbook or the host's limits. It is not taken over again.",
                        {"takeovers": takeovers})
    return {"status": "failed", "steps": [], "outputs": {}, "error": error.to_dict()}


def event_text(event):
    return None if event is None else json.dumps(event, separators=(",", ":"))


def cutoff_text(days):
    cutoff = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() - days * 86400, timezone.utc)
    return cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def runs_status(version, latest, by_status, takeovers, drops):
    """takeovers: (how many are kept, the latest ten)."""
    from pagerduty_plugin.state.inbox import iso_time

    kept, latest_takeovers = takeovers
    return {"schema_version": version, "schema_latest": latest, "runs": by_status,
            "takeovers": {"count": kept, "latest": [
                {"run_id": run_id, "runbook": runbook, "event_id": event_id, "from": before, "to": after,
                 "at": iso_time(at)} for run_id, runbook, event_id, before, after, at in latest_takeovers]},
            "purged": {what: {UNITS.get(what, "rows"): count, "last": iso_time(at)} for what, count, at in drops}}


def stored_text(answer):
    """The answer as stored: whole when small, else without the steps' outputs (then without the
    runbook's outputs), with what was cut recorded in `truncated`."""
    text = json.dumps(answer, separators=(",", ":"))
    if len(text) <= MAX_ANSWER_BYTES:
        return text
    steps = [{key: value for key, value in step.items() if key != "output"} if isinstance(step, dict) else step
             for step in answer.get("steps") or []]
    cut = {**answer, "steps": steps, "truncated": {"bytes": len(text), "limit": MAX_ANSWER_BYTES,
                                                    "removed": ["steps[].output"]}}
    if len(json.dumps(cut, separators=(",", ":"))) > MAX_ANSWER_BYTES:
        cut = {**cut, "outputs": {}, "truncated": {**cut["truncated"], "removed": ["steps[].output", "outputs"]}}
    if len(json.dumps(cut, separators=(",", ":"))) > MAX_ANSWER_BYTES:
        cut = {"status": answer.get("status", "failed"), "truncated": {**cut["truncated"], "removed": ["*"]}}
    return json.dumps(cut, separators=(",", ":"))


STALE = f"(heartbeat IS NULL OR heartbeat < {SQLITE_NOW} - ?)"
PURGES = {  # what retention deletes (runs.purge), by the store's clock
    "finished runs": "DELETE FROM runs WHERE status != :running AND started_at < :started",
    "abandoned runs": f"DELETE FROM runs WHERE status = :running AND (heartbeat < {SQLITE_NOW} - max(:lease, :seconds) "
                      "OR (heartbeat IS NULL AND started_at < :started))",
    "run takeovers": f"DELETE FROM run_takeovers WHERE at < {SQLITE_NOW} - :seconds",
}
UNITS = {"finished runs": "runs", "abandoned runs": "runs"}  # what `state status` counts them in (else rows)
COLUMNS = (f"id, runbook, event_id, CASE WHEN status = '{RUNNING}' AND {STALE.replace('?', str(LEASE_SECONDS))} "
           f"THEN '{ABANDONED}' ELSE status END, started_at, finished_at, answer, owner")


def as_dict(row):
    keys = ["id", "runbook", "event_id", "status", "started_at", "finished_at", "answer", "owner"]
    record = dict(zip(keys, row))
    record["answer"] = json.loads(record["answer"]) if record["answer"] else None
    return record
