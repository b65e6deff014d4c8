"""The inbox in PostgreSQL, for a fleet: every host's webhooks, pollers and consumers share it
(`--state postgresql://…`). What it does is inbox.py's; how is PostgreSQL's (its own named SQL).

Every write takes one advisory transaction lock first, as SQLite's inbox takes its write lock: an
event's seq is drawn and committed in the same order, so a consumer reading `seq > position` never
moves past an event another host has drawn a smaller seq for but not yet committed. Leases and
their expiry are the server's clock.
"""

import json

from pagerduty_plugin.state import pg
from pagerduty_plugin.state.inbox import (CLAIM_BATCH, DEDUP_DAYS, MIGRATIONS, RETENTION_DAYS, TRIMS, Inbox,
                                          LeaseLost, groups_of, row, sources_text, status_of, taken_from)

WRITE_LOCK = 727276
SCHEMA = [
    """CREATE TABLE IF NOT EXISTS inbox_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL,
        event_id TEXT NOT NULL, event_type TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL,
        UNIQUE (source, key), UNIQUE (source, event_id))""",
    "CREATE TABLE IF NOT EXISTS inbox_positions (consumer TEXT PRIMARY KEY, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS inbox_cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS inbox_staged (
        source TEXT NOT NULL, sort_key TEXT NOT NULL, arrival BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key TEXT NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS inbox_leases (consumer TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "expires DOUBLE PRECISION NOT NULL)",
    """CREATE TABLE IF NOT EXISTS inbox_dead_letters (
        consumer TEXT NOT NULL, seq BIGINT NOT NULL, event_id TEXT NOT NULL, reason TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL, retry BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (consumer, seq))""",
]
PG_MIGRATIONS = [
    SCHEMA,
    ["CREATE TABLE inbox_retention_drops (consumer TEXT PRIMARY KEY, dropped BIGINT NOT NULL, "
     "last_at DOUBLE PRECISION NOT NULL)",
     "CREATE TABLE inbox_lease_takeovers (consumer TEXT NOT NULL, from_owner TEXT NOT NULL, to_owner TEXT NOT NULL, "
     "at DOUBLE PRECISION NOT NULL)",
     "CREATE INDEX inbox_events_received ON inbox_events (received_at)",
     "ALTER TABLE inbox_positions ADD COLUMN sources TEXT"],
    ["CREATE TABLE inbox_claims (consumer TEXT NOT NULL, seq BIGINT NOT NULL, owner TEXT NOT NULL, "
     "expires DOUBLE PRECISION NOT NULL, done BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (consumer, seq))",
     "ALTER TABLE inbox_positions ADD COLUMN shared BOOLEAN NOT NULL DEFAULT false"],
    ["CREATE TABLE inbox_group_members (consumer TEXT NOT NULL, owner TEXT NOT NULL, seen DOUBLE PRECISION NOT NULL, "
     "lease DOUBLE PRECISION NOT NULL, PRIMARY KEY (consumer, owner))",
     "CREATE TABLE inbox_retention_trims (what TEXT PRIMARY KEY, trimmed BIGINT NOT NULL, "
     "last_at DOUBLE PRECISION NOT NULL)",
     "CREATE INDEX inbox_lease_takeovers_at ON inbox_lease_takeovers (at)",
     "ALTER TABLE inbox_positions ADD COLUMN seen DOUBLE PRECISION",
     "ALTER TABLE inbox_positions ADD COLUMN dormant BOOLEAN NOT NULL DEFAULT false"],
]
READS = "(p.sources IS NULL OR strpos(p.sources, ' ' || e.source || ' ') > 0)"  # consumer p reads event e
DONE = "EXISTS (SELECT 1 FROM inbox_claims k WHERE k.consumer = p.consumer AND k.seq = e.seq AND k.done)"
assert len(PG_MIGRATIONS) == len(MIGRATIONS)  # one version number for both forms of the store
CLAIM_WINDOW = 1000  # the oldest claimable events a member looks at for the `limit` it can lock
CLAIM_LOOKS = 3  # claimable rows all won by others meanwhile: looked at again, up to this many times

NEW_EVENT = ("INSERT INTO inbox_events (source, key, event_id, event_type, received_at, body) "
             "VALUES (%(source)s, %(key)s, %(event_id)s, %(event_type)s, %(now)s, %(body)s) "
             "ON CONFLICT DO NOTHING RETURNING seq")
SQL = {
    # the clock read once the lock is held: a lease or an expiry written after waiting for it has its full length
    "lock": f"SELECT pg_advisory_xact_lock({WRITE_LOCK}), extract(epoch FROM clock_timestamp())::double precision",
    "add": NEW_EVENT,
    "put_cursor": "INSERT INTO inbox_cursors (name, value) VALUES (%(name)s, %(value)s) "
                  "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
    "cursor": "SELECT value FROM inbox_cursors WHERE name = %(name)s",
    "unstage": "DELETE FROM inbox_staged WHERE source = %(source)s",
    "stage": "INSERT INTO inbox_staged (source, sort_key, key, event_id, event_type, body) "
             "VALUES (%(source)s, %(sort_key)s, %(key)s, %(event_id)s, %(event_type)s, %(body)s)",
    "store_staged": "INSERT INTO inbox_events (source, key, event_id, event_type, received_at, body) "
                    "SELECT source, key, event_id, event_type, %(now)s, body FROM inbox_staged "
                    "WHERE source = %(source)s ORDER BY sort_key, arrival DESC ON CONFLICT DO NOTHING RETURNING seq",
    "pending": "SELECT seq, body FROM inbox_events WHERE source = ANY(%(sources)s) AND seq > GREATEST(%(after)s, "
               "COALESCE((SELECT seq FROM inbox_positions WHERE consumer = %(consumer)s), 0)) "
               "ORDER BY seq LIMIT %(limit)s",
    # a group's member: the events nobody has done nor holds, oldest first, each taken under an advisory
    # lock of (its group, its seq) until the claims are committed: the group's other members skip those
    # (SKIP LOCKED's part), another group is not held back (a row lock on the shared event would make it
    # skip them for a round). The lock is tried lazily, row by row, until `limit` are held (at most
    # `window` rows looked at); the upsert's WHERE is the guard (a claim committed meanwhile is kept).
    "claimable": "SELECT seq, body, owner FROM (SELECT e.seq, e.body, k.owner FROM inbox_events e LEFT JOIN "
                 "inbox_claims k ON k.consumer = %(consumer)s AND k.seq = e.seq WHERE e.source = ANY(%(sources)s) "
                 "AND e.seq > COALESCE((SELECT seq FROM inbox_positions WHERE consumer = %(consumer)s), 0) AND "
                 "(k.seq IS NULL OR (NOT k.done AND (k.expires <= %(now)s OR k.owner = %(owner)s))) ORDER BY e.seq "
                 "LIMIT %(window)s) free WHERE pg_try_advisory_xact_lock(hashtext(%(consumer)s), "
                 "(seq %% 2147483647)::int) LIMIT %(limit)s",
    "claim": "INSERT INTO inbox_claims (consumer, seq, owner, expires) SELECT %(consumer)s, seq, %(owner)s, "
             "%(now)s + %(seconds)s FROM unnest(%(seqs)s::bigint[]) AS seq ON CONFLICT (consumer, seq) DO UPDATE "
             "SET owner = EXCLUDED.owner, expires = EXCLUDED.expires WHERE NOT inbox_claims.done AND "
             "(inbox_claims.expires <= %(now)s OR inbox_claims.owner = %(owner)s) RETURNING seq",
    "group_lock": "SELECT seq FROM inbox_positions WHERE consumer = %(consumer)s FOR UPDATE",  # one mover at a time
    # a claim reads the position under a share lock: a done() moving it (and deleting the claims below it)
    # commits before the claim's statements read anything, or after its claims are written, never between
    "group_share": "SELECT seq FROM inbox_positions WHERE consumer = %(consumer)s FOR SHARE",
    "claims_done": "UPDATE inbox_claims SET done = true WHERE consumer = %(consumer)s AND seq = ANY(%(seqs)s)",
    "watermark": "SELECT COALESCE((SELECT min(e.seq) FROM inbox_positions p JOIN inbox_events e ON e.seq > p.seq "
                 f"AND {READS} WHERE p.consumer = %(consumer)s AND NOT {DONE}) - 1, (SELECT max(seq) FROM "
                 "inbox_claims WHERE consumer = %(consumer)s AND done))",
    "claims_below": "DELETE FROM inbox_claims WHERE consumer = %(consumer)s AND seq <= %(seq)s",
    "claims_renew": "UPDATE inbox_claims SET expires = %(now)s + %(seconds)s WHERE consumer = %(consumer)s "
                    "AND owner = %(owner)s AND NOT done",
    "claims_release": "DELETE FROM inbox_claims WHERE consumer = %(consumer)s AND owner = %(owner)s AND NOT done",
    "member_seen": "INSERT INTO inbox_group_members (consumer, owner, seen, lease) VALUES (%(consumer)s, %(owner)s, "
                   "%(now)s, %(seconds)s) ON CONFLICT (consumer, owner) DO UPDATE SET seen = EXCLUDED.seen, "
                   "lease = EXCLUDED.lease",
    "member_leaves": "DELETE FROM inbox_group_members WHERE consumer = %(consumer)s AND owner = %(owner)s",
    "set_shared": "UPDATE inbox_positions SET shared = true WHERE consumer = %(consumer)s",
    "seen": "UPDATE inbox_positions SET seen = %(now)s, dormant = false WHERE consumer = %(consumer)s",
    "seen_since_upgrade": "UPDATE inbox_positions SET seen = %(now)s WHERE seen IS NULL",
    "vanished": "UPDATE inbox_positions SET dormant = true WHERE NOT dormant AND seen < %(now)s - %(seconds)s "
                "AND consumer IS DISTINCT FROM %(in_use)s RETURNING consumer, (%(now)s - seen) / 86400",
    "count_set_aside": "INSERT INTO inbox_retention_trims (what, trimmed, last_at) VALUES ('consumers set aside', "
                       "%(count)s, %(now)s) ON CONFLICT (what) DO UPDATE SET "
                       "trimmed = inbox_retention_trims.trimmed + EXCLUDED.trimmed, last_at = EXCLUDED.last_at",
    "status_groups": "SELECT p.consumer, (SELECT count(*) FROM inbox_claims k WHERE k.consumer = p.consumer AND NOT "
                     "k.done AND k.expires > %(now)s), (SELECT count(*) FROM inbox_claims k WHERE "
                     "k.consumer = p.consumer AND k.done), (SELECT count(*) FROM inbox_events e WHERE e.seq > p.seq "
                     f"AND {READS} AND NOT {DONE}) FROM inbox_positions p WHERE p.shared ORDER BY p.consumer",
    "status_members": "SELECT m.consumer, m.owner, m.seen, %(now)s - m.seen, m.lease, (SELECT count(*) FROM "
                      "inbox_claims k WHERE k.consumer = m.consumer AND k.owner = m.owner AND NOT k.done) FROM "
                      "inbox_group_members m UNION ALL SELECT k.consumer, k.owner, NULL, NULL, NULL, count(*) FROM "
                      "inbox_claims k WHERE NOT k.done AND k.expires > %(now)s AND NOT EXISTS (SELECT 1 FROM "
                      "inbox_group_members m WHERE m.consumer = k.consumer AND m.owner = k.owner) "
                      "GROUP BY k.consumer, k.owner ORDER BY 1, 2",  # inbox.MEMBERS
    "set_sources": "UPDATE inbox_positions SET sources = %(sources)s WHERE consumer = %(consumer)s",
    "begin": "INSERT INTO inbox_positions (consumer, seq, sources, shared, seen) VALUES (%(consumer)s, %(seq)s, "
             "%(sources)s, %(shared)s, %(now)s)",
    # the consumer seen too (as "seen" below), in the one statement
    "taken": "INSERT INTO inbox_positions (consumer, seq, seen) VALUES (%(consumer)s, %(seq)s, %(now)s) ON CONFLICT "
             "(consumer) DO UPDATE SET seq = GREATEST(inbox_positions.seq, EXCLUDED.seq), seen = EXCLUDED.seen, "
             "dormant = false",
    "position": "SELECT seq FROM inbox_positions WHERE consumer = %(consumer)s",
    "newest": "SELECT COALESCE(max(seq), 0) FROM inbox_events",
    "lease_get": "SELECT owner, expires - %(now)s FROM inbox_leases WHERE consumer = %(consumer)s",
    "lease_put": "INSERT INTO inbox_leases (consumer, owner, expires) VALUES (%(consumer)s, %(owner)s, "
                 "%(now)s + %(seconds)s) ON CONFLICT (consumer) DO UPDATE SET owner = EXCLUDED.owner, "
                 "expires = EXCLUDED.expires",
    "lease_renew": "UPDATE inbox_leases SET expires = %(now)s + %(seconds)s WHERE consumer = %(consumer)s",
    "lease_release": "DELETE FROM inbox_leases WHERE consumer = %(consumer)s AND owner = %(owner)s",
    "takeover": "INSERT INTO inbox_lease_takeovers (consumer, from_owner, to_owner, at) "
                "VALUES (%(consumer)s, %(before)s, %(owner)s, %(now)s)",
    "dead_letter": "INSERT INTO inbox_dead_letters (consumer, seq, event_id, reason, at) VALUES (%(consumer)s, "
                   "%(seq)s, %(event_id)s, %(reason)s, %(now)s) ON CONFLICT (consumer, seq) DO UPDATE SET "
                   "reason = EXCLUDED.reason, at = EXCLUDED.at, retry = false",
    "dead_letters": "SELECT d.consumer, d.seq, d.event_id, d.reason, d.at, d.retry, e.event_type "
                    "FROM inbox_dead_letters d LEFT JOIN inbox_events e ON e.seq = d.seq "
                    "WHERE %(consumer)s::text IS NULL OR d.consumer = %(consumer)s ORDER BY d.seq LIMIT %(limit)s",
    "retry_dead": "UPDATE inbox_dead_letters SET retry = true "
                  "WHERE %(consumer)s::text IS NULL OR consumer = %(consumer)s RETURNING seq",
    "purge_dead": "DELETE FROM inbox_dead_letters WHERE %(consumer)s::text IS NULL OR consumer = %(consumer)s "
                  "RETURNING seq",
    "to_retry": "SELECT d.seq, e.body FROM inbox_dead_letters d JOIN inbox_events e ON e.seq = d.seq "
                "WHERE d.consumer = %(consumer)s AND d.retry ORDER BY d.seq",
    "delivered_again": "DELETE FROM inbox_dead_letters WHERE consumer = %(consumer)s AND seq = %(seq)s",
    "count": "SELECT count(*) FROM inbox_events WHERE %(source)s::text IS NULL OR source = %(source)s",
    "untaken": f"SELECT p.consumer, count(e.seq) FROM inbox_positions p JOIN inbox_events e ON e.seq > p.seq "
               f"AND {READS} WHERE e.received_at < %(before)s AND NOT p.dormant AND NOT {DONE} GROUP BY p.consumer",
    "count_drop": "INSERT INTO inbox_retention_drops (consumer, dropped, last_at) VALUES (%(consumer)s, "
                  "%(count)s, %(now)s) ON CONFLICT (consumer) DO UPDATE SET "
                  "dropped = inbox_retention_drops.dropped + EXCLUDED.dropped, last_at = EXCLUDED.last_at",
    "drop_old": "DELETE FROM inbox_events WHERE received_at < %(before)s",
    "drop_taken": "DELETE FROM inbox_events e WHERE received_at < %(before)s AND EXISTS (SELECT 1 FROM "
                  f"inbox_positions) AND NOT EXISTS (SELECT 1 FROM inbox_positions p WHERE p.seq < e.seq AND NOT "
                  f"p.dormant AND {READS})",
    # retention's trims (inbox.TRIMS), each answering how many rows it deleted
    "trim_dead letters": "WITH gone AS (DELETE FROM inbox_dead_letters WHERE at < %(before)s RETURNING 1) "
                         "SELECT count(*) FROM gone",
    "trim_lease takeovers": "WITH gone AS (DELETE FROM inbox_lease_takeovers WHERE at < %(before)s RETURNING 1) "
                            "SELECT count(*) FROM gone",
    "trim_expired leases": "WITH gone AS (DELETE FROM inbox_leases WHERE expires < %(before)s RETURNING 1) "
                           "SELECT count(*) FROM gone",
    "trim_staged rows of stopped polls": "WITH gone AS (DELETE FROM inbox_staged s WHERE NOT EXISTS (SELECT 1 FROM "
                                         "inbox_leases l WHERE l.consumer = 'poller:' || s.source) RETURNING 1) "
                                         "SELECT count(*) FROM gone",
    "trim_members gone": "WITH gone AS (DELETE FROM inbox_group_members WHERE seen < %(before)s RETURNING 1) "
                         "SELECT count(*) FROM gone",
    "trim_claims of deleted events": "WITH gone AS (DELETE FROM inbox_claims k WHERE NOT EXISTS (SELECT 1 FROM "
                                     "inbox_events e WHERE e.seq = k.seq) RETURNING 1) SELECT count(*) FROM gone",
    "count_trim": "INSERT INTO inbox_retention_trims (what, trimmed, last_at) VALUES (%(what)s, %(count)s, %(now)s) "
                  "ON CONFLICT (what) DO UPDATE SET trimmed = inbox_retention_trims.trimmed + EXCLUDED.trimmed, "
                  "last_at = EXCLUDED.last_at",
    "status_consumers": "SELECT p.consumer, p.seq, (SELECT count(*) FROM inbox_events e WHERE e.seq > p.seq "
                        f"AND {READS} AND NOT {DONE}) FROM inbox_positions p ORDER BY p.consumer",
    "status_leases": "SELECT consumer, owner, expires - %(now)s FROM inbox_leases WHERE expires > %(now)s "
                     "ORDER BY consumer",
    "status_takeovers": "SELECT consumer, from_owner, to_owner, at FROM inbox_lease_takeovers ORDER BY at DESC "
                        "LIMIT 10",
    "count_takeovers": "SELECT count(*) FROM inbox_lease_takeovers",
    "status_trims": "SELECT what, trimmed, last_at FROM inbox_retention_trims ORDER BY what",
    "status_dormant": "SELECT consumer FROM inbox_positions WHERE dormant ORDER BY consumer",
    "status_drops": "SELECT consumer, dropped, last_at FROM inbox_retention_drops ORDER BY consumer",
    "status_dead": "SELECT count(*) FROM inbox_dead_letters",
}


class PostgresInbox(Inbox):
    STORE = "inbox"
    SQL = SQL

    def __init__(self, url=None, busy_timeout=30.0):
        self.database = pg.Database(pg_url(url), "inbox")
        self.path = self.database.url  # what messages name (the password masked)
        try:
            self.migrated = self.database.migrate(self.STORE, PG_MIGRATIONS)
        except BaseException:
            self.database.close()
            raise

    def transaction(self, write=True):
        return Writing(self.database.transaction(SQL)) if write else self.database.transaction(SQL)

    def close(self):
        self.database.close()

    # --- storing events ------------------------------------------------------------------------

    def add_each(self, source, keyed_events):
        with self.transaction() as run:
            return [bool(run("add", event_params(source, key, event, run.now))) for key, event in keyed_events]

    def add_many(self, source, keyed_events, cursor=None, lease=None):
        with self.transaction() as run:
            fence(run, lease)
            added = sum(bool(run("add", event_params(source, key, event, run.now))) for key, event in keyed_events)
            if cursor is not None:
                run("put_cursor", {"name": cursor[0], "value": cursor[1]})
        return added

    def unstage_all(self, source, lease=None):
        with self.transaction() as run:
            fence(run, lease)
            run("unstage", {"source": source})

    def stage(self, source, sorted_keyed, lease=None):
        with self.transaction() as run:
            fence(run, lease)
            for sort_key, key, event in sorted_keyed:
                params = event_params(source, key, event, 0)
                run("stage", {**params, "sort_key": sort_key})

    def store_staged(self, source, cursor, lease=None):
        with self.transaction() as run:
            fence(run, lease)
            added = len(run("store_staged", {"source": source, "now": run.now}))
            run("unstage", {"source": source})
            run("put_cursor", {"name": cursor[0], "value": cursor[1]})
        return added

    def cursor(self, name):
        with self.transaction(write=False) as run:
            found = run("cursor", {"name": name})
        return found[0][0] if found else None

    # --- consumers -------------------------------------------------------------------------------

    def pending(self, consumer, sources, limit=500, after=0):
        with self.transaction(write=False) as run:
            rows = run("pending", {"sources": list(sources), "after": after, "consumer": consumer, "limit": limit})
        return [(seq, json.loads(body)) for seq, body in rows]

    def taken(self, consumer, seq, owner=None):
        with self.transaction() as run:
            if owner is not None:
                held_by(run, consumer, owner)
            run("taken", {"consumer": consumer, "seq": seq, "now": run.now})

    def acquire(self, consumer, owner, seconds, dead=None):
        with self.transaction() as run:
            held = run("lease_get", {"consumer": consumer, "now": run.now})
            if held and held[0][0] not in (owner, dead) and held[0][1] > 0:
                return {"owner": held[0][0], "expires_in": round(held[0][1], 1)}
            if held and held[0][0] != owner:
                run("takeover", {"consumer": consumer, "before": held[0][0], "owner": owner, "now": run.now})
            run("lease_put", {"consumer": consumer, "owner": owner, "seconds": seconds, "now": run.now})
        return None

    def renew(self, consumer, owner, seconds):
        with self.transaction() as run:
            held_by(run, consumer, owner)
            run("lease_renew", {"consumer": consumer, "seconds": seconds, "now": run.now})
            run("seen", {"consumer": consumer, "now": run.now})

    def release(self, consumer, owner):
        with self.transaction() as run:
            run("lease_release", {"consumer": consumer, "owner": owner})

    def begin(self, consumer, replay=False, legacy=None, sources=None, shared=False):
        with self.transaction() as run:
            if sources:
                run("set_sources", {"consumer": consumer, "sources": sources_text(sources)})
            if shared:
                run("set_shared", {"consumer": consumer})
            known = run("position", {"consumer": consumer})
            if known:
                run("seen", {"consumer": consumer, "now": run.now})
                return "resumed", known[0][0]
            before = legacy and run("position", {"consumer": legacy})
            if before:
                how, seq = "adopted", before[0][0]
            else:
                how = "replay" if replay else "newest"
                seq = 0 if replay else run("newest", {})[0][0]
            run("begin", {"consumer": consumer, "seq": seq, "sources": sources_text(sources), "shared": shared,
                          "now": run.now})
        return how, seq

    # --- consumer groups (no write lock: members claim side by side, skipping each other's claims) ----

    def claim(self, consumer, sources, owner, seconds, limit=CLAIM_BATCH):
        with self.transaction(write=False) as run:
            params = {"consumer": consumer, "owner": owner, "now": run.now}
            run("group_share", {"consumer": consumer})
            rows = self.claim_free(run, {**params, "sources": list(sources), "limit": limit, "seconds": seconds})
            taken = taken_from(rows, owner)
            for before in taken:
                run("takeover", {"consumer": consumer, "before": before, "owner": owner, "now": run.now})
        return [(seq, json.loads(body)) for seq, body, _ in rows], taken

    @staticmethod
    def claim_free(run, params):
        """The claimable rows this member won. `claimable` reads a snapshot taken as it starts: a claim
        another member commits just after is not in it, yet that member's advisory lock is already
        released, so the rows look free and the insert then wins none of them. Looked at again (a new
        snapshot) rather than answering "nothing left", which idles the member for a round."""
        for _ in range(CLAIM_LOOKS):
            found = sorted(run("claimable", {**params, "window": CLAIM_WINDOW}))
            won = {seq for seq, in run("claim", {**params, "seqs": [seq for seq, _, _ in found]})}
            rows = [row for row in found if row[0] in won]
            if rows or not found:
                return rows
        return []

    def done(self, consumer, seqs):
        with self.transaction(write=False) as run:
            run("group_lock", {"consumer": consumer})
            run("claims_done", {"consumer": consumer, "seqs": list(seqs)})
            mark = run("watermark", {"consumer": consumer})[0][0]
            if mark is not None:
                run("taken", {"consumer": consumer, "seq": mark, "now": run.now})
                run("claims_below", {"consumer": consumer, "seq": mark})

    def renew_claims(self, consumer, owner, seconds):
        with self.transaction(write=False) as run:
            params = {"consumer": consumer, "owner": owner, "seconds": seconds, "now": run.now}
            run("seen", params)  # the group's row first, as done() locks it: no deadlock between the two
            run("claims_renew", params)
            run("member_seen", params)

    def leave(self, consumer, owner):
        with self.transaction(write=False) as run:
            run("member_leaves", {"consumer": consumer, "owner": owner})

    def release_claims(self, consumer, owner):
        with self.transaction(write=False) as run:
            run("claims_release", {"consumer": consumer, "owner": owner})

    # --- dead letters --------------------------------------------------------------------------

    def dead_letter(self, consumer, seq, event_id, reason, owner=None):
        with self.transaction() as run:
            if owner is not None:
                held_by(run, consumer, owner)
            run("dead_letter", {"consumer": consumer, "seq": seq, "event_id": event_id, "reason": reason[:1000],
                                "now": run.now})

    def dead_letters(self, consumer=None, limit=100):
        from pagerduty_plugin.state.inbox import iso_time

        with self.transaction(write=False) as run:
            rows = run("dead_letters", {"consumer": consumer, "limit": limit})
        keys = ("consumer", "seq", "event_id", "reason", "at", "retry", "event_type")
        return [{**dict(zip(keys, found)), "retry": bool(found[5]), "at": iso_time(found[4])} for found in rows]

    def retry_dead_letters(self, consumer=None):
        with self.transaction() as run:
            return len(run("retry_dead", {"consumer": consumer}))

    def purge_dead_letters(self, consumer=None):
        with self.transaction() as run:
            return len(run("purge_dead", {"consumer": consumer}))

    def to_retry(self, consumer):
        with self.transaction(write=False) as run:
            rows = run("to_retry", {"consumer": consumer})
        return [(seq, json.loads(body)) for seq, body in rows]

    def delivered_again(self, consumer, seq):
        with self.transaction() as run:
            run("delivered_again", {"consumer": consumer, "seq": seq})

    # --- upkeep ----------------------------------------------------------------------------------

    def count(self, source=None):
        with self.transaction(write=False) as run:
            return run("count", {"source": source})[0][0]

    def purge(self, days=RETENTION_DAYS):
        with self.transaction() as run:
            before = run.now - days * 86400
            dropped = dict(run("untaken", {"before": before}))
            for consumer, count in dropped.items():
                run("count_drop", {"consumer": consumer, "count": count, "now": run.now})
            run("drop_old", {"before": before})
            run("drop_taken", {"before": run.now - min(days, DEDUP_DAYS) * 86400})
            for what in TRIMS:
                count = run(f"trim_{what}", {"before": before})[0][0]
                if count:
                    run("count_trim", {"what": what, "count": count, "now": run.now})
        return {consumer: count for consumer, count in dropped.items() if count}

    def set_aside_vanished(self, days=RETENTION_DAYS, in_use=None):
        with self.transaction() as run:
            run("seen_since_upgrade", {"now": run.now})
            gone = sorted(run("vanished", {"now": run.now, "seconds": days * 86400, "in_use": in_use}))
            if gone:
                run("count_set_aside", {"count": len(gone), "now": run.now})
        return gone

    def status(self):
        version = self.database.version(self.STORE)
        with self.transaction(write=False) as run:
            return status_of(version, len(PG_MIGRATIONS), run("count", {"source": None})[0][0],
                             [{"consumer": c, "position": seq, "backlog": n}
                              for c, seq, n in run("status_consumers", {})],
                             run("status_leases", {"now": run.now}),
                             (run("count_takeovers", {})[0][0], run("status_takeovers", {})),
                             run("status_drops", {}), run("status_dead", {})[0][0],
                             groups_of(run("status_groups", {"now": run.now}), run("status_members", {"now": run.now})),
                             run("status_trims", {}), [name for name, in run("status_dormant", {})])


def pg_url(url):
    from pagerduty_plugin.state import location

    return location.database_url(url)


def event_params(source, key, event, now):
    source, key, event_id, event_type, now, body = row(source, key, event, now)
    return {"source": source, "key": key, "event_id": event_id, "event_type": event_type, "now": now, "body": body}


def fence(run, lease):
    """Inside a write transaction (the inbox's advisory lock held, as acquire() holds it): LeaseLost
    unless lease (name, owner), if given, is still owner's."""
    if lease is not None:
        held_by(run, *lease)


def held_by(run, consumer, owner):
    held = run("lease_get", {"consumer": consumer, "now": run.now})
    if held and held[0][0] != owner:
        raise LeaseLost(f"The consumer {consumer} is now owned by {held[0][0]}",
                        "This process stops handing events over; one process per consumer name.")
    if not held:
        raise LeaseLost(f"The consumer {consumer} has no lease any more",
                        "This process stops handing events over; start it again.")


class Writing:
    """A write transaction: the inbox's advisory lock first (seq drawn and committed in order)."""

    def __init__(self, transaction):
        self.transaction = transaction

    def __enter__(self):
        run = self.transaction.__enter__()
        try:
            run.now = run("lock", {})[0][1]
        except BaseException as exc:
            self.transaction.__exit__(type(exc), exc, None)
            raise
        return run

    def __exit__(self, kind, exc, tb):
        return self.transaction.__exit__(kind, exc, tb)
