"""The outbox: events written before they are sent, so an outage, a crash or a kill -9 loses none.

One row per event, `pending -> sending -> sent | dead`. Events of one lane (routing key + dedup
key) leave in the order written, one at a time: a row is claimable only while no earlier row of
its lane is still pending or sending. A `sending` row carries a lease; when its sender dies the
lease runs out (or, on the same host, the sender's pid is gone) and another drainer takes it up.

Lanes are independent: a failed send backs off its own lane only (2^n s, at most 30 s), and an
event is dead once it has had `max_attempts` tries and is older than `max_age`. What lanes of
one routing key share is PagerDuty's budget for that key (`Limits.rate` events a minute, and the
rest a 429 asks for), kept in one row per key that every drainer spends from.

Every time (leases, back-offs, the budget) is the database's clock, read once per transaction
(`run.now`), never the host's: drainers on several machines compare like with like.

No routing key is stored: a row names its key by `key_ref`, a SHA-256 fingerprint, and a drainer
sends only the rows whose key it was given (its connection's routing_key, `--keys FILE`).

This module holds the store interface and its SQLite form (one machine); outbox_pg.py holds the
PostgreSQL form (many machines). `open_outbox(url)` picks one; psycopg is imported only there.
"""

import hashlib
import json
import os
import random
import socket
import time
from urllib.parse import unquote, urlsplit

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state.migrations import migrate_sqlite, sqlite_version, statements
from pagerduty_plugin.state.url_masking import display_url

STATUSES = ("pending", "sending", "sent", "dead")
OPEN = ("pending", "sending")
LANE_BACKOFF_BASE = 1.0  # seconds a lane waits after its first failed try; doubles per try (go-pdagent's 2^n)
LANE_BACKOFF_CAP = 30.0
THROTTLE_DEFAULT = 60.0  # seconds a routing key rests after a 429 that says nothing ("a few minutes" is PagerDuty's)
DEFAULT_FILE = "outbox.sqlite3"
RECLAIM_EVERY = 1.0  # seconds between looks for leases held by dead processes of this host

LISTED = ("id, key_ref, dedup_key, action, status, attempts, created_at, next_attempt, finished_at, "
          "last_error, lease_owner")


class Row:
    """One claimed event (no dataclass: its import is measurable on a step's cold start)."""

    __slots__ = ("id", "key_ref", "lane", "dedup_key", "action", "body", "status", "attempts")

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values):
            setattr(self, name, value)

    @property
    def event(self):
        return json.loads(self.body)


TIMES = ("created_at", "next_attempt", "finished_at")


def iso_time(seconds):
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def key_ref(routing_key):
    """The fingerprint a row names its routing key by (the key itself is never stored)."""
    return hashlib.sha256(b"pagerduty-plugin outbox:" + routing_key.encode()).hexdigest()[:32]


def lane_of(ref, event, row_hint):
    """Per-key order: alert events of one dedup key share a lane; a change event (no key) is alone."""
    dedup = event.get("dedup_key")
    return f"{ref}:{dedup}" if dedup else f"{ref}:change:{row_hint}"


def lane_backoff(tries):
    """How long a lane waits after its `tries`-th failed try (with jitter, so lanes spread out)."""
    return min(LANE_BACKOFF_CAP, LANE_BACKOFF_BASE * 2 ** max(0, tries - 1)) * (0.5 + random.random() / 2)


class Limits:
    """What an operator may set (connection fields outbox_rate, outbox_max_attempts, outbox_max_age).

    rate: events a minute per routing key; PagerDuty takes about 120 over a 60 s look-back. The
    budget is a bucket holding `burst` (5 s of the rate) refilled at the rest of the rate, so no
    60 s window ever sees more than `rate` sends.
    max_attempts, max_age: an event is dead once it has had max_attempts failed tries AND is
    older than max_age seconds (go-pdagent's 10 tries; an hour covers most PagerDuty incidents),
    so a short outage loses nothing and an event no attempt can deliver does not stay forever.
    """

    __slots__ = ("rate", "max_attempts", "max_age")

    def __init__(self, rate=120.0, max_attempts=10, max_age=3600.0):
        self.rate, self.max_attempts, self.max_age = float(rate), int(max_attempts), float(max_age)

    @classmethod
    def of(cls, settings):
        defaults = cls()
        return cls(settings.get("outbox_rate") or defaults.rate,
                   settings.get("outbox_max_attempts") or defaults.max_attempts,
                   defaults.max_age if settings.get("outbox_max_age") is None else settings.get("outbox_max_age"))

    @property
    def burst(self):
        return max(1.0, self.rate / 12)

    @property
    def refill(self):
        """Tokens a second."""
        return (self.rate - self.burst) / 60.0 if self.rate > self.burst else self.rate / 60.0

    def gives_up(self, tries, age):
        return tries >= self.max_attempts and age >= self.max_age


