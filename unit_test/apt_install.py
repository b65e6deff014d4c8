"""Debian packages for the tests that need a real program (PostgreSQL, Chromium, nginx): installed on first
use when missing, as CI's root can, else the reason the tests skip for.

One `apt-get` at a time: apt and dpkg refuse a second apt-get instead of waiting for the first, and parallel
test workers (pytest-xdist) may want two packages at once. Under the lock, look again: another worker may have
installed it meanwhile."""
import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile


class Missing(Exception):
    """The package is not installed and cannot be: the reason a test skips for."""


@contextlib.contextmanager
def one_at_a_time():
    with open(os.path.join(tempfile.gettempdir(), "pagerduty-plugin-tests-apt.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure(package, find):
    """What find() returns (a path), installing Debian's `package` first when it returns nothing; Missing
    says why it cannot be had."""
    found = find()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Missing(f"{package} is not installed and installing it needs root with apt-get: "
                      f"apt-get install {package}")
    with one_at_a_time():
        found = find() or install(package) or find()
    if not found:
        raise Missing(f"apt-get installed {package} but the program was not found")
    return found


def install(package):
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                                                   package]):
        try:
            done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Missing(f"`{' '.join(command)}` could not run: {exc}") from None
        if done.returncode != 0:
            raise Missing(f"`{' '.join(command)}` failed: {done.stderr.decode(errors='replace')[-300:]}")
    return None
