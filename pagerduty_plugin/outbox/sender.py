"""Durable event delivery through the outbox (state/outbox.py): a step writes its event first,
then tries its lane at once; a drainer (`outbox drain`, or `http` in the background) delivers the rest.

What an answer means for an event (by the error's class, errors.py):
- 2xx (even with a garbled body: a BadAnswer with a 2xx status): PagerDuty has it -> sent.
- 400, or an event that could not be sent at all (NotSent: too large, a malformed URL): PagerDuty
  will never take it -> dead, with its errors; the step fails as it does without an outbox. Other
  4xx except 408 and 429 (a wrong events_url, a proxy refusing), redirects, an answer too large
  -> dead too: retrying them would hide a setting that needs fixing.
- 429: the routing key rests as long as PagerDuty says, for every lane and drainer; the event's
  try does not count against it.
- 408, 5xx, a timeout or a network failure -> pending again; its lane (routing key + dedup key)
  alone backs off, until the outbox's limits make it dead. Resending an event that may have
  reached PagerDuty is harmless: its dedup key is fixed. Change events carry no key, so a resend
  after an uncertain first try may record the change twice.

Each outcome is recorded before the drainer's next send: a kill -9 resends at most the one send
that was in flight.
"""

import json
import threading
import time

from pagerduty_plugin.errors import AnswerTooLarge, BadAnswer, HttpRefusal, NetworkError, PluginError, redact
from pagerduty_plugin.state.outbox import key_ref, owner_id

SENT, RETRY, THROTTLED, DEAD = "sent", "retry", "throttled", "dead"
BATCH = 50  # lane heads a drainer claims at a time
LEASE_MARGIN = 15.0  # seconds a lease outlives the longest a send may take


def event_path(action):
    return "/change/enqueue" if action == "change" else "/enqueue"


def outcome_of(error):
    """SENT, RETRY, THROTTLED or DEAD for a failed send, by the error's kind."""
    if isinstance(error, NetworkError):
        return RETRY
    if isinstance(error, BadAnswer) and not isinstance(error, AnswerTooLarge):
        return SENT if 200 <= error.status < 300 else DEAD  # accepted; only its answer was garbled
    if isinstance(error, HttpRefusal):
        if error.status == 429:
            return THROTTLED
        if error.status == 408 or error.status >= 500:
            return RETRY
    return DEAD  # refused, too large, or never sendable


def describe(error, routing_key):
    """The error as stored in last_error: cause and PagerDuty's errors, never the routing key."""
    reasons = error.data.get("errors") or []
    if isinstance(error, HttpRefusal) and error.status == 400:
        reasons = []  # a 400's cause already lists PagerDuty's errors
    text = error.cause + (f" ({'; '.join(map(str, reasons))})" if reasons else "")
    return redact(text, [routing_key])[:1000]


def send_one(events, action, event):
    """One try: (SENT, reply) or (RETRY | THROTTLED | DEAD, PluginError)."""
    try:
        reply = events.send(event_path(action), event)
    except PluginError as error:
        outcome = outcome_of(error)
        return (SENT, {}) if outcome == SENT else (outcome, error)
    return SENT, reply


def record(store, owner, row, outcome, error, routing_key):
    """The outcome of one send, in the store before anything else is sent. Returns the row's new
    status: sent, pending (its lane backs off, or its key rests) or dead."""
    if outcome == SENT:
        store.sent(owner, row.id)
        return "sent"
    text = describe(error, routing_key)
    if outcome == DEAD:
        store.refused(owner, row.id, text)
        return "dead"
    if outcome == THROTTLED:
        store.throttled(owner, row.id, row.key_ref, text, error.retry_after)
        return "pending"
    return store.failed(owner, row.id, text)[0] or "pending"


# --- a step with the outbox on --------------------------------------------------------------


