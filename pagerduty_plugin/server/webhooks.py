"""POST /webhooks/pagerduty: PagerDuty's signed v3 webhooks into the durable inbox.

PagerDuty signs the raw body: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256>[,v1=<hex>…]`, one
entry per secret while a secret rotates, so any entry matching any configured secret is valid.
PagerDuty never retries a 4xx (but 429) and disables a subscription after three dropped
deliveries; it retries 5xx and 429 for 48 hours. So only a request that can never succeed
(malformed: 400, forged: 403, too large: 413) gets a 4xx; trouble on our side answers 503.
The answer (202) comes only after the event is committed to the inbox. One writer thread per
worker commits the receipts that arrive together in one transaction: one fsync for many, and no
SQLite lock contention between the request threads (whose busy waits made p99 hundreds of ms).
"""

import hashlib
import hmac
import json
import queue
import sys
import threading

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE, Inbox
MAX_BODY = 256 * 1024  # PagerDuty drops events over 256 KB itself
SIGNATURE_HEADER = "x-pagerduty-signature"
INBOX_WAIT = 3.0  # seconds to wait for a busy inbox: well inside PagerDuty's 5 s
BATCH = 256  # receipts committed together at most
QUEUED = 4 * BATCH  # receipts waiting at most: beyond, 503 at once (PagerDuty retries) rather than memory
REQUIRED = ("id", "event_type", "resource_type", "occurred_at")


class Refused(Exception):
    def __init__(self, status, cause, assistance):
        super().__init__(cause)
        self.status, self.error = status, PluginError(cause, assistance)


class WebhookReceiver:
    def __init__(self, secrets, state):
        self.secrets = [secret.encode() for secret in secrets]
        self.writer = InboxWriter(state)

    def receive(self, headers, body):
        """(status, answer) for one delivery."""
        if not self.secrets:
            raise Refused(503, "This server has no webhook signing secret configured",
                          "Set PAGERDUTY_WEBHOOK_SECRETS (or --webhook-secrets-file) to the subscription's secret "
                          "and restart; PagerDuty retries for 48 hours.")
        if not body:
            raise Refused(400, "The webhook has an empty body", "PagerDuty sends one JSON event per request.")
        check_signature(headers.get(SIGNATURE_HEADER), body, self.secrets)
        event = parse_event(body)
        key = headers.get("x-webhook-id") or event["event"]["id"]
        new = self.writer.add(key, event)
        return 202, {"status": "accepted", "id": event["event"]["id"], "duplicate": not new}


class Receipt:
    def __init__(self, key, event):
        self.key, self.event = key, event
        self.done = threading.Event()
        self.new = None
        self.error = None


class InboxWriter:
    """The worker's one inbox writer: a thread that commits the queued receipts in batches."""

    def __init__(self, state):
        self.state = state
        self.queue = queue.Queue(QUEUED)
        self.thread = None
        self.lock = threading.Lock()
        self.failing = None  # why the latest batch could not be stored, until one is (the status says it)

    def add(self, key, event):
        """Whether the event was new, once committed; Refused (503) when the inbox cannot take it in time."""
        self.start()
        receipt = Receipt(key, event)
        try:
            self.queue.put_nowait(receipt)
        except queue.Full:
            raise Refused(503, "The inbox has too many webhooks waiting to be stored",
                          "PagerDuty retries; check the state directory's disk.") from None
        if not receipt.done.wait(INBOX_WAIT):
            raise Refused(503, "The inbox did not store the event in time", "PagerDuty retries; check the "
                          "state directory's disk.")
        if receipt.error is not None:
            raise Refused(503, f"The inbox could not store the event: {receipt.error}",
                          "PagerDuty retries; check the state directory's disk.")
        return receipt.new

    def start(self):
        with self.lock:  # started in the worker process, after gunicorn's fork
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.loop, name="inbox-writer", daemon=True)
                self.thread.start()

    def loop(self):
        inbox = None
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                inbox = inbox or Inbox(self.state, busy_timeout=INBOX_WAIT)
                for receipt, new in zip(batch, inbox.add_each(WEBHOOK_SOURCE, [(r.key, r.event) for r in batch])):
                    receipt.new = new
                if self.failing is not None:
                    say("webhooks: the inbox stores events again")
                self.failing = None
            except Exception as exc:  # sqlite, the lock file, the disk: this batch answers 503, the next retries
                inbox = close_quietly(inbox)  # its descriptors closed; opened again for the next batch
                if self.failing is None:  # said once, not per webhook: PagerDuty's retries would flood the log
                    say(f"warning: webhooks: the inbox cannot store events, each answered 503 (PagerDuty retries) "
                        f"until it can: {getattr(exc, 'cause', exc)}")
                self.failing = str(getattr(exc, "cause", exc))
                for receipt in batch:
                    receipt.error = exc
            for receipt in batch:
                receipt.done.set()


def say(line):
    """A line on the worker's stderr (the operator's log); the answers go to PagerDuty, not to them."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr gone: the status route still says it
        pass


def close_quietly(inbox):
    """Close a failed inbox (its SQLite connection and lock file); None."""
    if inbox is not None:
        try:
            inbox.close()
        except Exception:  # noqa: BLE001 - closing what already failed: nothing more to say
            pass
    return None


def check_signature(header, body, secrets):
    if not header:
        raise Refused(400, "The webhook has no X-PagerDuty-Signature header",
                      "Only signed v3 webhooks are accepted: create the subscription with the plugin's "
                      "create_webhook_subscription action or in PagerDuty's web app.")
    given = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    given = [value for value in given if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)]
    if not given:
        raise Refused(400, "The X-PagerDuty-Signature header has no usable v1= signature (64 hex digits)",
                      "PagerDuty signs with v1=<hex HMAC-SHA256>.")
    expected = [hmac.new(secret, body, hashlib.sha256).hexdigest().encode() for secret in secrets]
    # every pair is compared, in constant time, whatever matches first
    matches = [hmac.compare_digest(mine, theirs.lower().encode("ascii", "replace"))
               for mine in expected for theirs in given]
    if not any(matches):
        raise Refused(403, "The webhook's signature matches none of the configured secrets",
                      "Check PAGERDUTY_WEBHOOK_SECRETS against the subscription's secret (during a rotation, "
                      "configure both).")


def parse_event(body):
    try:
        event = json.loads(body.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(400, "The webhook body is not JSON", "PagerDuty sends one JSON event per request.") from None
    inner = event.get("event") if isinstance(event, dict) else None
    if not isinstance(inner, dict) or not all(isinstance(inner.get(key), str) and inner[key] for key in REQUIRED):
        raise Refused(400, "The webhook body is not a v3 event: it needs event.id, event_type, resource_type "
                           "and occurred_at", "Only v3 webhook subscriptions are supported.")
    if not isinstance(inner.get("data"), dict):
        raise Refused(400, "The webhook event has no data object", "Only v3 webhook subscriptions are supported.")
    return {"event": inner}


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")
