"""One `apt-get` at a time for the tests that install a Debian package on first use (PostgreSQL, Chromium,
nginx): apt and dpkg refuse a second apt-get instead of waiting for the first, and parallel test workers
(pytest-xdist) may want two packages at once. Under the lock, look again: another worker may have installed it."""
import contextlib
import fcntl
import os
import tempfile


@contextlib.contextmanager
def one_at_a_time():
    with open(os.path.join(tempfile.gettempdir(), "pagerduty-plugin-tests-apt.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
