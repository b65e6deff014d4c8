"""A real PostgreSQL server for the tests: initdb into a temporary directory, postgres on a free
loopback port, stopped at the end. Installs Debian's postgresql package when it is missing and
we are root (as CI is); postgres refuses to run as root, so it runs as the `postgres` user then.
`start()` returns a Server, or raises Unavailable with the reason the tests skip for."""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import apt_install


class Unavailable(Exception):
    pass


def binaries():
    """The directory of initdb/pg_ctl, installing the Debian package when needed and possible."""
    try:
        return apt_install.ensure("postgresql", find_binaries)
    except apt_install.Missing as exc:
        raise Unavailable(str(exc)) from None


def find_binaries():
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self):
        self.bin = binaries()
        self.user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no postgres user to run the server as") from None
            self.user = "postgres"
        self.dir = tempfile.mkdtemp(prefix="pagerduty-plugin-pg-")
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, *command, timeout=120):
        full = [os.path.join(self.bin, command[0]), *command[1:]]
        if self.user:
            full = ["runuser", "-u", self.user, "--", *full]
        done = subprocess.run(full, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, cwd=self.dir)
        if done.returncode != 0:
            raise Unavailable(f"{command[0]} failed: {done.stderr.decode(errors='replace')[-400:]}")
        return done

    def start(self):
        self.run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")
        return self.resume()

    def resume(self):
        """Start postgres on the data directory (at first, or after pause())."""
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self.run("pg_ctl", "-D", self.data, "-o", options, "-l", os.path.join(self.dir, "log"), "-w", "-t", "60",
                 "start")
        return self

    def pause(self):
        """Stop postgres and keep its data: an outage, which resume() ends."""
        self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", timeout=60)

    def stop(self):
        try:
            self.run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=60)
        except (Unavailable, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def fresh_database(self, name):
        """A new empty database on this server; returns its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name


def start():
    server = Server()
    try:
        return server.start()
    except BaseException:
        shutil.rmtree(server.dir, ignore_errors=True)
        raise


def wait_until(condition, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
