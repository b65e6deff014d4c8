"""Leases: who owns a consumer's position (or a run) right now, as (owner, expires) rows.

The time is the store's own (SQLITE_NOW; a PostgreSQL store reads `clock_timestamp()`), never
a comparison between two hosts' clocks: an owner renews its lease every third of its length, and
another process takes the lease over only once it has expired in the store's time.

An owner is named for the operator to find it: host, process id and a random part (a pid reused
after a crash is still another owner).
"""

import os
import socket
import threading
import uuid

SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # seconds since 1970 by the store's clock


def lease_seconds(text):
    """PAGERDUTY_PLUGIN_LEASE_SECONDS (tests shorten it): 1 to 3600 s, else the default 30 s."""
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        return 30.0
    return seconds if 1 <= seconds <= 3600 else 30.0


LEASE_SECONDS = lease_seconds(os.environ.get("PAGERDUTY_PLUGIN_LEASE_SECONDS"))


def owner_id():
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def died_here(owner):
    """Whether owner was a process of this host that no longer exists (killed: its lease need not
    run out). Only ever shortens a wait: a pid reused since is taken for alive."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


class Heartbeat:
    """Calls beat() every `period` seconds in a thread until stopped; beat's errors go to warn()
    (a store briefly read-only or locked must not end the owner: the next beat tries again)."""

    def __init__(self, beat, period, warn):
        self.beat, self.period, self.warn = beat, period, warn
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="heartbeat", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def loop(self):
        while not self.stopped.wait(self.period):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - any store failure: said, retried at the next beat
                self.warn(exc)

    def stop(self):
        self.stopped.set()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(5)
