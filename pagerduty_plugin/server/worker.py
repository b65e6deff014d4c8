"""gunicorn's threaded worker, made to hold slow and idle clients without giving them a thread.

gthread already keeps idle keep-alive connections in its event loop (a selector), but hands a
connection to a thread as soon as its first byte arrives; a client that then trickles its headers
or its body one byte a second holds that thread, and eight such clients stop every route. This
worker keeps a connection in the same event loop until its whole request has arrived (the head,
then a body of the announced length), and only then gives it to a thread, with the bytes read so
far put back in front of gunicorn's own parser. So:

- the head must arrive within `request_timeout` seconds of its first byte, the body within as many
  more; a connection that misses its deadline is answered 408 and closed;
- one client address holds at most `per_client` connections at once (more are closed at accept);
- an idle keep-alive connection is closed after gunicorn's `keepalive` seconds, as before.

A body announced larger than the app takes is handed over as soon as the head is complete (the app
refuses it before reading it); so is a request with `Expect: 100-continue`, whose client waits for
gunicorn's 100 before it sends the body. A chunked body is complete at its last chunk.

For plain HTTP/1.1, as `http` serves it (no TLS, no HTTP/2: a proxy in front does those): the bytes are
read before gunicorn's parser sees the connection. It relies on gthread's event loop (poller, nr_conns,
enqueue_req, murder_keepalived and the deque of kept-alive connections), in both of its forms: gunicorn
23 (Python 3.8 and 3.9; the deque is `_keep`, guarded by `_lock`, and finished requests come back on the
pool's threads) and gunicorn 24 and later (`keepalived_conns`, everything on the main thread).
"""

import contextlib
import errno
import selectors
import threading
import time
from collections import Counter
from dataclasses import dataclass
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

HEAD_LIMIT = 64 * 1024  # gunicorn refuses long lines and many fields; this bounds what we buffer before it looks
READ_SIZE = 64 * 1024
TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
TOO_LARGE_ANSWER = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True)
class Limits:
    request_timeout: float = 10.0  # seconds for the head from its first byte, and as many for the body
    per_client: int = 64  # connections one client address may hold open
    max_body: int = 1024 * 1024  # the largest body the app takes: a larger one is handed over at once (413)


class Arrival:
    """What a connection has sent of its next request so far."""

    def __init__(self, timeout):
        self.received = bytearray()
        self.deadline = time.monotonic() + timeout
        self.head_end = None
        self.body_length = 0
        self.chunked = False
        self.expects_continue = False  # handed over once the head is in

    def feed(self, data, limits):
        """True once the request is complete enough to hand to a thread."""
        self.received += data
        if self.head_end is None:
            end = self.received.find(b"\r\n\r\n")
            if end < 0:
                return False
            self.head_end = end + 4
            self.read_head(bytes(self.received[:end]))
            self.deadline = time.monotonic() + limits.request_timeout
            if self.expects_continue or self.body_length > limits.max_body:
                return True
        body = len(self.received) - self.head_end
        if self.chunked:  # its last chunk, or past what the app takes (then it answers 413)
            return self.received.endswith(b"0\r\n\r\n") or body > limits.max_body
        return body >= self.body_length

    def read_head(self, head):
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length" and value.isdigit():
                self.body_length = int(value)
            elif name == b"transfer-encoding":
                self.chunked = True
            elif name == b"expect" and value == b"100-continue":
                self.expects_continue = True


class GuardedConn(TConn):
    """A gthread connection that gives its client address's slot back when it closes."""

    def __init__(self, cfg, sock, client, server, release):
        super().__init__(cfg, sock, client, server)
        self.address = client[0] if isinstance(client, tuple) else str(client)
        self.release = release
        self.arrival = None

    def close(self, graceful=False):
        if self.release:
            self.release(self.address)
            self.release = None
        if graceful:
            super().close(graceful)
        else:
            super().close()  # gunicorn 23's close takes no argument


class GuardedWorker(ThreadWorker):
    limits = Limits()  # the server sets its own in a subclass (see command.Server.worker_class)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.per_client = Counter()
        self.counting = threading.Lock()  # gunicorn 23 closes connections on the pool's threads
        self.arriving = {}  # connection -> its Arrival, while it is read in the event loop

    def poller_lock(self):
        return getattr(self, "_lock", None) or contextlib.nullcontext()

    def kept_alive(self):
        return self.keepalived_conns if hasattr(self, "keepalived_conns") else self._keep

    def accept(self, *args):  # (listener) since gunicorn 24; (server, listener) before
        listener = args[-1]
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        sock.setblocking(False)  # read in the event loop (gunicorn 23's TConn leaves it blocking)
        conn = GuardedConn(self.cfg, sock, client, listener.getsockname(), self.release)
        with self.counting:
            refused = self.per_client[conn.address] >= self.limits.per_client
            if not refused:
                self.per_client[conn.address] += 1
        if refused:
            self.log.warning("Closed a connection from %s: it already holds %d", conn.address, self.limits.per_client)
            conn.release = None
            conn.close()
            return
        self.nr_conns += 1
        self.hold(conn)

    def release(self, address):
        with self.counting:
            self.per_client[address] -= 1
            if self.per_client[address] <= 0:
                del self.per_client[address]

    def hold(self, conn):
        """Read the connection's next request, in the event loop until it has arrived. What is there
        already is read at once: a kept-alive connection's request usually is, and then never waits."""
        self.arriving[conn] = Arrival(self.limits.request_timeout)  # the socket is non-blocking here
        self.read_more(conn)

    def read_more(self, conn):
        if self.read(conn) is None:
            with self.poller_lock():
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_bytes, conn))

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection's next request starts: read it the same way."""
        with self.poller_lock():
            self.poller.unregister(client)
            try:
                self.kept_alive().remove(conn)
            except ValueError:  # gunicorn 23: closed meanwhile as idle
                return
        conn.sock.setblocking(False)
        self.hold(conn)

    def on_bytes(self, conn, client):
        with self.poller_lock():
            self.poller.unregister(client)
        self.read_more(conn)

    def read(self, conn):
        """None while the request is still arriving; else True (handed to a thread) or False (dropped)."""
        arrival = self.arriving[conn]
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            data = b""
        if not data:  # the client went away
            self.drop(conn)
            return False
        if arrival.feed(data, self.limits):
            self.hand_over(conn, arrival)
            return True
        if arrival.head_end is None and len(arrival.received) > HEAD_LIMIT:
            self.drop(conn, TOO_LARGE_ANSWER)
            return False
        return None

    def hand_over(self, conn, arrival):
        del self.arriving[conn]
        conn.init()
        conn.parser.unreader.unread(bytes(arrival.received))
        conn.data_ready = True
        conn.sock.setblocking(True)
        self.enqueue_req(conn)

    def drop(self, conn, answer=b""):
        del self.arriving[conn]
        if answer:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self, *args, **kwargs):
        """gthread's sweep of idle connections (once a second at least), and of late arrivals."""
        super().murder_keepalived(*args, **kwargs)
        now = time.monotonic()
        late = [conn for conn, arrival in self.arriving.items() if arrival.deadline <= now or not self.alive]
        for conn in late:
            with self.poller_lock():
                self.poller.unregister(conn.sock)
            self.drop(conn, TIMEOUT_ANSWER)
