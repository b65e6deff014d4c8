"""One PostgreSQL connection of a store (psycopg 3, imported only here): named SQL, transactions
with the server's clock, the schema migrated under an advisory lock, and a broken connection
replaced at the next call (a restarted or briefly unreachable server costs one failed call).

The same shape as the outbox's (outbox_pg.py): a store holds `SQL`, a dict of named statements,
and `transaction()` yields `run(name, params) -> rows` with `run.now`, the server's clock (epoch
seconds) at the transaction's start. Errors are PluginError subclasses with the password masked.
"""

from pagerduty_plugin.errors import PluginError, redact
from pagerduty_plugin.state.outbox import display_url
from pagerduty_plugin.state.outbox_pg import driver, url_secrets

CLOCK = "SELECT extract(epoch FROM clock_timestamp())::double precision"
MIGRATION_LOCK = 727275  # pg_advisory_xact_lock key: one migrating process at a time, whichever store
CONNECT_TIMEOUT = 5


class Database:
    """error: the PluginError subclass a failure raises (RunStoreError for the runs, ...)."""

    def __init__(self, url, what, error=PluginError):
        self.psycopg = driver()
        self.url, self.dsn, self.what, self.error = display_url(url), url, what, error
        self.secrets = url_secrets(url, self.psycopg)
        self.db = None

    def connection(self):
        if self.db is None or self.db.closed or self.db.broken:
            self.close()
            try:
                self.db = self.psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
            except self.psycopg.Error as exc:
                raise self.failure(exc) from None
        return self.db

    def failure(self, exc):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return self.error(f"The {self.what} in {self.url} is not usable: {redact(first, self.secrets)}",
                          "Check that the PostgreSQL server is up and the URL and the user's rights (PGPASSWORD "
                          "or ~/.pgpass keep the password out of the URL); the next call connects again.")

    def transaction(self, sql):
        return Transaction(self, sql)

    def migrate(self, store, steps):
        """Apply the store's numbered migrations it lacks, under the advisory lock; [numbers applied]."""
        with self.transaction({}) as run:
            run.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": MIGRATION_LOCK})
            run.execute("CREATE TABLE IF NOT EXISTS schema_version (store TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                        "applied_at DOUBLE PRECISION NOT NULL)", {})
            found = run.execute("SELECT version FROM schema_version WHERE store = %(store)s", {"store": store})
            version = found[0][0] if found else 0
            applied = []
            for number, statements in enumerate(steps, 1):
                if number > version:
                    for statement in statements:
                        run.execute(statement, {})
                    applied.append(number)
            if applied:
                run.execute("INSERT INTO schema_version (store, version, applied_at) VALUES (%(store)s, %(v)s, "
                            "%(now)s) ON CONFLICT (store) DO UPDATE SET version = EXCLUDED.version, "
                            "applied_at = EXCLUDED.applied_at", {"store": store, "v": len(steps), "now": run.now})
        return applied

    def version(self, store):
        with self.transaction({}) as run:
            if run.execute("SELECT to_regclass('schema_version')", {})[0][0] is None:
                return 0
            found = run.execute("SELECT version FROM schema_version WHERE store = %(store)s", {"store": store})
        return found[0][0] if found else 0

    def close(self):
        if self.db is not None:
            try:
                self.db.close()
            except Exception:  # noqa: BLE001 - closing a connection that already failed
                pass
            self.db = None


class Run:
    """run(name, params) -> rows, with `now` the server's clock at the transaction's start."""

    def __init__(self, database, db, sql):
        self.database, self.db, self.sql = database, db, sql
        self.now = self.execute(CLOCK, {})[0][0]

    def __call__(self, name, params):
        return self.execute(self.sql[name], params)

    def execute(self, text, params):
        try:
            cursor = self.db.execute(text, params)
            return cursor.fetchall() if cursor.description else []
        except self.database.psycopg.Error as exc:
            raise self.database.failure(exc) from None


class Transaction:
    def __init__(self, database, sql):
        self.database, self.sql, self.block = database, sql, None

    def __enter__(self):
        database = self.database
        db = database.connection()
        try:
            self.block = db.transaction()
            self.block.__enter__()
        except database.psycopg.Error as exc:
            raise database.failure(exc) from None
        try:
            return Run(database, db, self.sql)
        except PluginError as exc:
            self.__exit__(type(exc), exc, None)
            raise

    def __exit__(self, kind, exc, tb):
        try:
            return self.block.__exit__(kind, exc, tb)
        except self.database.psycopg.Error as error:
            raise self.database.failure(error) from None
