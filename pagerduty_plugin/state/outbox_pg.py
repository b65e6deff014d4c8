"""The outbox in PostgreSQL, for several machines sharing one queue (psycopg 3, imported only here).

Claims use `FOR UPDATE SKIP LOCKED`: drainers on many hosts take disjoint lane heads without
waiting on each other, and a row whose lease ran out is taken up by whoever comes next. A routing
key's budget row is locked (`FOR UPDATE`) while a drainer spends from it, so the whole fleet keeps
to PagerDuty's rate together. Every time is the server's `clock_timestamp()`, read once at the
start of each transaction: hosts whose clocks disagree still agree on leases and back-offs.

Its SQL is its own (PostgreSQL's types, `= ANY(array)`, GREATEST, identity column); what both
stores do with it is in outbox.py's Outbox. Its connection, transactions and schema versions are
the other stores' (pg.Database: the same session timeouts, errors and migrations).
"""

from pagerduty_plugin.state import pg
from pagerduty_plugin.state.migrations import statements
from pagerduty_plugin.state.outbox import LISTED, MIGRATIONS, Limits, Outbox

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key_ref TEXT NOT NULL,
  lane TEXT NOT NULL,
  dedup_key TEXT,
  action TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at DOUBLE PRECISION NOT NULL,
  next_attempt DOUBLE PRECISION NOT NULL,
  lease_until DOUBLE PRECISION,
  lease_owner TEXT,
  finished_at DOUBLE PRECISION,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_events (next_attempt) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS outbox_open_lanes ON outbox_events (lane, id) WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS outbox_dedup ON outbox_events (dedup_key);
CREATE TABLE IF NOT EXISTS outbox_keys (
  key_ref TEXT PRIMARY KEY,
  throttled_until DOUBLE PRECISION NOT NULL DEFAULT 0
);
ALTER TABLE outbox_keys ADD COLUMN IF NOT EXISTS tokens DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE outbox_keys ADD COLUMN IF NOT EXISTS refilled_at DOUBLE PRECISION NOT NULL DEFAULT 0;
"""
PG_MIGRATIONS = [  # numbered from 1, as outbox.py's MIGRATIONS; the first is the schema made before versions
    statements(SCHEMA),  # IF NOT EXISTS throughout: an outbox made before versions (with or without its budget) is kept
]
assert len(PG_MIGRATIONS) == len(MIGRATIONS)  # one version number for both forms of the store

OPEN = "status IN ('pending', 'sending')"
IS_HEAD = ("NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.lane = o.lane AND e.id < o.id "
           "AND e.status IN ('pending', 'sending'))")
CLAIMED = "o.id, o.key_ref, o.lane, o.dedup_key, o.action, o.body, o.status, o.attempts"
MINE = "id = %(id)s AND status = 'sending' AND lease_owner = %(owner)s"
RETRY = ("UPDATE outbox_events SET status = 'pending', attempts = 0, next_attempt = %(now)s, finished_at = NULL "
         "WHERE status = 'dead'")

SQL = {
    "lane_ahead": f"SELECT count(*) FROM outbox_events WHERE lane = %(lane)s AND {OPEN}",
    "key_get": "SELECT tokens, refilled_at, throttled_until FROM outbox_keys WHERE key_ref = %(key_ref)s FOR UPDATE",
    "key_put": "INSERT INTO outbox_keys (key_ref, tokens, refilled_at) VALUES (%(key_ref)s, %(tokens)s, %(now)s) "
               "ON CONFLICT (key_ref) DO UPDATE SET tokens = EXCLUDED.tokens, refilled_at = EXCLUDED.refilled_at",
    "insert": "INSERT INTO outbox_events (key_ref, lane, dedup_key, action, body, status, created_at, next_attempt, "
              "lease_until, lease_owner) VALUES (%(key_ref)s, %(lane)s, %(dedup_key)s, %(action)s, %(body)s, "
              "%(status)s, %(now)s, %(now)s, %(lease_until)s, %(owner)s) RETURNING id",
    "heads": f"SELECT {CLAIMED} FROM outbox_events o "
             "WHERE ((o.status = 'pending' AND o.next_attempt <= %(now)s) "
             "OR (o.status = 'sending' AND o.lease_until < %(now)s)) "
             f"AND o.key_ref = ANY(%(refs)s) AND {IS_HEAD} "
             "AND NOT EXISTS (SELECT 1 FROM outbox_keys k WHERE k.key_ref = o.key_ref "
             "AND (k.throttled_until > %(now)s OR k.tokens + (%(now)s - k.refilled_at) * %(refill)s < 1)) "
             "ORDER BY o.id LIMIT %(limit)s FOR UPDATE OF o SKIP LOCKED",
    "lane_head": f"SELECT {CLAIMED} FROM outbox_events o WHERE o.lane = %(lane)s "
                 "AND (o.status = 'pending' OR (o.status = 'sending' AND o.lease_until < %(now)s)) "
                 f"AND o.key_ref = ANY(%(refs)s) AND {IS_HEAD} ORDER BY o.id LIMIT 1 FOR UPDATE OF o SKIP LOCKED",
    "take": "UPDATE outbox_events SET status = 'sending', lease_until = %(lease_until)s, lease_owner = %(owner)s "
            "WHERE id = ANY(%(ids)s)",
    "live_owners": "SELECT DISTINCT lease_owner FROM outbox_events WHERE status = 'sending' "
                   "AND lease_until >= %(now)s AND lease_owner LIKE %(host)s",
    "expire_owner": "UPDATE outbox_events SET lease_until = 0 WHERE status = 'sending' AND lease_owner = %(owner)s",
    "row_of": f"SELECT attempts, created_at FROM outbox_events WHERE {MINE}",
    # run alone (autocommit), so it reads the clock itself
    "mark_sent": "UPDATE outbox_events SET status = 'sent', attempts = attempts + 1, "
                 "finished_at = extract(epoch FROM clock_timestamp()), "
                 f"lease_until = NULL, last_error = NULL WHERE {MINE}",
    "mark_dead": "UPDATE outbox_events SET status = 'dead', attempts = attempts + 1, finished_at = %(now)s, "
                 f"last_error = %(error)s, lease_until = NULL WHERE {MINE}",
    "mark_pending": "UPDATE outbox_events SET status = 'pending', attempts = attempts + %(tried)s, "
                    f"next_attempt = %(next_attempt)s, last_error = %(error)s, lease_until = NULL WHERE {MINE}",
    "throttle": "INSERT INTO outbox_keys (key_ref, tokens, refilled_at, throttled_until) "
                "VALUES (%(key_ref)s, %(tokens)s, %(now)s, %(until)s) ON CONFLICT (key_ref) DO UPDATE SET "
                "tokens = EXCLUDED.tokens, refilled_at = EXCLUDED.refilled_at, "
                "throttled_until = GREATEST(outbox_keys.throttled_until, EXCLUDED.throttled_until)",
    "release": f"UPDATE outbox_events SET status = 'pending', lease_until = NULL WHERE {MINE}",
    "status_groups": "SELECT status, key_ref, count(*), min(created_at) FROM outbox_events GROUP BY status, key_ref",
    "resting_keys": "SELECT key_ref, throttled_until FROM outbox_keys WHERE throttled_until > %(now)s",
    "list_all": f"SELECT {LISTED} FROM outbox_events ORDER BY id LIMIT %(limit)s",
    "list_status": f"SELECT {LISTED} FROM outbox_events WHERE status = %(status)s ORDER BY id LIMIT %(limit)s",
    "retry_all": f"{RETRY} RETURNING id",
    "retry_key": f"{RETRY} AND dedup_key = %(dedup_key)s RETURNING id",
    "purge": "DELETE FROM outbox_events WHERE status = %(status)s AND finished_at < %(before)s RETURNING id",
    "open_by_key": f"SELECT key_ref, count(*) FROM outbox_events WHERE {OPEN} GROUP BY key_ref",
    "due_by_key": "SELECT o.key_ref, min(CASE WHEN o.status = 'pending' THEN o.next_attempt ELSE o.lease_until END), "
                  "max(k.throttled_until), max(k.tokens), max(k.refilled_at) FROM outbox_events o "
                  "LEFT JOIN outbox_keys k ON k.key_ref = o.key_ref "
                  f"WHERE o.{OPEN} AND {IS_HEAD} GROUP BY o.key_ref",
}


class PostgresOutbox(Outbox):
    SQL = SQL

    def __init__(self, url, limits=None):
        self.limits = limits or Limits()
        self.database = pg.Database(url, "outbox")
        self.url = self.database.url  # the password masked
        try:
            self.migrated = self.database.migrate(self.STORE, PG_MIGRATIONS)
        except BaseException:
            self.database.close()
            raise

    def transaction(self, durable=True):
        """`durable` is SQLite's (whether the commit is fsynced): every PostgreSQL commit is."""
        return self.database.transaction(SQL)

    def execute_alone(self, name, params):
        self.database.execute_alone(SQL[name], params)

    def schema_version(self):
        return self.database.version(self.STORE)

    def close(self):
        self.database.close()
