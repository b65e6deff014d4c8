"""The outbox: events written before they are sent, so an outage, a crash or a kill -9 loses none.

One row per event, `pending -> sending -> sent | dead`. Events of one lane (routing key + dedup
key) leave in the order written, one at a time: a row is claimable only while no earlier row of
its lane is still pending or sending. A `sending` row carries a lease; when its sender dies the
lease runs out (or, on the same host, the sender's pid is gone) and another drainer takes it up.

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

STATUSES = ("pending", "sending", "sent", "dead")
OPEN = ("pending", "sending")
KEY_BACKOFF_BASE = 1.0  # seconds a routing key rests after its first failure; doubles per failure
KEY_BACKOFF_CAP = 60.0
DEFAULT_FILE = "outbox.sqlite3"
RECLAIM_EVERY = 1.0  # seconds between looks for leases held by dead processes of this host

COLUMNS = "id, key_ref, lane, dedup_key, action, body, status, attempts"
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


def key_backoff(failures):
    """How long a routing key rests after `failures` failures in a row (with jitter)."""
    return min(KEY_BACKOFF_CAP, KEY_BACKOFF_BASE * 2 ** max(0, failures - 1)) * (0.5 + random.random() / 2)


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


def display_url(url):
    """The outbox URL without its password, for output and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":********@", 1)
    return parts._replace(netloc=netloc).geturl()


def check_url(url):
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise PluginError(f"The connection's outbox is not a sqlite:// or postgresql:// URL: {display_url(str(url))!r}",
                          "Set outbox to sqlite:// (a file in the state directory), sqlite:///PATH, or "
                          "postgresql://USER@HOST/DB for several machines sharing one queue.", {"field": "outbox"})


def open_outbox(url, state=None):
    """The store that `url` names: sqlite:// (default file in the state directory), sqlite:///PATH,
    or postgresql://… (psycopg imported only then)."""
    check_url(url)
    if urlsplit(url).scheme in ("postgresql", "postgres"):
        from pagerduty_plugin.state.outbox_pg import PostgresOutbox

        return PostgresOutbox(url)
    return SqliteOutbox(sqlite_path(url, state), url)


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
    """What both stores share: the SQL (written with ? placeholders) and the bookkeeping.

    A subclass provides `transaction()` (a context manager yielding a cursor-like `run(sql, args)`),
    `claim_candidates` and `close`.
    """

    url = ""
    reclaimed_at = 0.0

    # --- writing ---------------------------------------------------------------------------
    def add(self, routing_key_ref, event, action, owner=None, lease=0.0):
        """Write one event (routing_key already removed). With `owner`, the row is claimed at once
        when it heads its lane and its key is not throttled (429): (id, lane, ahead, claimed), with
        `ahead` the earlier open rows of its lane."""
        now = time.time()
        body = json.dumps(event, separators=(",", ":"))
        with self.transaction() as run:
            hint = os.urandom(8).hex()
            lane = lane_of(routing_key_ref, event, hint)
            ahead = run("SELECT count(*) FROM outbox_events WHERE lane = ? AND status IN ('pending', 'sending')",
                        (lane,))[0][0]
            claimed = owner is not None and ahead == 0 and not run(
                "SELECT 1 FROM outbox_keys WHERE key_ref = ? AND throttled_until > ?", (routing_key_ref, now))
            status, lease_until = ("sending", now + lease) if claimed else ("pending", None)
            row_id = run("INSERT INTO outbox_events (key_ref, lane, dedup_key, action, body, status, attempts, "
                         "created_at, next_attempt, lease_until, lease_owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                         "RETURNING id",
                         (routing_key_ref, lane, event.get("dedup_key"), action, body, status, int(claimed), now,
                          now, lease_until, owner if claimed else None))[0][0]
        return row_id, lane, ahead, claimed

    # --- claiming --------------------------------------------------------------------------
    def claim(self, owner, refs, limit, lease, lane=None):
        """Claim up to `limit` lane heads whose key is in `refs` and not resting; with `lane`, only
        that lane's head, due or not (a new step for the key tries its lane at once)."""
        if not refs:
            return []
        now = time.time()
        if now - self.reclaimed_at > RECLAIM_EVERY:
            self.reclaimed_at = now
            self.reclaim_from_the_dead(now)
        return self.claim_candidates(owner, sorted(refs), limit, now, now + lease, lane)

    def claim_filter(self, refs, lane):
        """The WHERE clause and its arguments for lane heads that may be claimed now."""
        due = "o.status = 'pending'" if lane else "o.status = 'pending' AND o.next_attempt <= ?"
        resting = "k.throttled_until" if lane else "k.not_before"  # a step waits out only a 429
        sql = (f"(({due}) OR (o.status = 'sending' AND o.lease_until < ?)) "
               f"AND o.key_ref IN ({', '.join('?' * len(refs))}) "
               + ("AND o.lane = ? " if lane else "")
               + "AND NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.lane = o.lane AND e.id < o.id "
                 "AND e.status IN ('pending', 'sending')) "
               f"AND NOT EXISTS (SELECT 1 FROM outbox_keys k WHERE k.key_ref = o.key_ref AND {resting} > ?)")
        return sql, lambda now: ([] if lane else [now]) + [now, *refs] + ([lane] if lane else []) + [now]

    def reclaim_from_the_dead(self, now):
        """Leases held by processes of this host that no longer exist end now, not at their expiry."""
        host = socket.gethostname()
        with self.transaction() as run:
            owners = run("SELECT DISTINCT lease_owner FROM outbox_events WHERE status = 'sending' "
                         "AND lease_until >= ? AND lease_owner LIKE ?", (now, host + ":%"))
            for (owner,) in owners:
                if holder_is_gone(owner, host):
                    run("UPDATE outbox_events SET lease_until = 0 WHERE status = 'sending' AND lease_owner = ?",
                        (owner,))

    # --- outcomes ----------------------------------------------------------------------------
    def finish(self, owner, sent=(), retry=(), dead=(), keys_ok=(), keys_failed=()):
        """Record a batch of outcomes in one transaction. Only rows still leased to `owner` change:
        a row another drainer took over after our lease ran out is theirs to finish (so a late
        answer can never let the next event of the lane overtake a resend).

        retry: [(id, error, wait or None)]; dead: [(id, error)]; keys_failed: [(ref, wait or None, throttled)].
        Not fsynced: an outcome lost to a power cut only means one more send of an event whose dedup
        key makes it harmless; the event itself was fsynced when it was written."""
        now = time.time()
        with self.transaction(durable=False) as run:
            rest = {}
            for ref, told, throttled in keys_failed:
                rest[ref] = self.rest_key(run, ref, now, told, throttled)
            for row_id in sent:
                run("UPDATE outbox_events SET status = 'sent', finished_at = ?, lease_until = NULL, last_error = NULL "
                    "WHERE id = ? AND status = 'sending' AND lease_owner = ?", (now, row_id, owner))
            for row_id, error, wait in retry:
                run("UPDATE outbox_events SET status = 'pending', next_attempt = ?, last_error = ?, lease_until = NULL "
                    "WHERE id = ? AND status = 'sending' AND lease_owner = ?",
                    (now + (wait or 0.0), error, row_id, owner))
            for row_id, error in dead:
                run("UPDATE outbox_events SET status = 'dead', finished_at = ?, last_error = ?, lease_until = NULL "
                    "WHERE id = ? AND status = 'sending' AND lease_owner = ?", (now, error, row_id, owner))
            for ref in set(keys_ok) - set(rest):
                run("UPDATE outbox_keys SET failures = 0, not_before = 0 WHERE key_ref = ? AND failures > 0", (ref,))
        return rest

    def release(self, owner, ids):
        """Claimed rows not tried after all (their key failed earlier in the batch)."""
        if ids:
            with self.transaction(durable=False) as run:
                for row_id in ids:
                    run("UPDATE outbox_events SET status = 'pending', attempts = attempts - 1, lease_until = NULL "
                        "WHERE id = ? AND status = 'sending' AND lease_owner = ?", (row_id, owner))

    def rest_key(self, run, ref, now, told, throttled):
        """A failed key rests: `told` seconds when PagerDuty said (429), else a growing back-off.
        Stored in the database, so every drainer on every host honours it. Returns the wait."""
        found = run("SELECT failures FROM outbox_keys WHERE key_ref = ?", (ref,))
        failures = (found[0][0] if found else 0) + 1
        wait = told if told is not None else key_backoff(failures)
        run("INSERT INTO outbox_keys (key_ref, failures, not_before, throttled_until) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key_ref) DO UPDATE SET failures = excluded.failures, not_before = excluded.not_before, "
            "throttled_until = CASE WHEN excluded.throttled_until > outbox_keys.throttled_until "
            "THEN excluded.throttled_until ELSE outbox_keys.throttled_until END",
            (ref, failures, now + wait, now + wait if throttled else 0.0))
        return wait

    # --- inspection and upkeep -----------------------------------------------------------------
    def status(self):
        now = time.time()
        with self.transaction() as run:
            groups = run("SELECT status, key_ref, count(*), min(created_at) FROM outbox_events "
                         "GROUP BY status, key_ref", ())
            resting = run("SELECT key_ref, not_before, failures FROM outbox_keys WHERE not_before > ?", (now,))
        counts = {status: 0 for status in STATUSES}
        keys, oldest = {}, None
        for status, ref, count, created in groups:
            counts[status] = counts.get(status, 0) + count
            keys.setdefault(ref, {s: 0 for s in STATUSES})[status] += count
            if status in OPEN:
                oldest = created if oldest is None else min(oldest, created)
        for ref, not_before, failures in resting:
            if ref in keys:
                keys[ref]["resting_seconds"] = round(not_before - now, 1)
                keys[ref]["failures"] = failures
        return {"counts": counts, "keys": keys,
                "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1)}

    def listing(self, status=None, limit=100):
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self.transaction() as run:
            rows = run(f"SELECT {LISTED} FROM outbox_events {where} ORDER BY id LIMIT ?", (*args, limit))
        names = [name.strip() for name in LISTED.split(",")]
        return [{name: iso_time(value) if name in TIMES else value for name, value in zip(names, row)}
                for row in rows]

    def retry(self, dedup_key=None):
        """Dead events (all, or of one dedup key) back to pending, due now. Returns how many."""
        now = time.time()
        where, args = ("AND dedup_key = ?", (dedup_key,)) if dedup_key is not None else ("", ())
        with self.transaction() as run:
            return len(run(f"UPDATE outbox_events SET status = 'pending', next_attempt = ?, finished_at = NULL "
                           f"WHERE status = 'dead' {where} RETURNING id", (now, *args)))

    def purge(self, status, older_than):
        """Delete finished events (sent or dead) finished more than `older_than` seconds ago."""
        if status not in ("sent", "dead"):
            raise PluginError(f"Only sent or dead events can be purged, not {status!r}",
                              "Use --status sent or --status dead: pending events are still to be delivered.")
        with self.transaction() as run:
            return len(run("DELETE FROM outbox_events WHERE status = ? AND finished_at < ? RETURNING id",
                           (status, time.time() - older_than)))

    def unknown_keys(self, refs):
        """Open events whose routing key this drainer was not given: {ref: count}."""
        with self.transaction() as run:
            rows = run("SELECT key_ref, count(*) FROM outbox_events WHERE status IN ('pending', 'sending') "
                       "GROUP BY key_ref", ())
        return {ref: count for ref, count in rows if ref not in refs}

    def open_count(self, refs):
        with self.transaction() as run:
            rows = run("SELECT key_ref, count(*) FROM outbox_events WHERE status IN ('pending', 'sending') "
                       "GROUP BY key_ref", ())
        return sum(count for ref, count in rows if ref in refs)

    def next_due(self, refs):
        """Seconds until an open event of these keys may next be tried (0 when one is due now),
        or None when they have no open event."""
        with self.transaction() as run:
            rows = run("SELECT o.key_ref, min(CASE WHEN o.status = 'pending' THEN o.next_attempt "
                       "ELSE o.lease_until END), max(k.not_before) FROM outbox_events o "
                       "LEFT JOIN outbox_keys k ON k.key_ref = o.key_ref "
                       "WHERE o.status IN ('pending', 'sending') GROUP BY o.key_ref", ())
        times = [max(when or 0.0, rest or 0.0) for ref, when, rest in rows if ref in refs]
        return max(0.0, min(times) - time.time()) if times else None

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
  failures INTEGER NOT NULL DEFAULT 0,
  not_before REAL NOT NULL DEFAULT 0,
  throttled_until REAL NOT NULL DEFAULT 0
);
"""


class SqliteOutbox(Outbox):
    """One machine: a SQLite file in WAL mode, every commit fsynced (synchronous=FULL). Several
    processes share it; BEGIN IMMEDIATE makes each claim a single writer's."""

    def __init__(self, path, url="sqlite://"):
        from pagerduty_plugin.state import open_sqlite

        self.path, self.url = path, url
        self.db = open_sqlite(path)
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'outbox_keys'").fetchone():
            self.db.executescript(SCHEMA)

    def transaction(self, durable=True):
        return SqliteTransaction(self.db, durable)

    def claim_candidates(self, owner, refs, limit, now, lease_until, lane):
        where, args = self.claim_filter(refs, lane)
        with self.transaction(durable=False) as run:  # a claim lost to a power cut is a lease that ran out
            rows = run(f"SELECT {', '.join('o.' + c.strip() for c in COLUMNS.split(','))} FROM outbox_events o "
                       f"WHERE {where} ORDER BY o.id LIMIT ?", (*args(now), limit))
            for row in rows:
                run("UPDATE outbox_events SET status = 'sending', attempts = attempts + 1, lease_until = ?, "
                    "lease_owner = ? WHERE id = ?", (lease_until, owner, row[0]))
        return [Row(*row[:6], "sending", row[7] + 1) for row in rows]

    def close(self):
        self.db.close()


class SqliteTransaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error); yields run(sql, args) -> rows."""

    def __init__(self, db, durable=True):
        self.db, self.durable = db, durable

    def __enter__(self):
        import sqlite3

        try:
            if not self.durable:  # WAL with synchronous=NORMAL: safe from a kill -9, not fsynced
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise PluginError(f"The outbox database is not usable: {exc}",
                              "Check the outbox file and its directory (disk full, permissions).") from None
        return lambda sql, args=(): self.db.execute(sql, args).fetchall()

    def __exit__(self, kind, exc, tb):
        try:
            self.db.execute("ROLLBACK" if kind else "COMMIT")
        finally:
            if not self.durable:
                self.db.execute("PRAGMA synchronous=FULL")
        return False
