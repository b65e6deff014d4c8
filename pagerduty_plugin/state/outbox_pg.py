"""The outbox in PostgreSQL, for several machines sharing one queue (psycopg 3, imported only here).

Claims use `FOR UPDATE SKIP LOCKED`: drainers on many hosts take disjoint lane heads without
waiting on each other, and a row whose lease ran out is taken up by whoever comes next. The
per-routing-key rest (429 and back-off) lives in the same database, so the whole fleet honours it.
"""

from pagerduty_plugin.errors import PluginError, redact
from pagerduty_plugin.state.outbox import COLUMNS, SCHEMA, Outbox, Row, display_url

PG_SCHEMA = (SCHEMA.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
             .replace(" REAL", " DOUBLE PRECISION"))


def driver():
    try:
        import psycopg
    except ImportError:
        raise PluginError("The outbox is a postgresql:// URL but the PostgreSQL driver is not installed",
                          "Install psycopg 3 beside the plugin, `pip install 'psycopg[binary]>=3.1,<4'` (from this "
                          "repository: `pip install '.[postgresql]'`), "
                          "or use a sqlite:// outbox on one machine.") from None
    return psycopg


class PostgresOutbox(Outbox):
    def __init__(self, url):
        self.url, self.dsn = display_url(url), url
        self.psycopg = driver()
        self.secret = [self.psycopg.conninfo.conninfo_to_dict(url).get("password") or ""] if "@" in url else []
        try:
            self.db = self.psycopg.connect(url, autocommit=True, connect_timeout=10)
            with self.db.transaction():
                # one creator at a time: CREATE ... IF NOT EXISTS races on the catalog otherwise
                self.db.execute("SELECT pg_advisory_xact_lock(727274)")
                if self.db.execute("SELECT to_regclass('outbox_keys')").fetchone()[0] is None:
                    self.db.execute(PG_SCHEMA)
        except self.psycopg.Error as exc:
            raise self.failure(exc) from None

    def failure(self, exc):
        text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.secret)
        return PluginError(f"The PostgreSQL outbox {self.url} is not usable: {text}",
                           "Check the URL, that the server is up, and the user's rights (PGPASSWORD or "
                           "~/.pgpass keep the password out of the URL).")

    def transaction(self, durable=True):
        return PostgresTransaction(self)

    def claim_candidates(self, owner, refs, limit, now, lease_until, lane):
        where, args = self.claim_filter(refs, lane)
        columns = ", ".join("t." + c.strip() for c in COLUMNS.split(","))
        with self.transaction() as run:
            rows = run(f"WITH c AS (SELECT o.id FROM outbox_events o WHERE {where} ORDER BY o.id LIMIT ? "
                       "FOR UPDATE OF o SKIP LOCKED) "
                       "UPDATE outbox_events t SET status = 'sending', attempts = t.attempts + 1, lease_until = ?, "
                       f"lease_owner = ? FROM c WHERE t.id = c.id RETURNING {columns}",
                       (*args(now), limit, lease_until, owner))
        return sorted((Row(*row) for row in rows), key=lambda row: row.id)

    def close(self):
        self.db.close()


class PostgresTransaction:
    def __init__(self, store):
        self.store = store
        self.block = None

    def __enter__(self):
        store = self.store
        try:
            if store.db.closed or store.db.broken:  # the server restarted: a drainer carries on
                store.db = store.psycopg.connect(store.dsn, autocommit=True, connect_timeout=10)
            self.block = store.db.transaction()
            self.block.__enter__()
        except store.psycopg.Error as exc:
            raise store.failure(exc) from None

        def run(sql, args=()):
            try:
                cursor = store.db.execute(sql.replace("?", "%s"), args)
                return cursor.fetchall() if cursor.description else []
            except store.psycopg.Error as exc:
                raise store.failure(exc) from None

        return run

    def __exit__(self, kind, exc, tb):
        try:
            return self.block.__exit__(kind, exc, tb)
        except self.store.psycopg.Error as error:
            raise self.store.failure(error) from None
