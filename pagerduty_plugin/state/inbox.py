"""The trigger inbox: every event, webhook or polled, is stored here before anything acknowledges it.

- `events` holds each event once per source: once per key (a webhook's X-Webhook-Id, stable across
  PagerDuty's retries; a polled incident's or log entry's id) and once per event id (the same
  event delivered to two subscriptions that both match it). A redelivery is a no-op.
- `positions` is how far each consumer has read (events are handed over in `seq` order); a consumer
  is named by its operator, and a new one starts at the newest event unless told to replay.
- `leases` say which process owns a consumer's position while it runs (state/leases.py): moving
  a position checks the lease in the same transaction, so a process that lost it moves nothing.
- `dead_letters` hold the events a consumer's destination refused for good, with the reason,
  until the operator retries or purges them.
- `cursors` is where each poller resumes; it is written in the same transaction as the events
  of the poll, so a poll killed half way leaves it where it was.
- `claims` share a consumer group's events among its members (`runbook serve`; order does not
  matter there): a member claims a batch, (owner, expires) on the store's clock, and marks each
  done; the group's position is its low watermark (every event at or below it done), and the done
  claims below it are deleted. A claim whose lease ended (its member died) is claimed again.
- `group_members` lists each member of a group while it runs, idle or not, with when the store last
  saw it (its heartbeat) and its lease: one not seen for longer than its lease is gone (killed).
Events older than RETENTION_DAYS are purged; the bookkeeping that would otherwise only grow (lease
takeovers, leases and members gone that long, claims of deleted events, what a killed poll staged)
goes past the same age, counted in `retention_trims`. A consumer nobody used that long is set
aside as dormant (set_aside_vanished): retention waits for it no more. Nothing secret is stored.

Writers take an flock on inbox.lock before SQLite's write lock: a process waiting on SQLite's own
busy handler sleeps in steps of up to 100 ms, while a waiter on flock wakes the moment the lock
is free (with two server workers, receipts' p99 fell from about 80 ms to about 25 ms).
"""

import fcntl
import json
import os
import sqlite3
import time

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state import location, open_sqlite, state_dir
from pagerduty_plugin.state.leases import SQLITE_NOW
from pagerduty_plugin.state.migrations import migrate_sqlite, sqlite_version, statements