def send_durably(connection, event, action, log):
    """Write the event, then deliver its lane in order up to and including it.

    Returns PagerDuty's reply when it was delivered, or a `queued` reply when it is safely in the
    outbox for a drainer; raises the step's error when PagerDuty refused it (it is kept as dead)."""
    store = connection.outbox
    routing_key = event["routing_key"]
    ref = key_ref(routing_key)
    owner = owner_id()
    lease = step_lease(connection)
    body = {name: value for name, value in event.items() if name != "routing_key"}
    mine, lane, ahead, claimed = store.add(ref, body, action, owner, lease)
    rows = [own_row(mine, ref, body, action)] if claimed else store.claim(owner, {ref}, 1, lease, lane=lane)
    delivered_before = 0
    while rows:
        row = rows[0]
        result = send_one(connection.events, row.action, {**row.event, "routing_key": routing_key})
        status = record(store, owner, row, result[0], result[1] if result[0] != SENT else None, routing_key)
        if status == "sent":
            if row.id == mine:
                if delivered_before:
                    log.info(f"outbox: delivered {delivered_before} earlier event(s) of this dedup key first")
                return result[1]
            delivered_before += 1
        elif status == "dead":  # refused, or out of tries under the outbox's limits
            if row.id == mine:
                raise result[1]
            log.warning(f"outbox: an earlier event of this dedup key (#{row.id}) was given up, kept as dead")
        else:
            error = result[1]
            log.warning(f"outbox: {error.cause}; the event is kept in the outbox")
            return queued(store, error.cause if row.id == mine else
                          f"an earlier event of this dedup key could not be sent ({error.cause})", body)
        rows = store.claim(owner, {ref}, 1, lease, lane=lane)
    if ahead:
        why = (f"it waits behind {ahead} earlier event(s) of this dedup key that another sender holds or that "
               "wait for their next try")
    else:
        why = ("its routing key is out of budget for now (outbox_rate events a minute) or resting after PagerDuty "
               "answered 429")
    return queued(store, why, body)


def own_row(row_id, ref, body, action):
    from pagerduty_plugin.state.outbox import Row

    return Row(row_id, ref, "", body.get("dedup_key"), action, json.dumps(body), "sending", 0)


def queued(store, why, body):
    return {"status": "queued", "dedup_key": body.get("dedup_key"),
            "message": f"Not delivered yet: {why}. The event is safe in the outbox ({store.url}) and "
                       "`pagerduty-plugin outbox drain` (or a running `pagerduty-plugin http`) delivers it."}


def step_lease(connection):
    """A step's lease covers every retry its transport may make."""
    from pagerduty_plugin.client.http import RETRY_BUDGET

    tries = connection.get("max_retries", 3) + 1
    return connection.get("timeout", 30) * tries + min(RETRY_BUDGET, 30.0 * tries) + LEASE_MARGIN


# --- drainers ---------------------------------------------------------------------------------


