"""Runbook runs: one row per run in the state directory's runs.sqlite, listed by `runbook runs`.

A run started by an event is claimed before it starts: UNIQUE(runbook, event_id) makes a second
claim for the same event fail, so a redelivered event (or a restart between the claim and the end
of the run) never starts the runbook twice. A claim that cannot be recorded (store locked, full,
read-only) raises RunStoreError: the event is then left untaken and tried again later.

Each run names its owner (the process) and carries a heartbeat the owner renews (store time); a
`running` run whose heartbeat is older than a lease is listed as `abandoned`: its process died,
and it is never run again for that event by itself (the operator decides). Answers are stored as
the run returned them, secrets already masked; an answer that cannot be written yet is kept in
memory and written at the next beat.
"""

import json
import os
import sqlite3
import uuid
from datetime import datetime, timezone

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state import open_sqlite, state_dir
from pagerduty_plugin.state.leases import LEASE_SECONDS, SQLITE_NOW

FILE_NAME = "runs.sqlite"
MAX_ANSWER_BYTES = 256 * 1024  # a stored answer past this keeps its statuses and errors, not the steps' outputs
RUNNING = "running"
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
OWNER_COLUMNS = {"owner": "TEXT", "heartbeat": "REAL"}  # added to a store made before them
ABANDONED = "abandoned"


def add_column(db, column, kind):
    """Add a column to a store made before it (another process opening it now may add it first)."""
    try:
        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


class RunStoreError(PluginError):
    """The runs store cannot record a claim or an answer now (locked, full, read-only)."""


def store_error(exc, path):
    return RunStoreError(f"The runs store {path} cannot record the run: {exc}",
                         "Check the state directory's disk and permissions; the event is tried again.")


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunStore:
    def __init__(self, state=None):
        self.path = os.path.join(state_dir(state), FILE_NAME)
        self.db = open_sqlite(self.path)
        try:
            self.db.executescript(SCHEMA)
            known = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
            for column, kind in OWNER_COLUMNS.items():
                if column not in known:
                    add_column(self.db, column, kind)
        except sqlite3.Error as exc:
            self.db.close()
            raise store_error(exc, self.path) from None
        self.unfinished = {}  # run id -> answer not written yet (the store refused it)

    def close(self):
        self.db.close()

    def claim(self, runbook, event_id=None, owner=None):
        """A new run id for runbook (status running); None when this event already has a run;
        RunStoreError when the claim cannot be recorded."""
        run_id = uuid.uuid4().hex
        try:
            self.db.execute("INSERT INTO runs (id, runbook, event_id, status, started_at, owner, heartbeat) "
                            f"VALUES (?, ?, ?, ?, ?, ?, {SQLITE_NOW})", (run_id, runbook, event_id, RUNNING, now(),
                                                                          owner))
        except sqlite3.IntegrityError:
            return None
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None
        return run_id

    def finish(self, run_id, answer):
        """Record the answer (already masked, cut past MAX_ANSWER_BYTES) and its status; kept for the
        next beat when the store cannot take it now."""
        self.unfinished[run_id] = answer
        self.flush()

    def flush(self):
        """Write the answers the store refused before; True when none is left."""
        for run_id, answer in list(self.unfinished.items()):
            try:
                self.db.execute("UPDATE runs SET status = ?, finished_at = ?, answer = ? WHERE id = ?",
                                (answer.get("status", "failed"), now(), stored_text(answer), run_id))
            except sqlite3.Error:
                return False
            del self.unfinished[run_id]
        return True

    def beat(self, owner):
        """The owner is alive: its running runs' heartbeat is now (and answers kept back are written)."""
        self.flush()
        self.db.execute(f"UPDATE runs SET heartbeat = {SQLITE_NOW} WHERE owner = ? AND status = ?", (owner, RUNNING))

    def purge(self, days):
        """Forget finished runs started over `days` ago (running and abandoned ones stay)."""
        cutoff = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() - days * 86400, timezone.utc)
        try:
            self.db.execute("DELETE FROM runs WHERE status != ? AND started_at < ?",
                            (RUNNING, cutoff.isoformat(timespec="milliseconds").replace("+00:00", "Z")))
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) from None

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
COLUMNS = (f"id, runbook, event_id, CASE WHEN status = '{RUNNING}' AND {STALE.replace('?', str(LEASE_SECONDS))} "
           f"THEN '{ABANDONED}' ELSE status END, started_at, finished_at, answer, owner")


def as_dict(row):
    keys = ["id", "runbook", "event_id", "status", "started_at", "finished_at", "answer", "owner"]
    record = dict(zip(keys, row))
    record["answer"] = json.loads(record["answer"]) if record["answer"] else None
    return record
