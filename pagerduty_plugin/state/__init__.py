"""The durable stores of the state directory: trigger inbox and cursors, outbox, runbook runs.

One directory holds them all (`--state DIR` or PAGERDUTY_STATE; default `$XDG_STATE_HOME/pagerduty-plugin`,
else `~/.local/state/pagerduty-plugin`), each store its own SQLite file in WAL mode. Nothing secret is
stored in plain text there. A fleet gives a PostgreSQL URL instead (state/location.py): every store
then lives in that one database.
"""

import os

from pagerduty_plugin.errors import PluginError


def state_dir(path=None):
    """The state directory, created private to its owner (0700, whatever the umask, parents included)
    when missing; refused when another user owns it or may write in it (they could plant a forged
    inbox or runs store that we would then act on)."""
    path = state_path(path)
    try:
        make_private_dirs(path)
    except OSError as exc:
        raise PluginError(f"Cannot create the state directory {path}: {exc.strerror}",
                          "Give --state a directory this user can write.") from None
    check_private(path, "state directory", f"chmod 700 {path}, or give --state a directory of your own")
    return path


def state_path(path=None):
    """The state directory's path (--state, else PAGERDUTY_STATE, else the default), not created."""
    from pagerduty_plugin.state import location

    if not path:
        path = location.setting()
        path = None if location.is_database(path) else path
    elif location.is_database(path):
        raise PluginError("This command keeps its files in a state directory, not in a database",
                          "Give --state a directory here.")
    if not path:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        path = os.path.join(base, "pagerduty-plugin")
    return path


def make_private_dirs(path):
    """os.makedirs with 0700 for every directory it creates: its mode argument is cut by the umask."""
    missing = []
    here = os.path.abspath(path)
    while not os.path.isdir(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)


def check_private(path, what, fix, stat=None):
    """Refuse a state directory or store file that another user owns or may write."""
    if not hasattr(os, "geteuid"):  # Windows: no owners and modes to compare
        return
    info = stat or os.stat(path)
    if info.st_uid != os.geteuid():
        raise PluginError(f"The {what} {path} belongs to another user (uid {info.st_uid})",
                          f"Use one of your own: {fix}.", {"path": path})
    if info.st_mode & 0o022:
        raise PluginError(f"The {what} {path} is writable by other users (mode {info.st_mode & 0o777:o})",
                          f"They could forge what it holds: {fix}.", {"path": path})


def open_sqlite(path, busy_timeout=30.0):
    """A SQLite connection in WAL mode that waits for a busy writer instead of failing.

    synchronous=FULL: a commit is on disk before it returns, so an event acknowledged after the
    commit survives a power cut as well as a kill -9.
    """
    import sqlite3  # here: a step that only reads its OAuth token from the state directory never pays for it

    try:
        create_private(path)
        check_private(path, "state file", f"remove it, or chmod 600 {path} if it is yours")
        db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        use_wal(db, busy_timeout)
        db.execute("PRAGMA synchronous=FULL")
    except (sqlite3.Error, OSError) as exc:
        raise PluginError(f"Cannot open the state file {path}: {exc}",
                          "Check that the state directory is on a local disk and writable.") from None
    return db


def use_wal(db, busy_timeout):
    """WAL mode. Two processes opening a new store at the same moment (several `runbook serve` starting
    together): the switch needs the file alone, and SQLite then answers "database is locked" at once
    instead of waiting its busy timeout; so the wait is here."""
    import sqlite3
    import time

    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def create_private(path):
    """Create the database file private to its owner (its WAL files follow its mode). Only when it is
    missing: closing any descriptor of a file drops every POSIX lock this process holds on it, the
    locks of SQLite's own connections to it included, and another process closing its connection
    would then take itself for the last and delete the WAL under them."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