FILE_NAME = "inbox.sqlite"
WEBHOOK_SOURCE = "webhook"  # the source of the events PagerDuty pushed (the others are pollers')
RETENTION_DAYS = 7
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (source, key),
    UNIQUE (source, event_id)
);
CREATE TABLE IF NOT EXISTS positions (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged (
    source TEXT NOT NULL,
    sort_key TEXT NOT NULL,
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (consumer TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
    consumer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    retry INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, seq)
);
"""
MIGRATIONS = [  # numbered from 1 (state/migrations.py); the first is the schema made before versions
    statements(SCHEMA),
    ["CREATE TABLE retention_drops (consumer TEXT PRIMARY KEY, dropped INTEGER NOT NULL, last_at REAL NOT NULL)",
     "CREATE TABLE lease_takeovers (consumer TEXT NOT NULL, from_owner TEXT NOT NULL, to_owner TEXT NOT NULL, "
     "at REAL NOT NULL)",
     "CREATE INDEX events_received ON events (received_at)",
     "ALTER TABLE positions ADD COLUMN sources TEXT"],  # ' a b ': what the consumer reads (NULL: any source)
    ["CREATE TABLE claims (consumer TEXT NOT NULL, seq INTEGER NOT NULL, owner TEXT NOT NULL, expires REAL NOT NULL, "
     "done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (consumer, seq))",
     "ALTER TABLE positions ADD COLUMN shared INTEGER NOT NULL DEFAULT 0"],  # 1: a group (its members claim)
    ["CREATE TABLE group_members (consumer TEXT NOT NULL, owner TEXT NOT NULL, seen REAL NOT NULL, "
     "lease REAL NOT NULL, PRIMARY KEY (consumer, owner))",  # a group's members, idle ones too (state status)
     "CREATE TABLE retention_trims (what TEXT PRIMARY KEY, trimmed INTEGER NOT NULL, last_at REAL NOT NULL)",
     "CREATE INDEX lease_takeovers_at ON lease_takeovers (at)",
     "ALTER TABLE positions ADD COLUMN seen REAL",  # when a process last used the consumer (the store's clock)
     "ALTER TABLE positions ADD COLUMN dormant INTEGER NOT NULL DEFAULT 0"],  # 1: unused past the retention
]
CLAIM_BATCH = 10  # claim()'s default limit; `runbook serve`'s members pass consumer_group.BATCH (1)
READS = "(p.sources IS NULL OR instr(p.sources, ' ' || e.source || ' ') > 0)"  # consumer p reads event e
DONE = "EXISTS (SELECT 1 FROM claims k WHERE k.consumer = p.consumer AND k.seq = e.seq AND k.done)"  # by p's group
DEDUP_DAYS = 2  # an event every consumer took is kept this long (PagerDuty redelivers for 48 h), then deleted
TRIMS = {  # what retention deletes besides the events (`before`: the retention's cutoff, the store's clock)
    "dead letters": "DELETE FROM dead_letters WHERE at < :before",
    "lease takeovers": "DELETE FROM lease_takeovers WHERE at < :before",
    "expired leases": "DELETE FROM leases WHERE expires < :before",  # their holders died that long ago
    # what a poll killed half way staged, once its poller's lease is gone (a poller polling holds its lease)
    "staged rows of stopped polls": "DELETE FROM staged WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE "
                                    "l.consumer = 'poller:' || staged.source)",
    "members gone": "DELETE FROM group_members WHERE seen < :before",  # killed members, not seen since
    "claims of deleted events": "DELETE FROM claims WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = claims.seq)",
}


class LeaseLost(PluginError):
    """Another process owns this consumer now: this one must stop handing events over."""


class Inbox:
    """The inbox of a state directory (SQLite); given a PostgreSQL URL (--state, PAGERDUTY_STATE),
    Inbox(url) is that database's PostgresInbox (inbox_pg.py), with the same methods."""

    STORE = "inbox"

    def __new__(cls, directory=None, busy_timeout=30.0):
        if cls is Inbox and location.database_url(directory):
            from pagerduty_plugin.state.inbox_pg import PostgresInbox

            return super().__new__(PostgresInbox)
        return super().__new__(cls)

    def __init__(self, directory=None, busy_timeout=30.0):
        self.path = os.path.join(state_dir(directory), FILE_NAME)
        self.db = open_sqlite(self.path, busy_timeout)
        try:  # on any failure, what was opened is closed: a writer that retries must not leak descriptors
            self.lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self.db.close()
            raise PluginError(f"Cannot open the inbox's lock file {self.path}.lock: {exc.strerror}",
                              "Check that the state directory is writable and on a local disk.") from None
        try:
            self.migrated = migrate_sqlite(self.db, self.STORE, MIGRATIONS)
        except sqlite3.Error as exc:
            self.close()
            raise PluginError(f"Cannot prepare the inbox {self.path}: {exc}",
                              "Check that the state directory is writable and on a local disk.") from None

    def close(self):
        self.db.close()
        os.close(self.lock_fd)

    def add(self, source, key, event):
        """Store one event ({"event": {...}}); False when it was stored before."""
        return self.add_each(source, [(key, event)]) == [True]

    def add_each(self, source, keyed_events):
        """Store events [(key, event)] in one transaction (one fsync for all); for each, whether it was new."""
        now = time.time()
        new = []
        with Transaction(self.db, self.lock_fd):
            for key, event in keyed_events:
                before = self.db.total_changes
                self.db.execute("INSERT OR IGNORE INTO events (source, key, event_id, event_type, received_at, body) "
                                "VALUES (?, ?, ?, ?, ?, ?)", row(source, key, event, now))
                new.append(self.db.total_changes > before)
        return new

    def add_many(self, source, keyed_events, cursor=None, lease=None):
        """Store events [(key, event)] in one transaction, and the poller's cursor with them.
        Returns how many were new. lease: (name, owner), a poller's, checked in the same transaction
        (LeaseLost when another process holds it now: nothing is stored)."""
        now = time.time()
        rows = [row(source, key, event, now) for key, event in keyed_events]
        with Transaction(self.db, self.lock_fd):
            self.fence(lease)
            before = self.db.total_changes
            self.db.executemany("INSERT OR IGNORE INTO events (source, key, event_id, event_type, received_at, body) "
                                "VALUES (?, ?, ?, ?, ?, ?)", rows)
            added = self.db.total_changes - before
            if cursor is not None:
                self.db.execute("INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)", cursor)
        return added

    # --- a poll listed newest first: staged page by page, then stored oldest first -----------------

    def unstage_all(self, source, lease=None):
        """Forget what a poll killed half way had staged."""
        with Transaction(self.db, self.lock_fd):
            self.fence(lease)
            self.db.execute("DELETE FROM staged WHERE source = ?", (source,))

    def stage(self, source, sorted_keyed, lease=None):
        """One page of [(sort_key, key, event)], kept on disk until the poll ends (memory stays one page)."""
        rows = []
        for sort_key, key, event in sorted_keyed:
            _, key, event_id, event_type, _, body = row(source, key, event, 0)
            rows.append((source, sort_key, key, event_id, event_type, body))
        with Transaction(self.db, self.lock_fd):
            self.fence(lease)
            self.db.executemany("INSERT INTO staged (source, sort_key, key, event_id, event_type, body) "
                                "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def store_staged(self, source, cursor, lease=None):
        """The staged events into the inbox oldest first (within one sort key, in the reverse of the
        order staged: they were listed newest first), with the poller's cursor; how many were new."""
        with Transaction(self.db, self.lock_fd):
            self.fence(lease)
            before = self.db.total_changes
            self.db.execute("INSERT OR IGNORE INTO events (source, key, event_id, event_type, received_at, body) "
                            "SELECT source, key, event_id, event_type, ?, body FROM staged WHERE source = ? "
                            "ORDER BY sort_key, arrival DESC", (time.time(), source))
            added = self.db.total_changes - before
            self.db.execute("DELETE FROM staged WHERE source = ?", (source,))
            self.db.execute("INSERT OR REPLACE INTO cursors (name, value) VALUES (?, ?)", cursor)
        return added

    def cursor(self, name):
        row = self.db.execute("SELECT value FROM cursors WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def pending(self, consumer, sources, limit=500, after=0):
        """[(seq, event)] of the given sources that consumer has not taken yet (nor read past `after`),
        oldest first."""
        marks = ",".join("?" * len(sources))
        rows = self.db.execute(
            f"SELECT seq, body FROM events WHERE source IN ({marks}) AND seq > "
            "max(?, COALESCE((SELECT seq FROM positions WHERE consumer = ?), 0)) ORDER BY seq LIMIT ?",
            (*sources, after, consumer, limit)).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def taken(self, consumer, seq, owner=None):
        """consumer has handed over every event up to seq; with owner, only while owner holds its lease."""
        with Transaction(self.db, self.lock_fd):
            if owner is not None:
                self.check_lease(consumer, owner)
            self.db.execute(f"INSERT INTO positions (consumer, seq, seen) VALUES (?, ?, {SQLITE_NOW}) ON CONFLICT "
                            "(consumer) DO UPDATE SET seq = max(seq, excluded.seq), seen = excluded.seen, dormant = 0",
                            (consumer, seq))  # the consumer seen too (as seen() does), in the one statement

    def seen(self, consumer):
        """Within a write transaction: a process uses consumer now (retention sets a consumer nobody
        used for longer than it keeps events aside: set_aside_vanished); a dormant one is awake again."""
        self.db.execute(f"UPDATE positions SET seen = {SQLITE_NOW}, dormant = 0 WHERE consumer = ?", (consumer,))

    # --- consumers: leases and where a new one starts ----------------------------------------

    def acquire(self, consumer, owner, seconds, dead=None):
        """None once owner holds consumer's lease for `seconds` more; else the live holder's
        {"owner", "expires_in"} (seconds, by the store's clock). dead: a holder known to be gone."""
        with Transaction(self.db, self.lock_fd):
            held = self.db.execute(f"SELECT owner, expires - {SQLITE_NOW} FROM leases WHERE consumer = ?",
                                   (consumer,)).fetchone()
            if held and held[0] not in (owner, dead) and held[1] > 0:
                return {"owner": held[0], "expires_in": round(held[1], 1)}
            if held and held[0] != owner:
                self.db.execute(f"INSERT INTO lease_takeovers (consumer, from_owner, to_owner, at) VALUES "
                                f"(?, ?, ?, {SQLITE_NOW})", (consumer, held[0], owner))
            self.db.execute(f"INSERT INTO leases (consumer, owner, expires) VALUES (?, ?, {SQLITE_NOW} + ?) "
                            "ON CONFLICT (consumer) DO UPDATE SET owner = excluded.owner, expires = excluded.expires",
                            (consumer, owner, seconds))
        return None

    def renew(self, consumer, owner, seconds):
        """Extend owner's lease; LeaseLost when another process has taken it over."""
        with Transaction(self.db, self.lock_fd):
            self.check_lease(consumer, owner)
            self.db.execute(f"UPDATE leases SET expires = {SQLITE_NOW} + ? WHERE consumer = ?", (seconds, consumer))
            self.seen(consumer)

    def release(self, consumer, owner):
        with Transaction(self.db, self.lock_fd):
            self.db.execute("DELETE FROM leases WHERE consumer = ? AND owner = ?", (consumer, owner))

    def fence(self, lease):
        """Within a write transaction: LeaseLost unless lease (name, owner), if given, is still owner's."""
        if lease is not None:
            self.check_lease(*lease)

    def check_lease(self, consumer, owner):
        held = self.db.execute("SELECT owner FROM leases WHERE consumer = ?", (consumer,)).fetchone()
        if held is not None and held[0] != owner:  # an expired lease nobody took over is still ours
            raise LeaseLost(f"The consumer {consumer} is now owned by {held[0]}",
                            "This process stops handing events over; one process per consumer name.")
        if held is None:
            raise LeaseLost(f"The consumer {consumer} has no lease any more",
                            "This process stops handing events over; start it again.")

    def begin(self, consumer, replay=False, legacy=None, sources=None, shared=False):
        """(how, seq): "resumed" after the consumer's position; for a new consumer "adopted" (the
        position `legacy` had: the name this consumer had before consumers were named), "newest"
        (after the events already kept) or "replay" (from the oldest event kept). sources: what it
        reads, so that retention waits for it on those only. shared: a group, whose members claim."""
        with Transaction(self.db, self.lock_fd):
            if sources:
                self.db.execute("UPDATE positions SET sources = ? WHERE consumer = ?",
                                (sources_text(sources), consumer))
            if shared:
                self.db.execute("UPDATE positions SET shared = 1 WHERE consumer = ?", (consumer,))
            known = self.db.execute("SELECT seq FROM positions WHERE consumer = ?", (consumer,)).fetchone()
            if known is not None:
                self.seen(consumer)
                return "resumed", known[0]
            before = legacy and self.db.execute("SELECT seq FROM positions WHERE consumer = ?", (legacy,)).fetchone()
            if before:
                how, seq = "adopted", before[0]
            else:
                how = "replay" if replay else "newest"
                seq = 0 if replay else self.db.execute("SELECT COALESCE(max(seq), 0) FROM events").fetchone()[0]
            self.db.execute(f"INSERT INTO positions (consumer, seq, sources, shared, seen) VALUES (?, ?, ?, ?, "
                            f"{SQLITE_NOW})", (consumer, seq, sources_text(sources), int(shared)))
        return how, seq

    # --- consumer groups: members claim events, the position is the low watermark -----------------

    def claim(self, consumer, sources, owner, seconds, limit=CLAIM_BATCH):
        """([(seq, event)] now owner's for `seconds`, oldest first; {previous owner: events}) of the
        group's events nobody has done nor holds (a claim whose lease ended is taken again). On
        SQLite the write transaction stands for PostgreSQL's FOR UPDATE SKIP LOCKED."""
        marks = ",".join("?" * len(sources))
        with Transaction(self.db, self.lock_fd):
            rows = self.db.execute(
                f"SELECT e.seq, e.body, k.owner FROM events e LEFT JOIN claims k ON k.consumer = ? AND k.seq = e.seq "
                f"WHERE e.source IN ({marks}) AND e.seq > COALESCE((SELECT seq FROM positions WHERE consumer = ?), 0) "
                f"AND (k.seq IS NULL OR (NOT k.done AND (k.expires <= {SQLITE_NOW} OR k.owner = ?))) "
                "ORDER BY e.seq LIMIT ?", (consumer, *sources, consumer, owner, limit)).fetchall()
            self.db.executemany("INSERT INTO claims (consumer, seq, owner, expires) VALUES "
                                f"(?, ?, ?, {SQLITE_NOW} + ?) ON CONFLICT (consumer, seq) DO UPDATE SET "
                                "owner = excluded.owner, expires = excluded.expires",
                                [(consumer, seq, owner, seconds) for seq, _, _ in rows])
            taken = taken_from(rows, owner)
            for before in taken:
                self.db.execute(f"INSERT INTO lease_takeovers (consumer, from_owner, to_owner, at) VALUES "
                                f"(?, ?, ?, {SQLITE_NOW})", (consumer, before, owner))
        return [(seq, json.loads(body)) for seq, body, _ in rows], taken

    def done(self, consumer, seqs):
        """The group has done these events (whoever claimed them): its position moves to the low
        watermark, and the done claims at or below it are deleted."""
        with Transaction(self.db, self.lock_fd):
            self.db.executemany("UPDATE claims SET done = 1 WHERE consumer = ? AND seq = ?",
                                [(consumer, seq) for seq in seqs])
            mark = self.db.execute(
                "SELECT COALESCE((SELECT min(e.seq) FROM positions p JOIN events e ON e.seq > p.seq "
                f"AND {READS} WHERE p.consumer = :c AND NOT {DONE}) - 1, "
                "(SELECT max(seq) FROM claims WHERE consumer = :c AND done))",
                {"c": consumer}).fetchone()[0]
            if mark is not None:
                self.db.execute("UPDATE positions SET seq = max(seq, ?) WHERE consumer = ?", (mark, consumer))
                self.db.execute("DELETE FROM claims WHERE consumer = ? AND seq <= ?", (consumer, mark))

    def renew_claims(self, consumer, owner, seconds):
        """owner is alive: its claims not done yet last `seconds` more, and it is seen as a member
        (joining the group's members the first time)."""
        with Transaction(self.db, self.lock_fd):
            self.seen(consumer)
            self.db.execute(f"UPDATE claims SET expires = {SQLITE_NOW} + ? WHERE consumer = ? AND owner = ? "
                            "AND NOT done", (seconds, consumer, owner))
            self.db.execute(f"INSERT INTO group_members (consumer, owner, seen, lease) VALUES (?, ?, {SQLITE_NOW}, ?) "
                            "ON CONFLICT (consumer, owner) DO UPDATE SET seen = excluded.seen, lease = excluded.lease",
                            (consumer, owner, seconds))

    def leave(self, consumer, owner):
        """owner stops: no longer a member (its claims not done: release_claims)."""
        with Transaction(self.db, self.lock_fd):
            self.db.execute("DELETE FROM group_members WHERE consumer = ? AND owner = ?", (consumer, owner))

    def release_claims(self, consumer, owner):
        """owner stops: its claims not done are free for the other members at once."""
        with Transaction(self.db, self.lock_fd):
            self.db.execute("DELETE FROM claims WHERE consumer = ? AND owner = ? AND NOT done", (consumer, owner))

    # --- dead letters: events a destination refused for good ----------------------------------

    def dead_letter(self, consumer, seq, event_id, reason, owner=None):
        """Keep the refused event aside, with why (the consumer then moves past it as past any other)."""
        with Transaction(self.db, self.lock_fd):
            if owner is not None:
                self.check_lease(consumer, owner)
            self.db.execute("INSERT INTO dead_letters (consumer, seq, event_id, reason, at) VALUES (?, ?, ?, ?, ?) "
                            "ON CONFLICT (consumer, seq) DO UPDATE SET reason = excluded.reason, at = excluded.at, "
                            "retry = 0", (consumer, seq, event_id, reason[:1000], time.time()))

    def dead_letters(self, consumer=None, limit=100):
        where, args = ("WHERE d.consumer = ?", (consumer,)) if consumer else ("", ())
        rows = self.db.execute(
            "SELECT d.consumer, d.seq, d.event_id, d.reason, d.at, d.retry, e.event_type FROM dead_letters d "
            f"LEFT JOIN events e ON e.seq = d.seq {where} ORDER BY d.seq LIMIT ?", (*args, limit)).fetchall()
        keys = ("consumer", "seq", "event_id", "reason", "at", "retry", "event_type")
        return [{**dict(zip(keys, found)), "retry": bool(found[5]), "at": iso_time(found[4])} for found in rows]

    def retry_dead_letters(self, consumer=None):
        """Mark a consumer's dead letters (all consumers' without one) to be handed over again; how many."""
        with Transaction(self.db, self.lock_fd):
            before = self.db.total_changes
            if consumer:
                self.db.execute("UPDATE dead_letters SET retry = 1 WHERE consumer = ?", (consumer,))
            else:
                self.db.execute("UPDATE dead_letters SET retry = 1")
            return self.db.total_changes - before

    def purge_dead_letters(self, consumer=None):
        with Transaction(self.db, self.lock_fd):
            before = self.db.total_changes
            if consumer:
                self.db.execute("DELETE FROM dead_letters WHERE consumer = ?", (consumer,))
            else:
                self.db.execute("DELETE FROM dead_letters")
            return self.db.total_changes - before

    def to_retry(self, consumer):
        """[(seq, event)] of the consumer's dead letters the operator asked to retry (still kept)."""
        rows = self.db.execute("SELECT d.seq, e.body FROM dead_letters d JOIN events e ON e.seq = d.seq "
                               "WHERE d.consumer = ? AND d.retry = 1 ORDER BY d.seq", (consumer,)).fetchall()
        return [(seq, json.loads(body)) for seq, body in rows]

    def delivered_again(self, consumer, seq):
        with Transaction(self.db, self.lock_fd):
            self.db.execute("DELETE FROM dead_letters WHERE consumer = ? AND seq = ?", (consumer, seq))

    def count(self, source=None):
        if source is None:
            return self.db.execute("SELECT count(*) FROM events").fetchone()[0]
        return self.db.execute("SELECT count(*) FROM events WHERE source = ?", (source,)).fetchone()[0]

    def purge(self, days=RETENTION_DAYS):
        """Retention: an event every known consumer has taken goes once past DEDUP_DAYS (its
        redeliveries are still recognised until then); past `days` an event goes whoever took it,
        and what each consumer had not taken is counted (state status). The bookkeeping past `days`
        goes too (TRIMS), counted in retention_trims. {consumer: dropped untaken}."""
        now = time.time()
        with Transaction(self.db, self.lock_fd):
            dropped = dict(self.db.execute(
                f"SELECT p.consumer, count(e.seq) FROM positions p JOIN events e ON e.seq > p.seq AND {READS} "
                f"WHERE e.received_at < ? AND NOT p.dormant AND NOT {DONE} GROUP BY p.consumer",
                (now - days * 86400,)).fetchall())
            for consumer, count in dropped.items():
                self.db.execute("INSERT INTO retention_drops (consumer, dropped, last_at) VALUES (?, ?, ?) "
                                "ON CONFLICT (consumer) DO UPDATE SET dropped = dropped + excluded.dropped, "
                                "last_at = excluded.last_at", (consumer, count, now))
            self.db.execute("DELETE FROM events WHERE received_at < ?", (now - days * 86400,))
            self.db.execute("DELETE FROM events WHERE received_at < ? AND EXISTS (SELECT 1 FROM positions) AND NOT "
                            "EXISTS (SELECT 1 FROM positions p WHERE p.seq < events.seq AND NOT p.dormant AND "
                            f"{READS.replace('e.source', 'events.source')})",
                            (now - min(days, DEDUP_DAYS) * 86400,))
            for what, statement in TRIMS.items():
                trimmed = self.db.execute(statement, {"before": now - days * 86400}).rowcount
                if trimmed > 0:
                    self.db.execute("INSERT INTO retention_trims (what, trimmed, last_at) VALUES (?, ?, ?) "
                                    "ON CONFLICT (what) DO UPDATE SET trimmed = trimmed + excluded.trimmed, "
                                    "last_at = excluded.last_at", (what, trimmed, now))
        return {consumer: count for consumer, count in dropped.items() if count}

    def set_aside_vanished(self, days=RETENTION_DAYS, in_use=None):
        """The consumers no process used for over `days` (a consumer renamed, a host retired), set
        aside as dormant: retention no longer keeps the events they have not taken past DEDUP_DAYS,
        nor warns of them at every purge. One that comes back resumes from its position (what was
        deleted meanwhile is lost to it). [(consumer, days since it was used)], newly dormant,
        counted in retention_trims. in_use: the consumer this process is starting (not set aside)."""
        with Transaction(self.db, self.lock_fd):
            self.db.execute(f"UPDATE positions SET seen = {SQLITE_NOW} WHERE seen IS NULL")  # made before `seen`
            gone = self.db.execute(f"SELECT consumer, ({SQLITE_NOW} - seen) / 86400 FROM positions WHERE NOT dormant "
                                   f"AND seen < {SQLITE_NOW} - ? AND consumer IS NOT ? ORDER BY consumer",
                                   (days * 86400, in_use)).fetchall()
            self.db.executemany("UPDATE positions SET dormant = 1 WHERE consumer = ?", [(name,) for name, _ in gone])
            if gone:
                self.db.execute("INSERT INTO retention_trims (what, trimmed, last_at) VALUES ('consumers set aside', "
                                "?, ?) ON CONFLICT (what) DO UPDATE SET trimmed = trimmed + excluded.trimmed, "
                                "last_at = excluded.last_at", (len(gone), time.time()))
        return gone

    def status(self):
        """What `state status` shows of the inbox."""
        db = self.db
        consumers = [{"consumer": consumer, "position": seq, "backlog": backlog}
                     for consumer, seq, backlog in db.execute(
                         "SELECT p.consumer, p.seq, (SELECT count(*) FROM events e WHERE e.seq > p.seq "
                         f"AND {READS} AND NOT {DONE}) FROM positions p ORDER BY p.consumer")]
        live = db.execute(f"SELECT consumer, owner, expires - {SQLITE_NOW} FROM leases WHERE expires > {SQLITE_NOW} "
                          "ORDER BY consumer").fetchall()
        takeovers = (db.execute("SELECT count(*) FROM lease_takeovers").fetchone()[0],
                     db.execute("SELECT consumer, from_owner, to_owner, at FROM lease_takeovers "
                                "ORDER BY at DESC LIMIT 10").fetchall())
        groups = db.execute(
            f"SELECT p.consumer, (SELECT count(*) FROM claims k WHERE k.consumer = p.consumer AND NOT k.done AND "
            f"k.expires > {SQLITE_NOW}), (SELECT count(*) FROM claims k WHERE k.consumer = p.consumer AND k.done), "
            f"(SELECT count(*) FROM events e WHERE e.seq > p.seq AND {READS} AND NOT {DONE}) FROM positions p "
            "WHERE p.shared "
            "ORDER BY p.consumer").fetchall()
        members = db.execute(MEMBERS).fetchall()
        return status_of(sqlite_version(db, self.STORE), len(MIGRATIONS), db.execute(
            "SELECT count(*) FROM events").fetchone()[0], consumers, live, takeovers,
            db.execute("SELECT consumer, dropped, last_at FROM retention_drops ORDER BY consumer").fetchall(),
            db.execute("SELECT count(*) FROM dead_letters").fetchone()[0], groups_of(groups, members),
            db.execute("SELECT what, trimmed, last_at FROM retention_trims ORDER BY what").fetchall(),
            [name for name, in db.execute("SELECT consumer FROM positions WHERE dormant ORDER BY consumer")])


# every member of every group: (consumer, owner, last seen, seconds since, its lease, claims not done); an
# owner of live claims that never said it was a member (a process of an earlier version) is listed too
MEMBERS = (f"SELECT m.consumer, m.owner, m.seen, {SQLITE_NOW} - m.seen, m.lease, (SELECT count(*) FROM claims k "
           "WHERE k.consumer = m.consumer AND k.owner = m.owner AND NOT k.done) FROM group_members m UNION ALL "
           "SELECT k.consumer, k.owner, NULL, NULL, NULL, count(*) FROM claims k WHERE NOT k.done AND "
           f"k.expires > {SQLITE_NOW} AND NOT EXISTS (SELECT 1 FROM group_members m WHERE m.consumer = k.consumer AND "
           "m.owner = k.owner) GROUP BY k.consumer, k.owner ORDER BY 1, 2")


def sources_text(sources):
    return f" {' '.join(sorted(sources))} " if sources else None


def taken_from(rows, owner):
    """{previous owner: how many of the claimed rows (seq, body, owner) were its} (its lease had ended)."""
    taken = {}
    for _, _, before in rows:
        if before is not None and before != owner:
            taken[before] = taken.get(before, 0) + 1
    return taken


def groups_of(groups, members):
    """Per consumer group: its members (member_of), claimed, done, backlog (not done)."""
    return [{"consumer": consumer, "members": [member_of(*found) for group, *found in members if group == consumer],
             "claimed": claimed, "done": done, "backlog": backlog} for consumer, claimed, done, backlog in groups]


def member_of(owner, seen, ago, lease, claims):
    """A member as `state status` shows it: gone once not seen for longer than its lease (its
    process was killed, or is stalled: its claims go to the others)."""
    return {"owner": owner, "host": owner.partition(":")[0], "last_seen": None if seen is None else iso_time(seen),
            "seen_ago": None if ago is None else round(max(ago, 0.0), 1), "claims": claims,
            "state": "gone" if ago is not None and ago > lease else "live"}


def status_of(version, latest, events, consumers, live, takeovers, drops, dead_letters, groups, trims, dormant):
    """takeovers: (how many are kept, the latest ten); dormant: the consumers set aside."""
    kept, latest_takeovers = takeovers
    return {"schema_version": version, "schema_latest": latest, "events": events, "consumers": consumers,
            "groups": groups,
            "leases": [{"consumer": consumer, "owner": owner, "expires_in": round(left, 1)}
                       for consumer, owner, left in live],
            "lease_takeovers": {"count": kept, "latest": [
                {"consumer": consumer, "from": before, "to": after, "at": iso_time(at)}
                for consumer, before, after, at in latest_takeovers]},
            "dropped_untaken": {consumer: {"events": count, "last": iso_time(at)} for consumer, count, at in drops},
            "dead_letters": dead_letters,
            "trimmed": {what: {"rows": count, "last": iso_time(at)} for what, count, at in trims},
            "dormant_consumers": dormant}


def iso_time(epoch):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def row(source, key, event, now):
    inner = event["event"]
    return source, str(key), inner["id"], inner["event_type"], now, json.dumps(event, separators=(",", ":"))


class Transaction:
    """flock, BEGIN IMMEDIATE ... COMMIT (the connection is in autocommit mode), ROLLBACK on error."""

    def __init__(self, db, lock_fd):
        self.db, self.lock_fd = db, lock_fd

    def __enter__(self):
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            raise

    def __exit__(self, kind, value, traceback):
        try:
            if kind is None:
                try:
                    self.db.execute("COMMIT")
                except BaseException:  # a full disk fails the COMMIT: the write lock must not stay held
                    self.rollback()
                    raise
            else:
                self.rollback()
        finally:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def rollback(self):
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:  # no transaction left to roll back (SQLite ended it itself)
            pass
