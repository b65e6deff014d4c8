"""One PostgreSQL connection of a store (psycopg 3, imported only here): named SQL, transactions
with the server's clock, the schema migrated under an advisory lock, and a broken connection
replaced at the next call (a restarted or briefly unreachable server costs one failed call).

Every store (inbox, runs, outbox) holds `SQL`, a dict of named statements, and `transaction()`
yields `run(name, params) -> rows` with `run.now`, the server's clock (epoch seconds) at the
transaction's start. Errors are PluginError subclasses with the password masked.

A session cannot hang the fleet: a host that freezes mid-transaction (SIGSTOP, a paused VM, a
partition) keeps its locks, and every other host inserting the same webhook delivery would wait on
it for ever. So every session is opened with TCP keepalives and a TCP user timeout (a silent peer
is noticed), `idle_in_transaction_session_timeout` (the server rolls the frozen host's transaction
back, freeing its locks) and `lock_timeout` (a waiter gives up with LockBusy, which every caller
retries: the webhook receiver answers 503, consumers and drainers try their round again).
"""

import os

from pagerduty_plugin.errors import PluginError, redact
from pagerduty_plugin.state import location
from pagerduty_plugin.state.url_masking import display_url, mask_quoted, url_secrets

CLOCK = "SELECT extract(epoch FROM clock_timestamp())::double precision"
MIGRATION_LOCK = 727275  # pg_advisory_xact_lock key: one migrating process at a time, whichever store
MIGRATION_LOCK_WAIT = "60s"  # a migration may take a while on a large table: the others wait for it, not 2 s
CONNECT_TIMEOUT = 5  # seconds to reach the server at all

# libpq's own settings. Where the URL gives one itself (?keepalives_idle=30, ?tcp_user_timeout=0,
# ?connect_timeout=…; PGCONNECT_TIMEOUT), the URL's wins.
TCP = {
    # a silent peer (the server's host paused, a partition): noticed after 10 s idle and 3 unanswered
    # probes 5 s apart, about 25 s, instead of Linux's default 2 h 11 min
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
    # what was sent and not acknowledged for 30 s (the server gone mid-statement): the connection is dropped,
    # instead of Linux's retransmissions for about 15 min
    "tcp_user_timeout": 30000,
}
# The server's settings for our sessions, sent in libpq's `options` (so they override ALTER ROLE/DATABASE
# settings); -c settings in the URL's own `options` (?options=-c%20lock_timeout%3D5s) or in PGOPTIONS come
# after ours, and so win.
SESSION = {
    # the plugin runs its statements back to back, milliseconds apart, and never waits on anything else
    # inside a transaction: one left idle 10 s is a frozen or cut-off host. The server rolls it back and ends
    # its session (its locks freed); a live host that was only slow loses one transaction, retried.
    "idle_in_transaction_session_timeout": "10s",
    # the plugin holds its locks for milliseconds: a wait of 2 s means their holder is stalled, so give up
    # (LockBusy, retried) instead of hanging. Under the webhook receiver's 3 s, so its 503 says why.
    "lock_timeout": "2s",
}


def driver(what, url):
    """psycopg, or an error naming the store being opened (the inbox, the runs store, the outbox) and
    the setting that put it in a database."""
    try:
        import psycopg
    except ImportError:
        if location.database_url() == url or what != "outbox":  # the outbox's default place follows the state
            setting = "--state or PAGERDUTY_STATE"
            keep = "give --state a directory (a SQLite file per store, one machine)"
        else:
            setting, keep = "the connection's outbox, PAGERDUTY_OUTBOX", "keep the outbox in sqlite:// on one machine"
        raise PluginError(f"The {what} is in a PostgreSQL database ({display_url(url)}, from {setting}) but the "
                          "PostgreSQL driver, psycopg, is not installed",
                          "Install the plugin's `postgresql` extra (in its checkout: `pip install "
                          "'.[postgresql]'`; elsewhere psycopg alone: `pip install 'psycopg[binary]>=3.1,<4'`), or "
                          f"{keep}.") from None
    return psycopg


def session_parameters(dsn, psycopg, environ=None):
    """connect()'s keyword arguments: TCP and SESSION, but for what the URL or the environment sets."""
    environ = os.environ if environ is None else environ
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    params = {name: value for name, value in TCP.items() if name not in given}
    if "connect_timeout" not in given and not environ.get("PGCONNECT_TIMEOUT"):
        params["connect_timeout"] = CONNECT_TIMEOUT
    ours = " ".join(f"-c {name}={value}" for name, value in SESSION.items())
    params["options"] = " ".join(part for part in (ours, environ.get("PGOPTIONS"), given.get("options")) if part)
    return params


