"""What `--state` (or PAGERDUTY_STATE) names: a directory of SQLite files, the default on one
machine, or one PostgreSQL database (`postgresql://…`) that every durable store of a fleet shares.

Every store resolves its setting here; nothing imports psycopg unless the setting is a database URL.
"""

import os

ENV = "PAGERDUTY_STATE"
SCHEMES = ("postgresql://", "postgres://")


def setting(value=None):
    """--state as given, else PAGERDUTY_STATE, else None (the default directory)."""
    return value or os.environ.get(ENV) or None


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


def shown(value):
    """The setting as it may be printed: a database URL without its password."""
    if is_database(value):
        from pagerduty_plugin.state.outbox import display_url

        return display_url(value)
    return value


def share(value):
    """A --state database URL into PAGERDUTY_STATE, for what this process opens without being given
    --state (the steps' outbox, companions): every store of the process in that one database."""
    url = database_url(value)
    if url:
        os.environ[ENV] = url
