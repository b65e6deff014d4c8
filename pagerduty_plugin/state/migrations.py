"""Versioned schemas: each store lists its numbered migrations (lists of statements) per database;
a `schema_version` table records the number each store is at. Stores migrate themselves when they
open (under a lock: SQLite's write lock, PostgreSQL's advisory lock, so hosts starting together
apply each migration once); `pagerduty-plugin state migrate` runs them ahead of a rollout.
"""

import sqlite3
import time

VERSION_TABLE = ("CREATE TABLE IF NOT EXISTS schema_version (store TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                 "applied_at REAL NOT NULL)")


def statements(script):
    """The statements of a script (none of ours has a ';' inside a statement)."""
    return [text.strip() for text in script.split(";") if text.strip()]


def migrate_sqlite(db, store, steps):
    """Apply the migrations `db` lacks, in one write transaction; [numbers applied]. A column that a
    store made before the versions already has is taken as added."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(VERSION_TABLE)
        found = db.execute("SELECT version FROM schema_version WHERE store = ?", (store,)).fetchone()
        applied = []
        for number, statements in enumerate(steps, 1):
            if number > (found[0] if found else 0):
                for statement in statements:
                    add_tolerantly(db, statement)
                applied.append(number)
        if applied:
            db.execute("INSERT INTO schema_version (store, version, applied_at) VALUES (?, ?, ?) ON CONFLICT (store) "
                       "DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at",
                       (store, len(steps), time.time()))
        db.execute("COMMIT")
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    return applied


def add_tolerantly(db, statement):
    try:
        db.execute(statement)
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise


def sqlite_version(db, store):
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_version'").fetchone():
        return 0
    found = db.execute("SELECT version FROM schema_version WHERE store = ?", (store,)).fetchone()
    return found[0] if found else 0
