"""The durable stores of the state directory: trigger inbox and cursors, outbox, runbook runs.

One directory holds them all (`--state DIR`; default `$XDG_STATE_HOME/pagerduty-plugin`, else
`~/.local/state/pagerduty-plugin`), each store its own SQLite file in WAL mode. Nothing secret is
stored in plain text there.
"""

import os

from pagerduty_plugin.errors import PluginError


def state_dir(path=None):
    """The state directory, created (private to its owner) when missing."""
    if not path:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        path = os.path.join(base, "pagerduty-plugin")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise PluginError(f"Cannot create the state directory {path}: {exc.strerror}",
                          "Give --state a directory this user can write.") from None
    return path


def open_sqlite(path, busy_timeout=30.0):
    """A SQLite connection in WAL mode that waits for a busy writer instead of failing.

    synchronous=FULL: a commit is on disk before it returns, so an event acknowledged after the
    commit survives a power cut as well as a kill -9.
    """
    import sqlite3  # here: a step that only reads its OAuth token from the state directory never pays for it

    try:
        create_private(path)
        db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    except (sqlite3.Error, OSError) as exc:
        raise PluginError(f"Cannot open the state file {path}: {exc}",
                          "Check that the state directory is on a local disk and writable.") from None
    return db


def create_private(path):
    """Create the database file private to its owner (its WAL files follow its mode). Only when it is
    missing: closing any descriptor of a file drops every POSIX lock this process holds on it, the
    locks of SQLite's own connections to it included, and another process closing its connection
    would then take itself for the last and delete the WAL under them."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
