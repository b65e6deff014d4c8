"""The webhook delivery worker: one background thread POSTs signed v3 webhooks, as PagerDuty does.

- In order per (subscription, incident): a delivery waiting for its retry holds back the ones behind it
  in its lane; other lanes go on.
- 2xx delivered; 429, 5xx, timeouts and refused or broken connections retried with back-off (PagerDuty:
  5 tries over about 20 minutes; here a short, configurable schedule); any other answer dropped at once.
- Three consecutive dropped webhooks disable the subscription (`temporarily_disabled`) and drop what it
  still has queued, until POST /webhook_subscriptions/{id}/enable.
- The store lock is never held while sending: a delivery carries everything it needs, and the store is
  only consulted (briefly) before and after each attempt.
"""
import base64
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from urllib.parse import unquote, urlsplit

USER_AGENT = "PagerDuty-Webhook/V3.0"
MAX_BODY = 256 * 1024          # PagerDuty drops webhooks above 256 KB
DROPS_TO_DISABLE = 3
MAX_RECORDS = 2000             # delivery records kept for tests (oldest forgotten first)


class Policy:
    """The retry schedule: `backoff` seconds before the first retry, doubling up to `backoff_cap`,
    at most `max_attempts` tries in all; `timeout` seconds for each answer."""

    def __init__(self, backoff=0.2, backoff_cap=2.0, max_attempts=5, timeout=5.0):
        self.update(backoff=backoff, backoff_cap=backoff_cap, max_attempts=max_attempts, timeout=timeout)

    def update(self, **values):
        for name, value in values.items():
            if value is None:
                continue
            if name not in ("backoff", "backoff_cap", "max_attempts", "timeout"):
                raise ValueError(f"unknown setting {name!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 300:
                raise ValueError(f"{name} must be a number from 0 to 300")
            if name == "max_attempts" and (int(value) != value or value < 1):
                raise ValueError("max_attempts must be a whole number of at least 1")
            if name == "timeout" and value <= 0:
                raise ValueError("timeout must be more than 0 seconds")
            setattr(self, name, int(value) if name == "max_attempts" else float(value))

    def delay(self, attempts):
        """Seconds to wait after `attempts` failed tries."""
        return min(self.backoff * (2 ** (attempts - 1)), self.backoff_cap)

    def view(self):
        return {"backoff": self.backoff, "backoff_cap": self.backoff_cap, "max_attempts": self.max_attempts,
                "timeout": self.timeout}


def is_loopback(url):
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def signature(secret, body):
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Delivery:
    """One webhook for one subscription; `webhook_id` is the same on every try."""

    def __init__(self, subscription, body, event, incident_id):
        self.webhook_id = str(uuid.uuid4())
        self.subscription_id = subscription["id"]
        self.url = subscription["url"]
        self.secret = subscription["secret"]
        self.custom_headers = [(h["name"], h["value"]) for h in subscription["custom_headers"]]
        self.body = body
        self.event_id = event["id"]
        self.event_type = event["event_type"]
        self.incident_id = incident_id
        self.lane = (self.subscription_id, incident_id or "")
        self.created = time.time()
        self.due = 0.0
        self.status = "pending"
        self.attempts = []
        self.finished = None

    def headers(self):
        headers = [("Content-Type", "application/json"), ("User-Agent", USER_AGENT),
                   ("X-PagerDuty-Signature", signature(self.secret, self.body)),
                   ("X-Webhook-Id", self.webhook_id), ("X-Webhook-Subscription", self.subscription_id)]
        parts = urlsplit(self.url)
        if parts.username is not None:   # https://user:password@host/ : basic authentication
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode()))
        return headers + self.custom_headers

    def shown_url(self):
        """The URL without any user:password@."""
        parts = urlsplit(self.url)
        if parts.username is None:
            return self.url
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()

    def view(self):
        """What the /_sandbox/webhooks hook shows (never the secret or the signature)."""
        return {"webhook_id": self.webhook_id, "subscription_id": self.subscription_id,
                "event_id": self.event_id, "event_type": self.event_type, "incident_id": self.incident_id,
                "url": self.shown_url(), "status": self.status, "attempts": list(self.attempts),
                "created_at": self.created, "finished_at": self.finished}