def owner_id():
    """Who holds a lease: host and pid (a same-host drainer can see the holder died) and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def holder_is_gone(owner, host):
    """True when `owner` ran on this host and its process no longer exists."""
    parts = owner.rsplit(":", 2) if owner else []
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive under another user
        return False
    return False


def scheme_of(url):
    """A URL's scheme, read without parsing the rest (a broken host part must not raise)."""
    return url.partition("://")[0].lower() if isinstance(url, str) and "://" in url else ""


def check_url(url):
    scheme = scheme_of(url)
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise PluginError(f"The connection's outbox is not a sqlite:// or postgresql:// URL: {display_url(str(url))!r}",
                          "Set outbox to sqlite:// (a file in the state directory), sqlite:///PATH, or "
                          "postgresql://USER@HOST/DB for several machines sharing one queue.", {"field": "outbox"})


def open_outbox(url, state=None, limits=None):
    """The store that `url` names: sqlite:// (default file in the state directory; in the state's
    database when --state or PAGERDUTY_STATE is a postgresql:// URL), sqlite:///PATH, or
    postgresql://… (psycopg imported only then)."""
    check_url(url)
    if urlsplit(url).scheme == "sqlite" and unquote(urlsplit(url).path) in ("", "/"):
        from pagerduty_plugin.state import location

        url = location.database_url(state) or url  # the default file follows the state into its database
    if scheme_of(url) in ("postgresql", "postgres"):
        from pagerduty_plugin.state.outbox_pg import PostgresOutbox

        return PostgresOutbox(url, limits or Limits())
    return SqliteOutbox(sqlite_path(url, state), url, limits or Limits())


def sqlite_path(url, state=None):
    path = unquote(urlsplit(url).path)
    if not path or path == "/":
        from pagerduty_plugin.state import state_dir

        return os.path.join(state_dir(state), DEFAULT_FILE)
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        raise PluginError(f"The outbox directory {directory} does not exist",
                          "Create it, or set outbox to sqlite:// for the default file in the state directory.",
                          {"field": "outbox"})
    return path


