"""A small purpose-built HTTP server for one test: http.server in a thread on 127.0.0.1.

It plays what the sandbox would not: a server that redirects, drips its answer, caps pages,
echoes credentials. `answer(request)` decides each reply; every request is recorded.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict
    headers: dict
    body: bytes
    peer: tuple = None  # the client's (host, port): one port, one kept-alive connection


@dataclass
class Reply:
    status: int = 200
    body: object = b""  # bytes, or a JSON value
    headers: dict = field(default_factory=dict)
    drip: float = 0.0  # seconds between single bytes of the body (a slow-drip answer)
    drip_headers: float = 0.0  # seconds between single bytes of the status line and headers


class HostileServer:
    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()),
                                  self.rfile.read(length) if length else b"", self.client_address)
                server.requests.append(request)
                server.reply(self, server.answer(request))

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def reply(self, handler, reply):
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        head = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(body)}",
                f"Content-Type: {'application/json' if not isinstance(reply.body, bytes) else 'text/plain'}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode()
        try:
            if not (reply.drip or reply.drip_headers):  # one write: no delayed-ACK wait between parts
                raw_head, body = raw_head + body, b""
            self.send_slowly(handler, raw_head, reply.drip_headers)
            self.send_slowly(handler, body, reply.drip)
        except OSError:  # the client gave up: that is what a hostile test expects
            handler.close_connection = True

    @staticmethod
    def send_slowly(handler, data, pause):
        if not pause:
            handler.wfile.write(data)
            handler.wfile.flush()
            return
        for i in range(len(data)):
            handler.wfile.write(data[i:i + 1])
            handler.wfile.flush()
            time.sleep(pause)


def connection_to(url, **settings):
    """Connection settings that point both APIs at url (keys shaped like PagerDuty's)."""
    return {"api_key": "u+Hostile_Canary-9Zq", "routing_key": "R0UTINGKEYCANARY0000000000000042",
            "from_email": "bot@example.com", "api_url": url, "events_url": url + "/v2",
            "timeout": 5, "max_retries": 0, **settings}
