"""What `--state` (or PAGERDUTY_STATE) names: a directory of SQLite files, the default on one
machine, or one PostgreSQL database (`postgresql://…`) that every durable store of a fleet shares.

Every store resolves its setting here; nothing imports psycopg unless the setting is a database URL.
"""

import os
import re

ENV = "PAGERDUTY_STATE"
SCHEMES = ("postgresql://", "postgres://")
URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def setting(value=None):
    """--state as given (checked by the flag's parser), else PAGERDUTY_STATE checked here, else None
    (the default directory). An empty variable counts as unset, as a shell's `PAGERDUTY_STATE=` means."""
    if value:
        return value
    found = os.environ.get(ENV)
    return checked(found, ENV) if found else None


def checked(value, name):
    """A state setting (`name`: --state or PAGERDUTY_STATE) as given, or a UsageError naming it: blank
    (it would silently mean the default directory), a NUL, a URL of another scheme (a typo, sqlite://,
    mysql://: a directory named like the URL, its password in it), or a file."""
    from pagerduty_plugin.errors import UsageError

    if not value.strip():
        raise UsageError(f"{name} is empty", f"Give a directory or a postgresql:// URL, or leave {name} out "
                         f"(then {'PAGERDUTY_STATE, else ' if name != ENV else ''}the default state directory).")
    if "\x00" in value:
        raise UsageError(f"{name} holds a NUL character", "Give a directory or a postgresql:// URL.")
    scheme = URL_SCHEME.match(value)
    if scheme and not is_database(value):  # the scheme alone is quoted: the rest may hold a password
        raise UsageError(f"{name} names a {scheme.group(1)}:// URL, which is no state store",
                         "Give a directory (every store a SQLite file in it) or a PostgreSQL URL "
                         "(postgresql://USER@HOST/DB).")
    if not scheme and os.path.exists(value) and not os.path.isdir(value):
        raise UsageError(f"{name} {value} is a file, not a directory",
                         "Give the state directory (created when missing), or a postgresql:// URL.")
    return value


def is_database(value):
    return isinstance(value, str) and value.lower().startswith(SCHEMES)


def database_url(value=None):
    """The PostgreSQL URL the setting names, else None (SQLite in a directory)."""
    found = setting(value)
    return found if is_database(found) else None


def resolve(value=None):
    """The database URL, or the state directory (created private when missing)."""
    from pagerduty_plugin.state import state_dir

    return database_url(value) or state_dir(value)


def named(value=None):
    """The database URL, or the state directory's path, as resolve() gives them but creating nothing."""
    from pagerduty_plugin.state import state_path

    return database_url(value) or state_path(value)


def shown(value):
    """The setting as it may be printed: a database URL without its password."""
    if is_database(value):
        from pagerduty_plugin.state.url_masking import display_url

        return display_url(value)
    return value


def share(value, say=None):
    """The --state a command was given, into PAGERDUTY_STATE, for what this process and its children
    open without being given --state (the steps' outbox, the OAuth token cache, `http`'s workers and
    companions): the flag wins for every store, so no store is split from the others. When it
    overrides another PAGERDUTY_STATE, say(message) tells which state the command uses (once: the
    variable then names it)."""
    if not value:
        return
    chosen = value if is_database(value) else os.path.abspath(value)
    before = os.environ.get(ENV)
    if before and not same(before, chosen) and say is not None:
        say(f"--state {shown(chosen)} holds every store of this command (inbox, runs, outbox); "
            f"{ENV}={shown(before)} is not used by it")
    os.environ[ENV] = chosen


def same(first, second):
    if is_database(first) or is_database(second):
        return first == second
    return os.path.abspath(first) == os.path.abspath(second)
