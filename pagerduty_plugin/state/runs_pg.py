"""Runbook runs in PostgreSQL, shared by every host's `runbook serve` (`--state postgresql://…`).

A claim is an INSERT that UNIQUE(runbook, event_id) lets one host win; a takeover locks the stale
runs it takes with `FOR UPDATE SKIP LOCKED`, so two hosts never take the same run over, and
staleness is the server's clock (heartbeat older than a lease). What the store does is runs.py's.
"""

import uuid

from pagerduty_plugin.state import location, pg
from pagerduty_plugin.state.leases import LEASE_SECONDS
from pagerduty_plugin.state.runs import (ABANDONED, MIGRATIONS, PURGES, RUNNING, Judge, RunStore, RunStoreError,
                                         as_dict, cutoff_text, event_text, given_up, now, runs_status, stored_text)

PG_MIGRATIONS = [
    ["""CREATE TABLE IF NOT EXISTS runbook_runs (
        id TEXT PRIMARY KEY, runbook TEXT NOT NULL, event_id TEXT, status TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT, answer TEXT, owner TEXT, heartbeat DOUBLE PRECISION, UNIQUE (runbook, event_id))""",
     "CREATE INDEX IF NOT EXISTS runbook_runs_started ON runbook_runs (started_at)"],
    ["ALTER TABLE runbook_runs ADD COLUMN event TEXT",
     "ALTER TABLE runbook_runs ADD COLUMN takeovers INTEGER NOT NULL DEFAULT 0",
     "CREATE INDEX runbook_runs_running ON runbook_runs (heartbeat) WHERE status = 'running'",
     "CREATE TABLE runbook_run_takeovers (run_id TEXT NOT NULL, runbook TEXT NOT NULL, event_id TEXT, "
     "from_owner TEXT, to_owner TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
     "CREATE TABLE runbook_retention_drops (what TEXT PRIMARY KEY, dropped BIGINT NOT NULL, "
     "last_at DOUBLE PRECISION NOT NULL)"],
]
assert len(PG_MIGRATIONS) == len(MIGRATIONS)

STALE = "(heartbeat IS NULL OR heartbeat < %(now)s - %(lease)s)"
COLUMNS = (f"id, runbook, event_id, CASE WHEN status = '{RUNNING}' AND {STALE} THEN '{ABANDONED}' ELSE status END, "
           "started_at, finished_at, answer, owner")
SQL = {
    "claim": "INSERT INTO runbook_runs (id, runbook, event_id, status, started_at, owner, heartbeat, event) "
             "VALUES (%(id)s, %(runbook)s, %(event_id)s, %(status)s, %(started_at)s, %(owner)s, %(now)s, %(event)s) "
             "ON CONFLICT DO NOTHING RETURNING id",
    "finish": "UPDATE runbook_runs SET status = %(status)s, finished_at = %(finished_at)s, answer = %(answer)s "
              "WHERE id = %(id)s AND (%(owner)s::text IS NULL OR owner = %(owner)s) RETURNING id",
    "beat": "UPDATE runbook_runs SET heartbeat = %(now)s WHERE owner = %(owner)s AND status = %(running)s",
    # retention (runs.PURGES), each answering how many rows it deleted
    "purge_finished runs": "WITH gone AS (DELETE FROM runbook_runs WHERE status != %(running)s AND started_at < "
                           "%(started)s RETURNING 1) SELECT count(*) FROM gone",
    "purge_abandoned runs": "WITH gone AS (DELETE FROM runbook_runs WHERE status = %(running)s AND (heartbeat < "
                            "%(now)s - GREATEST(%(lease)s, %(seconds)s) OR (heartbeat IS NULL AND started_at < "
                            "%(started)s)) RETURNING 1) SELECT count(*) FROM gone",
    "purge_run takeovers": "WITH gone AS (DELETE FROM runbook_run_takeovers WHERE at < %(now)s - %(seconds)s "
                           "RETURNING 1) SELECT count(*) FROM gone",
    "count_drop": "INSERT INTO runbook_retention_drops (what, dropped, last_at) VALUES (%(what)s, %(count)s, "
                  "%(now)s) ON CONFLICT (what) DO UPDATE SET dropped = runbook_retention_drops.dropped + "
                  "EXCLUDED.dropped, last_at = EXCLUDED.last_at",
    "stale": "SELECT id, runbook, event_id, event, owner, takeovers FROM runbook_runs WHERE status = %(running)s "
             f"AND event IS NOT NULL AND runbook = ANY(%(runbooks)s) AND {STALE} ORDER BY started_at "
             "LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
    "take": "UPDATE runbook_runs SET owner = %(owner)s, heartbeat = %(now)s, takeovers = takeovers + 1 "
            "WHERE id = %(id)s",
    "give_up": "UPDATE runbook_runs SET status = 'failed', finished_at = %(finished_at)s, answer = %(answer)s "
               "WHERE id = %(id)s",
    "record_takeover": "INSERT INTO runbook_run_takeovers (run_id, runbook, event_id, from_owner, to_owner, at) "
                       "VALUES (%(id)s, %(runbook)s, %(event_id)s, %(before)s, %(owner)s, %(now)s)",
    "abandoned": f"SELECT {COLUMNS} FROM runbook_runs WHERE status = %(running)s AND {STALE} ORDER BY started_at "
                 "LIMIT %(limit)s",
    "get": f"SELECT {COLUMNS} FROM runbook_runs WHERE id = %(id)s",
    "for_event": f"SELECT {COLUMNS} FROM runbook_runs WHERE runbook = %(runbook)s AND event_id = %(event_id)s",
    "latest": f"SELECT {COLUMNS} FROM runbook_runs ORDER BY started_at DESC, id DESC LIMIT %(limit)s",
    "by_status": f"SELECT CASE WHEN status = '{RUNNING}' AND {STALE} THEN '{ABANDONED}' ELSE status END, count(*) "
                 "FROM runbook_runs GROUP BY 1",
    "takeovers": "SELECT run_id, runbook, event_id, from_owner, to_owner, at FROM runbook_run_takeovers "
                 "ORDER BY at DESC LIMIT 10",
    "count_takeovers": "SELECT count(*) FROM runbook_run_takeovers",
    "drops": "SELECT what, dropped, last_at FROM runbook_retention_drops",
}


