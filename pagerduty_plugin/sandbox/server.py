"""The HTTP layer: ThreadingHTTPServer over HTTP/1.1 keep-alive; the logic lives in pipeline.py."""
import socket
import ssl
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 16 * 1024 * 1024
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "_lowered")

    def __init__(self, method, target, headers, body):
        split = urlsplit(target)
        self.method = method
        self.path = split.path or "/"
        self.query = parse_qs(split.query, keep_blank_values=True) if split.query else {}
        self.headers = headers     # as sent (the journal shows them so)
        self.body = body
        self._lowered = {name.lower(): value for name, value in headers.items()}

    def header(self, name):
        """A header's value whatever case the client wrote its name in (None when absent)."""
        return self._lowered.get(name.lower())


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers=(), body=b""):
        self.status = status          # None: close the connection without answering
        self.headers = list(headers)
        self.body = body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PagerDutySandbox/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this many seconds

    def setup(self):
        context = self.server.ssl_context
        if context is not None:   # the TLS handshake runs here, in the connection's own thread
            self.request.settimeout(10)
            self.request = context.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format, *args):  # noqa: A002 (stdlib signature)
        if self.server.verbose:
            sys.stderr.write("sandbox: %s - %s\n" % (self.address_string(), format % args))

    def _serve(self):
        try:
            body = self._read_body()
        except ValueError as exc:
            self._write(Response(400 if "length" in str(exc) else 413, [], b""), close=True)
            return
        headers = {name: value for name, value in self.headers.items()}
        try:
            request = Request(self.command, self.path, headers, body)
        except ValueError:   # e.g. a request target urlsplit cannot read
            self._write(Response(400, [("Content-Type", "application/json")],
                                 b'{"error":{"message":"Invalid Input Provided","code":2001,'
                                 b'"errors":["unreadable request target"]}}'), close=True)
            return
        response = self.server.dispatcher.dispatch(request)
        if response.status is None:          # a "drop" fault: hang up without a word
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._write(response)
        if self.server.verbose:
            self.log_request(response.status, len(response.body))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise ValueError("bad content length") from None
        if size < 0:
            raise ValueError("bad content length")
        if size > MAX_BODY:
            raise ValueError("too large")
        return self.rfile.read(size)

    def _read_chunked(self):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise ValueError("bad chunk length") from None
            if size < 0:
                raise ValueError("bad chunk length")
            if size == 0:
                while self.rfile.readline(65537).strip():
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise ValueError("too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _write(self, response, close=False):
        """Status line, headers and body in one write (no Nagle stalls on keep-alive)."""
        body = response.body if self.command != "HEAD" else b""
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}",
                 f"Server: {self.server_version}",
                 f"Date: {self.server.http_date()}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append(f"Content-Length: {len(response.body)}")
        if close or self.close_connection:
            self.close_connection = True
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, dispatcher, verbose=False, ssl_context=None):
        self.dispatcher = dispatcher
        self.verbose = verbose
        self.ssl_context = ssl_context   # HTTPS when given
        self._connections = set()
        self._conn_lock = threading.Lock()
        self._date = (0, "")
        super().__init__(address, Handler)

    def track(self, conn, alive):
        with self._conn_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def http_date(self):
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)))
        return self._date[1]

    def stop(self):
        """shutdown() without waiting out serve_forever's poll interval: poke the listening socket
        until the loop has noticed (each poke is an empty connection, answered with nothing)."""
        waiter = threading.Thread(target=self.shutdown, daemon=True)
        waiter.start()
        host, port = self.server_address[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        while waiter.is_alive():
            try:
                socket.create_connection((host, port), timeout=0.2).close()
            except OSError:
                pass
            waiter.join(0.01)
        self.close_connections()
        self.server_close()

    def close_connections(self):
        """Hang up idle keep-alive clients so their handler threads end."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client vanishing mid-answer is not our bug; anything else is worth a line on stderr.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout, ssl.SSLError)):
            return
        super().handle_error(request, client_address)