class Outbox:
    """What both stores share: the bookkeeping, in Python. Each store brings its own SQL (`SQL`, a
    dict of named statements taking named parameters) and `transaction()`, a context manager
    yielding `run(name, params) -> rows` with `run.now`, the database's clock (epoch seconds) when
    the transaction began. Every outcome is its own transaction: recorded before the next send."""

    STORE = "outbox"  # its name in schema_version (state/migrations.py)
    url = ""
    reclaimed_at = 0.0
    limits = None
    migrated = ()  # the migrations applied when it opened

    # --- writing ---------------------------------------------------------------------------
    def add(self, routing_key_ref, event, action, owner=None, lease=0.0):
        """Write one event (routing_key already removed). With `owner`, the row is claimed at once
        when it heads its lane and its key has budget and is not resting after a 429:
        (id, lane, ahead, claimed), with `ahead` the earlier open rows of its lane."""
        body = json.dumps(event, separators=(",", ":"))
        with self.transaction() as run:
            now = run.now
            lane = lane_of(routing_key_ref, event, os.urandom(8).hex())
            ahead = run("lane_ahead", {"lane": lane})[0][0]
            claimed = owner is not None and ahead == 0 and self.spend(run, routing_key_ref, 1) == 1
            row_id = run("insert", {"key_ref": routing_key_ref, "lane": lane, "dedup_key": event.get("dedup_key"),
                                    "action": action, "body": body, "status": "sending" if claimed else "pending",
                                    "now": now, "lease_until": now + lease if claimed else None,
                                    "owner": owner if claimed else None})[0][0]
        return row_id, lane, ahead, claimed

    # --- the per-key budget ----------------------------------------------------------------------
    def spend(self, run, ref, wanted):
        """Take up to `wanted` sends from the key's budget (none while it rests after a 429);
        returns how many were granted. Runs inside the caller's transaction."""
        now, limits = run.now, self.limits
        found = run("key_get", {"key_ref": ref})
        tokens, refilled_at, throttled_until = found[0] if found else (limits.burst, now, 0.0)
        if throttled_until > now:
            return 0
        tokens = min(limits.burst, tokens + max(0.0, now - refilled_at) * limits.refill)
        granted = min(wanted, int(tokens))
        run("key_put", {"key_ref": ref, "tokens": tokens - granted, "now": now})
        return granted

    # --- claiming --------------------------------------------------------------------------
    def claim(self, owner, refs, limit, lease, lane=None):
        """Claim up to `limit` lane heads whose key is in `refs`, within their keys' budgets; with
        `lane`, only that lane's head, due or not (a new step for the key tries its lane at once)."""
        if not refs:
            return []
        started = time.monotonic()
        if started - self.reclaimed_at > RECLAIM_EVERY:
            self.reclaimed_at = started
            self.reclaim_from_the_dead()
        with self.transaction() as run:
            params = {"now": run.now, "refs": sorted(refs), "limit": limit, "refill": self.limits.refill}
            rows = [Row(*row) for row in (run("lane_head", {**params, "lane": lane}) if lane else
                                          run("heads", params))]
            by_key = {}
            for row in rows:
                by_key.setdefault(row.key_ref, []).append(row)
            taken = []
            for ref, heads in sorted(by_key.items()):
                taken += heads[:self.spend(run, ref, len(heads))]
            if taken:
                run("take", {"ids": [row.id for row in taken], "lease_until": run.now + lease, "owner": owner})
            for row in taken:
                row.status = "sending"
        return sorted(taken, key=lambda row: row.id)

    def reclaim_from_the_dead(self):
        """Leases held by processes of this host that no longer exist end now, not at their expiry."""
        host = socket.gethostname()
        with self.transaction() as run:
            for (owner,) in run("live_owners", {"now": run.now, "host": host + ":%"}):
                if holder_is_gone(owner, host):
                    run("expire_owner", {"owner": owner})

    # --- outcomes: one transaction each, only on rows still leased to `owner` ------------------
    # (a row another drainer took over after our lease ran out is theirs to finish, so a late
    # answer can never let the next event of the lane overtake a resend)
    def sent(self, owner, row_id):
        self.execute_alone("mark_sent", {"id": row_id, "owner": owner})  # the common case: one round trip

    def refused(self, owner, row_id, error):
        """PagerDuty will never take it (400, other 4xx, too large): dead at once."""
        with self.transaction(durable=False) as run:
            run("mark_dead", {"id": row_id, "owner": owner, "now": run.now, "error": error})

    def failed(self, owner, row_id, error):
        """A retryable failure (5xx, 408, network): its lane backs off, or the event is dead once
        the limits say so. Returns (status, seconds until the next try or None)."""
        with self.transaction(durable=False) as run:
            found = run("row_of", {"id": row_id, "owner": owner})
            if not found:
                return None, None
            tries, created_at = found[0][0] + 1, found[0][1]
            if self.limits.gives_up(tries, run.now - created_at):
                reason = f"gave up after {tries} tries over {run.now - created_at:.0f} s: {error}"
                run("mark_dead", {"id": row_id, "owner": owner, "now": run.now, "error": reason[:1000]})
                return "dead", None
            wait = lane_backoff(tries)
            run("mark_pending", {"id": row_id, "owner": owner, "next_attempt": run.now + wait, "error": error,
                                 "tried": 1})
            return "pending", wait

    def throttled(self, owner, row_id, ref, error, told):
        """A 429: the whole routing key rests as long as PagerDuty said; the event's try does not
        count (the key's budget, not the event, was at fault). Returns the rest in seconds."""
        wait = THROTTLE_DEFAULT if told is None else told
        with self.transaction(durable=False) as run:
            run("throttle", {"key_ref": ref, "until": run.now + wait, "now": run.now, "tokens": 0.0})
            run("mark_pending", {"id": row_id, "owner": owner, "next_attempt": run.now, "error": error, "tried": 0})
        return wait

    def release(self, owner, ids):
        """Claimed rows not tried after all (stopped, or their lease would run out)."""
        if ids:
            with self.transaction(durable=False) as run:
                for row_id in ids:
                    run("release", {"id": row_id, "owner": owner})

    # --- inspection and upkeep -----------------------------------------------------------------
    def status(self):
        with self.transaction() as run:
            now = run.now
            groups = run("status_groups", {})
            resting = run("resting_keys", {"now": now})
        counts = {status: 0 for status in STATUSES}
        keys, oldest = {}, None
        for status, ref, count, created in groups:
            counts[status] = counts.get(status, 0) + count
            keys.setdefault(ref, {s: 0 for s in STATUSES})[status] += count
            if status in OPEN:
                oldest = created if oldest is None else min(oldest, created)
        for ref, until in resting:
            if ref in keys:
                keys[ref]["resting_seconds"] = round(until - now, 1)
        return {"schema_version": self.schema_version(), "schema_latest": len(MIGRATIONS), "counts": counts,
                "keys": keys, "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1)}

    def listing(self, status=None, limit=100):
        with self.transaction() as run:
            rows = run("list_status" if status else "list_all", {"status": status, "limit": limit})
        names = [name.strip() for name in LISTED.split(",")]
        return [{name: iso_time(value) if name in TIMES else value for name, value in zip(names, row)}
                for row in rows]

    def retry(self, dedup_key=None):
        """Dead events (all, or of one dedup key) back to pending, due now, their tries counted
        afresh (the last error is kept until the next try). Returns how many."""
        with self.transaction() as run:
            name = "retry_all" if dedup_key is None else "retry_key"
            return len(run(name, {"now": run.now, "dedup_key": dedup_key}))

    def purge(self, status, older_than):
        """Delete finished events (sent or dead) finished more than `older_than` seconds ago."""
        if status not in ("sent", "dead"):
            raise PluginError(f"Only sent or dead events can be purged, not {status!r}",
                              "Use --status sent or --status dead: pending events are still to be delivered.")
        with self.transaction() as run:
            return len(run("purge", {"status": status, "before": run.now - older_than}))

    def open_by_key(self):
        with self.transaction() as run:
            return dict(run("open_by_key", {}))

    def unknown_keys(self, refs):
        """Open events whose routing key this drainer was not given: {ref: count}."""
        return {ref: count for ref, count in self.open_by_key().items() if ref not in refs}

    def open_count(self, refs):
        return sum(count for ref, count in self.open_by_key().items() if ref in refs)

    def next_due(self, refs):
        """Seconds until an open event of these keys may next be tried (0 when one is due now),
        or None when they have no open event: a lane's back-off, a lease, a key's rest or budget."""
        limits = self.limits
        with self.transaction() as run:
            now = run.now
            rows = run("due_by_key", {})
        times = []
        for ref, when, throttled_until, tokens, refilled_at in rows:
            if ref not in refs:
                continue
            ready = 0.0
            if tokens is not None and tokens < 1:
                ready = refilled_at + (1 - tokens) / limits.refill
            times.append(max(when or 0.0, throttled_until or 0.0, ready))
        return max(0.0, min(times) - now) if times else None


SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_ref TEXT NOT NULL,
  lane TEXT NOT NULL,
  dedup_key TEXT,
  action TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  next_attempt REAL NOT NULL,
  lease_until REAL,
  lease_owner TEXT,
  finished_at REAL,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox_events (status, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_open_lanes ON outbox_events (lane, id) WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS outbox_dedup ON outbox_events (dedup_key);
CREATE TABLE IF NOT EXISTS outbox_keys (
  key_ref TEXT PRIMARY KEY,
  tokens REAL NOT NULL DEFAULT 0,
  refilled_at REAL NOT NULL DEFAULT 0,
  throttled_until REAL NOT NULL DEFAULT 0
);
"""
# an outbox written before the per-key budget: its outbox_keys gains the budget's columns
BUDGET_COLUMNS = ["ALTER TABLE outbox_keys ADD COLUMN tokens REAL NOT NULL DEFAULT 0",
                  "ALTER TABLE outbox_keys ADD COLUMN refilled_at REAL NOT NULL DEFAULT 0"]
# numbered from 1 (state/migrations.py), as outbox_pg.py's PG_MIGRATIONS; the first is the schema made before
# versions: IF NOT EXISTS, and the budget's columns taken as added where they are
MIGRATIONS = [
    statements(SCHEMA) + BUDGET_COLUMNS,
]

OPEN_SQL = "status IN ('pending', 'sending')"
IS_HEAD = ("NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.lane = o.lane AND e.id < o.id "
           "AND e.status IN ('pending', 'sending'))")
CLAIMED = "o.id, o.key_ref, o.lane, o.dedup_key, o.action, o.body, o.status, o.attempts"
MINE = "id = :id AND status = 'sending' AND lease_owner = :owner"

# SQLite: named parameters (:name); a list parameter arrives as JSON text (json_each reads it).
SQLITE_SQL = {
    "lane_ahead": f"SELECT count(*) FROM outbox_events WHERE lane = :lane AND {OPEN_SQL}",
    "key_get": "SELECT tokens, refilled_at, throttled_until FROM outbox_keys WHERE key_ref = :key_ref",
    "key_put": "INSERT INTO outbox_keys (key_ref, tokens, refilled_at) VALUES (:key_ref, :tokens, :now) "
               "ON CONFLICT (key_ref) DO UPDATE SET tokens = excluded.tokens, refilled_at = excluded.refilled_at",
    "insert": "INSERT INTO outbox_events (key_ref, lane, dedup_key, action, body, status, attempts, created_at, "
              "next_attempt, lease_until, lease_owner) VALUES (:key_ref, :lane, :dedup_key, :action, :body, :status, "
              "0, :now, :now, :lease_until, :owner) RETURNING id",
    "heads": f"SELECT {CLAIMED} FROM outbox_events o "
             "WHERE ((o.status = 'pending' AND o.next_attempt <= :now) "
             "OR (o.status = 'sending' AND o.lease_until < :now)) "
             f"AND o.key_ref IN (SELECT value FROM json_each(:refs)) AND {IS_HEAD} "
             "AND NOT EXISTS (SELECT 1 FROM outbox_keys k WHERE k.key_ref = o.key_ref AND (k.throttled_until > :now "
             "OR k.tokens + (:now - k.refilled_at) * :refill < 1)) "
             "ORDER BY o.id LIMIT :limit",
    "lane_head": f"SELECT {CLAIMED} FROM outbox_events o WHERE o.lane = :lane "
                 "AND (o.status = 'pending' OR (o.status = 'sending' AND o.lease_until < :now)) "
                 f"AND o.key_ref IN (SELECT value FROM json_each(:refs)) AND {IS_HEAD} ORDER BY o.id LIMIT 1",
    "take": "UPDATE outbox_events SET status = 'sending', lease_until = :lease_until, lease_owner = :owner "
            "WHERE id IN (SELECT value FROM json_each(:ids))",
    "live_owners": "SELECT DISTINCT lease_owner FROM outbox_events WHERE status = 'sending' "
                   "AND lease_until >= :now AND lease_owner LIKE :host",
    "expire_owner": "UPDATE outbox_events SET lease_until = 0 WHERE status = 'sending' AND lease_owner = :owner",
    "row_of": f"SELECT attempts, created_at FROM outbox_events WHERE {MINE}",
    "mark_sent": "UPDATE outbox_events SET status = 'sent', attempts = attempts + 1, finished_at = :now, "
                 f"lease_until = NULL, last_error = NULL WHERE {MINE}",
    "mark_dead": "UPDATE outbox_events SET status = 'dead', attempts = attempts + 1, finished_at = :now, "
                 f"last_error = :error, lease_until = NULL WHERE {MINE}",
    "mark_pending": "UPDATE outbox_events SET status = 'pending', attempts = attempts + :tried, "
                    f"next_attempt = :next_attempt, last_error = :error, lease_until = NULL WHERE {MINE}",
    "throttle": "INSERT INTO outbox_keys (key_ref, tokens, refilled_at, throttled_until) "
                "VALUES (:key_ref, :tokens, :now, :until) ON CONFLICT (key_ref) DO UPDATE SET "
                "tokens = excluded.tokens, refilled_at = excluded.refilled_at, "
                "throttled_until = max(outbox_keys.throttled_until, excluded.throttled_until)",
    "release": f"UPDATE outbox_events SET status = 'pending', lease_until = NULL WHERE {MINE}",
    "status_groups": "SELECT status, key_ref, count(*), min(created_at) FROM outbox_events GROUP BY status, key_ref",
    "resting_keys": "SELECT key_ref, throttled_until FROM outbox_keys WHERE throttled_until > :now",
    "list_all": f"SELECT {LISTED} FROM outbox_events ORDER BY id LIMIT :limit",
    "list_status": f"SELECT {LISTED} FROM outbox_events WHERE status = :status ORDER BY id LIMIT :limit",
    "retry_all": "UPDATE outbox_events SET status = 'pending', attempts = 0, next_attempt = :now, finished_at = NULL "
                 "WHERE status = 'dead' RETURNING id",
    "retry_key": "UPDATE outbox_events SET status = 'pending', attempts = 0, next_attempt = :now, finished_at = NULL "
                 "WHERE status = 'dead' AND dedup_key = :dedup_key RETURNING id",
    "purge": "DELETE FROM outbox_events WHERE status = :status AND finished_at < :before RETURNING id",
    "open_by_key": f"SELECT key_ref, count(*) FROM outbox_events WHERE {OPEN_SQL} GROUP BY key_ref",
    "due_by_key": "SELECT o.key_ref, min(CASE WHEN o.status = 'pending' THEN o.next_attempt ELSE o.lease_until END), "
                  "max(k.throttled_until), max(k.tokens), max(k.refilled_at) FROM outbox_events o "
                  "LEFT JOIN outbox_keys k ON k.key_ref = o.key_ref "
                  f"WHERE o.{OPEN_SQL} AND {IS_HEAD} GROUP BY o.key_ref",
}


class SqliteOutbox(Outbox):
    """One machine: a SQLite file in WAL mode, every commit fsynced (synchronous=FULL). Several
    processes share it; BEGIN IMMEDIATE makes each claim a single writer's. The host's clock is
    the database's here."""

    SQL = SQLITE_SQL

    def __init__(self, path, url="sqlite://", limits=None):
        from pagerduty_plugin.state import open_sqlite

        self.path, self.url, self.limits = path, url, limits or Limits()
        self.db = open_sqlite(path)
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
        self.migrated = self.migrate()

    def migrate(self):
        """The migrations it lacks, under SQLite's write lock ([] at once when it has them all: a read)."""
        import sqlite3

        try:
            if sqlite_version(self.db, self.STORE) >= len(MIGRATIONS):
                return []
            return migrate_sqlite(self.db, self.STORE, MIGRATIONS)
        except sqlite3.Error as exc:
            self.db.close()
            raise PluginError(f"Cannot prepare the outbox {self.path}: {exc}",
                              "Check that its directory is writable and on a local disk.") from None

    def schema_version(self):
        return sqlite_version(self.db, self.STORE)

    def transaction(self, durable=True):
        return SqliteTransaction(self.db, self.SQL, durable)

    def execute_alone(self, name, params):
        """One statement as its own (unfsynced) transaction, `now` given."""
        with self.transaction(durable=False) as run:
            run(name, {**params, "now": run.now})

    def close(self):
        self.db.close()


class SqliteRun:
    """run(name, params) -> rows, with `now` (the clock at BEGIN)."""

    def __init__(self, db, sql):
        self.db, self.sql, self.now = db, sql, time.time()

    def __call__(self, name, params):
        params = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
        return self.db.execute(self.sql[name], params).fetchall()


class SqliteTransaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error); yields a SqliteRun."""

    def __init__(self, db, sql, durable=True):
        self.db, self.sql, self.durable = db, sql, durable

    def __enter__(self):
        import sqlite3

        try:
            if not self.durable:  # WAL with synchronous=NORMAL: safe from a kill -9, not fsynced
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise PluginError(f"The outbox database is not usable: {exc}",
                              "Check the outbox file and its directory (disk full, permissions).") from None
        return SqliteRun(self.db, self.sql)

    def __exit__(self, kind, exc, tb):
        try:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            if not self.durable:
                self.db.execute("PRAGMA synchronous=FULL")
        return False
