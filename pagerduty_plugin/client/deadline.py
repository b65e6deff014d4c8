"""A deadline for one whole HTTP exchange, not for each read.

requests' `timeout` bounds each socket read: a server that drips a byte a second never trips
it, and a 2 s step ran for minutes. Here a timer shuts the exchange's socket down when its
deadline passes, whatever phase it is in (headers or body); the blocked read then returns at
once and the transport reports the deadline. Works for the threads that fetch pages in
parallel too: each exchange watches only the connections it used.

Connections report themselves through urllib3's public extension points: the pools' documented
`ConnectionCls` is a connection class of ours whose `connect` (a new or reopened socket, the TLS
handshake included) and `request` (every exchange, a kept-alive socket's too) first tell the
thread's Watch; the adapter's `init_poolmanager` and `proxy_manager_for` hooks install the pools.
"""

import heapq
import itertools
import os
import socket
import threading
import time

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()  # the Watch of the exchange running on this thread
RECHECK = 0.05  # seconds between looks for a socket that was still being opened at the deadline


class Watchdog:
    """One thread per process that fires the Watches whose time has come: a thread per exchange
    (threading.Timer) cost more than the warm HTTP server's whole step. Started on first use in
    each process (a forked gunicorn worker starts its own)."""

    def __init__(self):
        self.condition = threading.Condition()
        self.due = []  # heap of (deadline, sequence, watch)
        self.sequence = itertools.count()
        self.pid = None

    def schedule(self, delay, watch):
        with self.condition:
            if self.pid != os.getpid():  # first use here, or a fork copied a parent's stopped thread
                self.pid, self.due = os.getpid(), []
                threading.Thread(target=self.run, name="pagerduty-deadlines", daemon=True).start()
            heapq.heappush(self.due, (time.monotonic() + delay, next(self.sequence), watch))
            self.condition.notify()

    def run(self):
        while True:
            with self.condition:
                while not self.due or self.due[0][0] > time.monotonic():
                    wait = self.due[0][0] - time.monotonic() if self.due else None
                    self.condition.wait(wait)
                _, _, watch = heapq.heappop(self.due)
            watch.fire()  # a watch whose exchange ended meanwhile does nothing


WATCHDOG = Watchdog()


class Watch:
    """Shuts down the sockets of this exchange's connections once `seconds` have passed."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.connections = []
        self.expired = False
        self.done = False
        self.lock = threading.Lock()

    def __enter__(self):
        _current.watch = self
        self.arm(self.seconds)
        return self

    def __exit__(self, *exc):
        with self.lock:
            self.done = True
            self.connections = []  # its entry waits in the watchdog's heap until the deadline: hold nothing
        _current.watch = None
        return False

    def arm(self, delay):
        WATCHDOG.schedule(delay, self)

    def fire(self):
        with self.lock:
            if self.done:
                return
            self.expired = True
            unopened = False
            for connection in self.connections:
                sock = getattr(connection, "sock", None)
                if sock is None:
                    unopened = True
                    continue
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if unopened:  # still connecting (bounded by the connect timeout): look again shortly
                self.arm(RECHECK)

    def add(self, connection):
        with self.lock:
            if connection not in self.connections:
                self.connections.append(connection)


def report(connection):
    """Puts the connection under the Watch of the exchange running on this thread, if any."""
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(connection)


class Watched:
    """A connection that puts itself under the thread's Watch whenever it opens or sends (a kept-alive
    socket is watched on every exchange, not only the first)."""

    def connect(self):
        report(self)
        super().connect()

    def request(self, *args, **kwargs):
        report(self)
        super().request(*args, **kwargs)


class WatchedHTTPConnection(Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(Watched, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


WATCHED_POOLS = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose pools (direct or through a proxy) report to the thread's Watch."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager
