"""`pagerduty-plugin state migrate|status [--state DIR|URL]`: the durable stores' schemas brought up
to date ahead of a rollout, and what an operator watches in a fleet (consumers' backlogs, leases
and their takeovers, runs by status, what retention dropped untaken). The same on a state directory.
"""

import os
from urllib.parse import quote

from pagerduty_plugin.state import location

STORES = ("inbox", "runs", "outbox")  # the outbox at its default place: the state's


def open_store(name, state):
    if name == "inbox":
        from pagerduty_plugin.state.inbox import Inbox

        return Inbox(state)
    if name == "outbox":
        from pagerduty_plugin.state.outbox import open_outbox

        return open_outbox("sqlite://", state)
    from pagerduty_plugin.state.runs import RunStore

    return RunStore(state)


def command(args, io, handler, log):
    if args.state_command == "status":
        io.write(status(location.named(args.state)))
        return 0
    state = location.resolve(args.state)
    applied = {}
    for name in STORES:
        store = open_store(name, state)  # opening a store migrates it
        applied[name] = store.migrated
        store.close()
    versions = schema_versions(state)  # read alone: not the whole status report
    io.write({"state": location.shown(state),
              **{name: {"applied": steps, "version": versions[name][0]} for name, steps in applied.items()}})
    return 0


def status(state):
    """`state status`: a report that creates and migrates nothing. A store behind its schema (a state
    directory or a database not made yet, a release ahead) is reported by its versions, with the next
    step; only a store at its version is opened for its counts."""
    versions = schema_versions(state)
    found = {}
    for name in STORES:
        version, latest = versions[name]
        if version < latest:
            found[name] = {"schema_version": version, "schema_latest": latest}
            continue
        store = open_store(name, state)
        try:
            found[name] = store.status()
        finally:
            store.close()
    report = {"state": location.shown(state), **found}
    if not location.is_database(state) and not os.path.isdir(state):
        report["exists"] = False  # a typo in --state, or a state no command has used yet
    if any(versions[name][0] < versions[name][1] for name in STORES):
        report["next_step"] = ("Run `pagerduty-plugin state migrate` on this state (in a database, as a role that "
                               "may create tables): it creates the stores missing and brings the others up to date.")
    return report


def schema_versions(state):
    """{store: (version, latest)}, read only: 0 for a store, a directory or a database not made yet."""
    if location.is_database(state):
        from pagerduty_plugin.state import inbox_pg, outbox_pg, pg, runs_pg

        latest = {"inbox": inbox_pg.PG_MIGRATIONS, "runs": runs_pg.PG_MIGRATIONS, "outbox": outbox_pg.PG_MIGRATIONS}
        database = pg.Database(state, "state")
        try:
            return {name: (database.version(name), len(latest[name])) for name in STORES}
        finally:
            database.close()
    from pagerduty_plugin.state import inbox, outbox, runs

    files = {"inbox": (inbox.FILE_NAME, inbox.MIGRATIONS), "runs": (runs.FILE_NAME, runs.MIGRATIONS),
             "outbox": (outbox.DEFAULT_FILE, outbox.MIGRATIONS)}
    return {name: (sqlite_version_of(os.path.join(state, file), name), len(steps))
            for name, (file, steps) in files.items()}


def sqlite_version_of(path, store):
    import sqlite3

    from pagerduty_plugin.errors import PluginError
    from pagerduty_plugin.state.migrations import sqlite_version

    if not os.path.isfile(path):
        return 0
    try:
        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
        try:
            return sqlite_version(db, store)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise PluginError(f"Cannot read the state file {path}: {exc}",
                          "Check that it is a store of this plugin and readable.") from None
