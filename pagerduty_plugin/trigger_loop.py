"""The generic trigger loop: input validated, the trigger found through the spec, its events
handed over from the inbox one at a time, each marked taken only once delivered.

A consumer is the trigger with its exact input: two cron jobs with different filters each get
every event they want. Delivery is at least once: an event is marked taken after its delivery
succeeded, so a consumer killed between the two hands that one event over again.
"""

import threading
import time

from pagerduty_plugin import runner, validate
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state.inbox import Inbox

INBOX_PERIOD = 1.0  # seconds between two looks at the inbox while waiting for the next poll

class TriggerRun:
    """consumer_prefix names a kind of consumer (runbooks have their own position in the inbox)."""

    def __init__(self, spec, name, raw_input, raw_connection, log, state=None, pool=None, consumer_prefix="",
                 stop=None):
        definition = spec.trigger(name)
        values = runner.prepare(spec, definition.get("input") or {}, raw_input, "input")
        self.values = validate.check(spec.trigger_input_schema(name), values, "input", name)
        connection = runner.open_connection(spec, raw_connection, log, pool, [name], "triggers")
        implementation = runner.load_object(spec.implementation(name, "triggers"))
        self.trigger = implementation(connection, log, self.values)
        self.name, self.log = name, log
        self.output_schema = spec.trigger_output_schema(name)
        self.inbox = Inbox(state)
        self.inbox.purge()  # events kept RETENTION_DAYS, whoever took them
        self.consumer = f"{consumer_prefix}{name}:{digest(self.values)}"
        self.stop = stop or threading.Event()  # set by a signal (or a caller) to end the loop between events
        self.next_poll = 0.0

    def run(self, deliver, once=False, interval=None):
        """Poll and hand events to deliver(event) until stopped (or, with once, one round).
        Returns how many events were delivered."""
        delivered = 0
        while not self.stop.is_set():
            delivered += self.round(deliver, interval, keep_going=not once)
            if once:
                return delivered
            self.stop.wait(max(0.0, min(self.next_poll - time.monotonic(), INBOX_PERIOD)))
        return delivered

    def round(self, deliver, interval=None, keep_going=False):
        """Poll PagerDuty when the trigger's interval (or `interval`) has passed, then hand over
        what the inbox holds for this consumer. keep_going: a failed poll is logged and tried again
        at the next interval (a long-running consumer outlives PagerDuty's outages); else it raises."""
        if time.monotonic() >= self.next_poll:
            self.next_poll = time.monotonic() + (self.trigger.interval if interval is None else interval)
            try:
                self.trigger.poll(self.inbox)
            except PluginError as exc:
                if not keep_going:
                    raise
                self.log.warning(f"{self.name}: the poll failed ({exc.cause}); trying again in "
                                 f"{self.next_poll - time.monotonic():.0f} s")
        return self.hand_over(deliver)

    def hand_over(self, deliver):
        delivered = 0
        while not self.stop.is_set():
            batch = self.inbox.pending(self.consumer, self.trigger.sources())
            if not batch:
                break
            for seq, event in batch:
                if self.stop.is_set():
                    break
                if self.trigger.wants(event["event"]) and self.valid(event):
                    deliver(event)  # raises when it could not: the event stays for the next run
                    delivered += 1
                self.inbox.taken(self.consumer, seq)
        return delivered

    def valid(self, event):
        try:
            validate.check(self.output_schema, event, "output", self.name)
            return True
        except PluginError as exc:  # stored, so PagerDuty sent it: say so rather than stop the trigger
            self.log.warning(f"{self.name}: event {event['event'].get('id')} does not match the trigger's "
                             f"output schema and is skipped: {exc.cause}")
            return False


def digest(values):
    """A short stable name for a set of inputs (which consumer; which poller)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
