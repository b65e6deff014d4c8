"""Runbook runs: one row per run in the state directory's runs.sqlite, listed by `runbook runs`.

A run started by an event is claimed before it starts: UNIQUE(runbook, event_id) makes a second
claim for the same event fail, so a redelivered event (or a restart between the claim and the end
of the run) never starts the runbook twice. A claim whose process died stays `running`: at most
once, never twice. Answers are stored as the run returned them, secrets already masked.
"""

import json
import os
import sqlite3
import uuid
from datetime import datetime, timezone

from pagerduty_plugin.state import open_sqlite, state_dir

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


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunStore:
    def __init__(self, state=None):
        self.path = os.path.join(state_dir(state), FILE_NAME)
        self.db = open_sqlite(self.path)
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def claim(self, runbook, event_id=None):
        """A new run id for runbook (status running); None when this event already has a run."""
        run_id = uuid.uuid4().hex
        try:
            self.db.execute("INSERT INTO runs (id, runbook, event_id, status, started_at) VALUES (?, ?, ?, ?, ?)",
                            (run_id, runbook, event_id, RUNNING, now()))
        except sqlite3.IntegrityError:
            return None
        return run_id

    def finish(self, run_id, answer):
        """Record the answer (already masked, cut past MAX_ANSWER_BYTES) and its status."""
        self.db.execute("UPDATE runs SET status = ?, finished_at = ?, answer = ? WHERE id = ?",
                        (answer.get("status", "failed"), now(), stored_text(answer), run_id))

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


COLUMNS = "id, runbook, event_id, status, started_at, finished_at, answer"


def as_dict(row):
    keys = [name.strip() for name in COLUMNS.split(",")]
    record = dict(zip(keys, row))
    record["answer"] = json.loads(record["answer"]) if record["answer"] else None
    return record