class Deliverer:
    """Queue and worker. `on_outcome(subscription_id, dropped)` is called after each finished webhook,
    without any lock of ours held; it answers False when the subscription is gone or disabled (then
    its queued webhooks are dropped), and `still_wanted(subscription_id)` is asked before each try."""

    def __init__(self, policy=None, hosts="loopback"):
        if hosts not in ("loopback", "any"):
            raise ValueError("hosts must be loopback or any")
        self.policy = policy or Policy()
        self.hosts = hosts
        self.still_wanted = lambda subscription_id: True
        self.on_outcome = lambda subscription_id, dropped: True
        self._cond = threading.Condition()
        self._lanes = {}            # lane -> deque of Delivery, head first
        self._records = deque(maxlen=MAX_RECORDS)
        self._busy = False
        self._stopping = False
        self._thread = None
        self._conn = None

    # the queue -----------------------------------------------------------------------------
    def enqueue(self, delivery):
        """Non-blocking: safe to call with the store lock held."""
        with self._cond:
            self._records.append(delivery)
            self._lanes.setdefault(delivery.lane, deque()).append(delivery)
            self._cond.notify()

    def records(self):
        with self._cond:
            return [d.view() for d in self._records]

    def pending(self):
        with self._cond:
            return sum(len(lane) for lane in self._lanes.values()) + (1 if self._busy else 0)

    def wait_idle(self, timeout=10.0):
        """True once nothing is queued or being sent (retries included)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._lanes or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def clear(self):
        """Forget queued webhooks and the records (a sandbox reset)."""
        with self._cond:
            for lane in self._lanes.values():
                for delivery in lane:
                    self._finish(delivery, "cancelled")
            self._lanes.clear()
            self._records.clear()
            self._cond.notify_all()

    def drop_subscription(self, subscription_id, status="dropped"):
        with self._cond:
            for lane_key in [k for k in self._lanes if k[0] == subscription_id]:
                for delivery in self._lanes.pop(lane_key):
                    self._finish(delivery, status)
            self._cond.notify_all()

    # the worker ------------------------------------------------------------------------------
    def start(self):
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="pagerduty-sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self):
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            conn = self._conn
            self._cond.notify_all()
        if conn is not None and conn.sock is not None:   # interrupt a send in progress
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)

    def _run(self):
        while True:
            delivery = self._next()
            if delivery is None:
                return
            try:
                if self.still_wanted(delivery.subscription_id):
                    self._attempt(delivery)
                else:
                    self._settle(delivery, "cancelled")
            except Exception:  # noqa: BLE001 (a bug must not stop every later delivery)
                traceback.print_exc(file=sys.stderr)
                self._settle(delivery, "failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _next(self):
        """The head of the lane that is due first, once it is due (None when stopping)."""
        with self._cond:
            while not self._stopping:
                heads = [lane[0] for lane in self._lanes.values()]
                if heads:
                    head = min(heads, key=lambda d: (d.due, d.created))
                    wait = head.due - time.monotonic()
                    if wait <= 0:
                        self._busy = True
                        return head
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _attempt(self, delivery):
        started = time.time()
        if self.hosts == "loopback" and not is_loopback(delivery.url):
            delivery.attempts.append({"at": started, "status_code": None,
                                      "error": "not sent: the sandbox delivers webhooks to loopback addresses "
                                               "only (start it with --webhook-hosts any to change that)"})
            self._settle(delivery, "skipped")
            return
        if len(delivery.body) > MAX_BODY:
            delivery.attempts.append({"at": started, "status_code": None, "error": "larger than 256 KB"})
            self._settle(delivery, "dropped")
            return
        code, error = self._send(delivery)
        delivery.attempts.append({"at": started, "status_code": code, "error": error,
                                  "seconds": round(time.time() - started, 4)})
        if code is not None and 200 <= code < 300:
            self._settle(delivery, "delivered")
        elif (code is None and error != "tls") or code == 429 or (code is not None and code >= 500):
            if len(delivery.attempts) >= self.policy.max_attempts:
                self._settle(delivery, "failed")
            else:
                with self._cond:
                    delivery.due = time.monotonic() + self.policy.delay(len(delivery.attempts))
        else:
            self._settle(delivery, "dropped")

    def _send(self, delivery):
        """(status code, None) or (None, what went wrong)."""
        parts = urlsplit(delivery.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        try:
            conn = kind(parts.hostname, parts.port, timeout=self.policy.timeout)
        except (ValueError, http.client.HTTPException) as exc:
            return None, f"bad address: {exc}"
        try:
            conn.connect()
            with self._cond:   # from here stop() can interrupt the exchange
                if self._stopping:
                    return None, "sandbox stopping"
                self._conn = conn
            conn.putrequest("POST", target, skip_accept_encoding=True)
            for name, value in delivery.headers():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(delivery.body)))
            conn.endheaders(delivery.body)
            response = conn.getresponse()
            response.read(65536)
            return response.status, None
        except ssl.SSLError:
            return None, "tls"      # PagerDuty drops on TLS errors instead of retrying
        except (OSError, http.client.HTTPException) as exc:
            return None, type(exc).__name__ + (f": {exc}" if str(exc) else "")
        finally:
            with self._cond:
                self._conn = None
            conn.close()

    def _settle(self, delivery, status):
        """A webhook's last word: out of its lane, then the subscription's bookkeeping."""
        with self._cond:
            lane = self._lanes.get(delivery.lane)
            if lane and lane[0] is delivery:
                lane.popleft()
                if not lane:
                    del self._lanes[delivery.lane]
            self._finish(delivery, status)
        if status in ("delivered", "dropped", "failed"):
            keep = self.on_outcome(delivery.subscription_id, status != "delivered")
            if not keep:
                self.drop_subscription(delivery.subscription_id)

    @staticmethod
    def _finish(delivery, status):
        delivery.status = status
        delivery.finished = time.time()