class Drainer:
    """Delivers what is due in an outbox: `drain()` for one run (cron), `run_forever()` until its
    stop_event is set (`outbox drain --forever`, which `http` runs beside its workers).

    `keys`: the routing keys this drainer may send for; rows of other keys are left alone (a
    fleet may split its keys between drainers). Each send is tried once and its outcome recorded
    before the next: the outbox, not the transport, does the retrying, per lane.
    """

    def __init__(self, store, events, keys, log, batch=BATCH, lease=None, timeout=30):
        self.store, self.events, self.log = store, events, log
        self.keys = {key_ref(key): key for key in keys if key}
        self.batch = batch
        self.timeout = timeout
        self.lease = lease or 2 * timeout + 2 * LEASE_MARGIN
        self.owner = owner_id()
        self.totals = {SENT: 0, RETRY: 0, DEAD: 0}
        self.stop_event = threading.Event()

    # one pass ------------------------------------------------------------------------------
    def pass_once(self):
        """Claim up to `batch` lane heads and send each, recording each outcome before the next
        send; returns how many were claimed."""
        rows = self.store.claim(self.owner, set(self.keys), self.batch, self.lease)
        # a send starts only while it surely ends inside the lease: after that another drainer may
        # have taken the row, and a late resend could land behind the next event of its lane
        last_start = time.monotonic() + self.lease - self.timeout - LEASE_MARGIN
        resting, untried = set(), []
        for row in rows:
            if row.key_ref in resting or self.stop_event.is_set() or time.monotonic() > last_start:
                untried.append(row.id)  # its key just got a 429, or time is up
                continue
            self.send(row, resting)
        self.store.release(self.owner, untried)
        return len(rows)

    def send(self, row, resting):
        routing_key = self.keys[row.key_ref]
        result = send_one(self.events, row.action, {**row.event, "routing_key": routing_key})
        outcome, error = result[0], (result[1] if result[0] != SENT else None)
        status = record(self.store, self.owner, row, outcome, error, routing_key)
        if outcome == THROTTLED:
            resting.add(row.key_ref)
            self.log.warning(f"outbox: routing key {row.key_ref[:12]} rests after a 429")
        if status == "sent":
            self.totals[SENT] += 1
        elif status == "dead":
            self.totals[DEAD] += 1
            self.log.warning(f"outbox: event #{row.id} ({row.action}) kept as dead: {describe(error, routing_key)}")
        else:
            self.totals[RETRY] += 1

    # a run ---------------------------------------------------------------------------------
    def drain(self, until_empty=False, max_seconds=None, poll=1.0):
        """Deliver what is due. until_empty: keep going, waiting out back-offs, until no open event
        of our keys is left (or max_seconds). Returns a summary."""
        started = time.monotonic()
        deadline = None if max_seconds is None else started + max_seconds
        while not self.stop_event.is_set():
            if self.pass_once():
                if deadline is None or time.monotonic() < deadline:
                    continue
                break
            wait = self.store.next_due(set(self.keys))
            if wait is None or (not until_empty and wait > 0):
                break
            if deadline is not None:
                if time.monotonic() >= deadline:
                    break
                wait = min(wait, deadline - time.monotonic())
            self.stop_event.wait(min(max(wait, 0.05), poll))
        return self.summary(time.monotonic() - started)

    def summary(self, seconds):
        refs = set(self.keys)
        return {"sent": self.totals[SENT], "retried": self.totals[RETRY], "dead": self.totals[DEAD],
                "open": self.store.open_count(refs), "unknown_keys": self.store.unknown_keys(refs),
                "seconds": round(seconds, 2)}

    # in the background -------------------------------------------------------------------------
    def run_forever(self, poll=1.0):
        """Drain until stop_event is set, sleeping `poll` s when nothing is due; failures are
        logged and tried again, never raised (a server's drainer must not die of one bad row)."""
        while not self.stop_event.is_set():
            try:
                self.drain(until_empty=True, poll=poll)
            except PluginError as exc:
                self.log.warning(f"outbox: {exc.cause}")
            except Exception as exc:
                self.log.error(f"outbox: drain failed: {type(exc).__name__}: {exc}")
            self.stop_event.wait(poll)


def drainer_for(connection, log, extra_keys=(), **options):
    """A Drainer over the connection's outbox, sending with its events_url and timeout (no transport
    retries) for its routing_key and `extra_keys`."""
    if not connection.get("outbox"):
        raise PluginError("The connection has no outbox to drain",
                          "Set outbox (PAGERDUTY_OUTBOX), e.g. sqlite:// or postgresql://USER@HOST/DB.",
                          {"field": "outbox"})
    from pagerduty_plugin.client.events_api import EventsClient
    from pagerduty_plugin.client.http import Transport

    transport = Transport(timeout=connection.get("timeout", 30), max_retries=0, verify_tls=connection.tls_verify(),
                          log=log)
    events = EventsClient(transport, connection.events.base_url)
    keys = [key for key in (connection.get("routing_key"), *extra_keys) if key]
    return Drainer(connection.outbox, events, keys, log, timeout=connection.get("timeout", 30), **options)