class PostgresRunStore(RunStore):
    def __init__(self, state=None, warn=None):
        self.warn = warn or (lambda message: None)
        self.database = pg.Database(location.database_url(state), "runs store", RunStoreError)
        self.path = self.database.url
        self.unfinished = {}
        self.judge, self.in_doubt = Judge(), {}
        try:
            self.migrated = self.database.migrate(self.STORE, PG_MIGRATIONS)
        except BaseException:
            self.database.close()
            raise

    def transaction(self):
        return self.database.transaction(SQL)

    def rows(self, name, params):
        with self.transaction() as run:
            return run(name, {"running": RUNNING, "lease": LEASE_SECONDS, "now": run.now, **params})

    def close(self):
        self.database.close()

    def claim(self, runbook, event_id=None, owner=None, event=None):
        doubted = self.in_doubt.pop((runbook, event_id), (None,))[0]  # an earlier try's: it may be recorded
        run_id = doubted or uuid.uuid4().hex
        try:
            won = self.rows("claim", {"id": run_id, "runbook": runbook, "event_id": event_id, "status": RUNNING,
                                      "started_at": now(), "owner": owner, "event": event_text(event)})
        except RunStoreError:
            self.doubt(runbook, event_id, run_id, event)
            raise
        self.judge.reached(LEASE_SECONDS)
        return run_id if won else self.claimed_in_doubt(run_id, owner, doubted and self.get(run_id))

    def write_answer(self, run_id, answer, owner):
        return bool(self.rows("finish", {"id": run_id, "status": answer.get("status", "failed"), "finished_at": now(),
                                         "answer": stored_text(answer), "owner": owner}))

    def beat(self, owner):
        self.flush()
        self.rows("beat", {"owner": owner})

    def purge(self, days):
        with self.transaction() as run:
            params = {"running": RUNNING, "lease": LEASE_SECONDS, "seconds": days * 86400, "started": cutoff_text(days),
                      "now": run.now}
            gone = {what: run(f"purge_{what}", params)[0][0] for what in PURGES}
            for what, count in gone.items():
                if count:
                    run("count_drop", {"what": what, "count": count, "now": run.now})
        return {what: count for what, count in gone.items() if count}

    def take_over(self, owner, runbooks, limit=10):
        if not runbooks:
            return []
        try:
            with self.transaction() as run:
                found = run("stale", {"running": RUNNING, "lease": LEASE_SECONDS, "now": run.now,
                                      "runbooks": list(runbooks), "limit": limit})
                taken, failed = self.verdicts(found, LEASE_SECONDS)  # not right after an outage (runs.Judge)
                for run_id, _, _, _, _, takeovers in failed:
                    run("give_up", {"id": run_id, "finished_at": now(), "answer": stored_text(given_up(takeovers))})
                for run_id, runbook, event_id, _, before, _ in taken:
                    run("take", {"id": run_id, "owner": owner, "now": run.now})
                    run("record_takeover", {"id": run_id, "runbook": runbook, "event_id": event_id, "before": before,
                                            "owner": owner, "now": run.now})
        except RunStoreError:
            self.judge.lost()
            raise
        return self.taken_over(taken, failed)

    def abandoned(self, limit=100):
        return [as_dict(row) for row in self.rows("abandoned", {"limit": limit})]

    def get(self, run_id):
        found = self.rows("get", {"id": run_id})
        return as_dict(found[0]) if found else None

    def for_event(self, runbook, event_id):
        found = self.rows("for_event", {"runbook": runbook, "event_id": event_id})
        return as_dict(found[0]) if found else None

    def latest(self, limit=20):
        return [as_dict(row) for row in self.rows("latest", {"limit": limit})]

    def status(self):
        version = self.database.version(self.STORE)
        return runs_status(version, len(PG_MIGRATIONS), dict(self.rows("by_status", {})),
                           (self.rows("count_takeovers", {})[0][0], self.rows("takeovers", {})), self.rows("drops", {}))