class LockBusy(PluginError):
    """A statement waited lock_timeout for a lock another session holds (a host stalled or frozen
    mid-transaction): nothing was written, and the caller tries again."""


class Denied(PluginError):
    """The role lacks a privilege a statement needs (reason: the server's words, masked)."""

    def __init__(self, cause, assistance, reason):
        super().__init__(cause, assistance)
        self.reason = reason


KINDS = {}


def busy_class(error, kind=LockBusy):
    """LockBusy (or Denied), and the store's own error class too (a caller catching RunStoreError catches it)."""
    if issubclass(kind, error):
        return kind
    if (kind, error) not in KINDS:
        KINDS[kind, error] = type(f"{error.__name__}{kind.__name__}", (kind, error), {"__doc__": kind.__doc__})
    return KINDS[kind, error]


class Database:
    """error: the PluginError subclass a failure raises (RunStoreError for the runs, ...)."""

    def __init__(self, url, what, error=PluginError):
        self.psycopg = driver(what, url)
        self.url, self.dsn, self.what, self.error = display_url(url), url, what, error
        self.secrets = url_secrets(url)
        self.db = None

    def connection(self):
        if self.db is None or self.db.closed or self.db.broken:
            self.close()
            try:
                self.db = self.psycopg.connect(self.dsn, autocommit=True,
                                               **session_parameters(self.dsn, self.psycopg))
            except self.psycopg.Error as exc:
                raise self.failure(exc) from None
        return self.db

    def failure(self, exc):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = mask_quoted(redact(first, self.secrets), self.secrets)
        if isinstance(exc, self.psycopg.errors.LockNotAvailable):
            return busy_class(self.error)(
                f"The {self.what} in {self.url} is busy: another session, most likely a host stalled or frozen in "
                f"the middle of a transaction, held a lock it needs for longer than lock_timeout "
                f"({first})",
                "Nothing was written and it is tried again (a webhook is answered 503, which PagerDuty retries); "
                "PostgreSQL ends a frozen host's transaction after idle_in_transaction_session_timeout. If it "
                "lasts, look in pg_stat_activity for the session that holds it.")
        if isinstance(exc, self.psycopg.errors.InsufficientPrivilege):
            return busy_class(self.error, Denied)(
                f"The {self.what} in {self.url} is not usable by this role: {first}",
                "Grant the role SELECT, INSERT, UPDATE and DELETE on the plugin's tables and USAGE on their "
                "sequences (`state migrate`, run by the owner, creates them).", first)
        return self.error(f"The {self.what} in {self.url} is not usable: {first}",
                          "Check that the PostgreSQL server is up and the URL and the user's rights (PGPASSWORD "
                          "or ~/.pgpass keep the password out of the URL); the next call connects again.")

    def transaction(self, sql):
        return Transaction(self, sql)

    def execute_alone(self, text, params):
        """One statement as its own transaction (the connection is in autocommit mode)."""
        try:
            self.connection().execute(text, params)
        except self.psycopg.Error as exc:
            raise self.failure(exc) from None

    def migrate(self, store, steps):
        """Apply the store's numbered migrations it lacks, under the advisory lock; [numbers applied].
        The version is read first, and the lock taken and the DDL run only when it is behind: a role
        granted only SELECT/INSERT/UPDATE/DELETE (a fleet's hosts) opens a migrated database without
        any right to create (CREATE TABLE IF NOT EXISTS needs CREATE on the schema even when the
        table exists)."""
        if self.version(store) >= len(steps):
            return []
        try:
            return self.apply(store, steps)
        except Denied as exc:
            raise self.error(
                f"The {self.what} in {self.url} is at schema version {self.version(store)} of {len(steps)} and "
                f"this role may not migrate it ({exc.reason})",
                "Run `pagerduty-plugin state migrate --state URL` once as the role that owns the tables (or "
                "may create in the schema), then start the hosts again with their own role.") from None

    def apply(self, store, steps):
        """migrate()'s work under the advisory lock, the version read again there (another process may
        have migrated meanwhile)."""
        with self.transaction({}) as run:
            run.execute(f"SET LOCAL lock_timeout = '{MIGRATION_LOCK_WAIT}'", {})
            run.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": MIGRATION_LOCK})
            run.execute("SET LOCAL lock_timeout TO DEFAULT", {})  # the DDL waits no longer than any statement
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
