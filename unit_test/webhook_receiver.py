"""A test's own webhook receiver: http.server on 127.0.0.1 in a thread. It checks each webhook's
signature itself (hmac over the raw body, with the secrets the test registered) and answers the
status codes the test programmed (then 202)."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Received:
    def __init__(self, path, headers, raw):
        self.path = path
        self.headers = headers
        self.raw = raw
        self.body = json.loads(raw)
        self.event = self.body["event"]
        self.status = None       # what the receiver answered
        self.signed = False      # a v1 signature matched a registered secret

    @property
    def webhook_id(self):
        return self.headers.get("X-Webhook-Id")


class Receiver:
    def __init__(self):
        self.secrets = []
        self.received = []
        self.answers = []          # status codes to answer next, in order; then 202
        self.delay = 0.0           # seconds to wait before answering
        self.arrived = threading.Event()   # set when the first webhook comes in
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (stdlib name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                item = Received(self.path, dict(self.headers.items()), raw)
                item.signed = receiver.verify(self.headers.get("X-PagerDuty-Signature"), raw)
                receiver.arrived.set()
                with receiver._cond:
                    item.status = receiver.answers.pop(0) if receiver.answers else 202
                    delay = receiver.delay
                if delay:
                    time.sleep(delay)
                with receiver._cond:
                    receiver.received.append(item)
                    receiver._cond.notify_all()
                try:
                    self.send_response(item.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/pagerduty"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def verify(self, header, raw):
        if not header:
            return False
        offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
        expected = [hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest() for secret in self.secrets]
        return any(hmac.compare_digest(o, e) for o in offered for e in expected)

    def wait_for(self, count, timeout=10.0):
        """The first `count` webhooks received (fails when fewer arrive in time)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} webhooks, got {len(self.received)}: " \
                                 f"{[r.event['event_type'] for r in self.received]}"
                self._cond.wait(left)
            return list(self.received[:count])

    def events(self, ok_only=True):
        with self._cond:
            return [r.event for r in self.received if not ok_only or 200 <= r.status < 300]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False
