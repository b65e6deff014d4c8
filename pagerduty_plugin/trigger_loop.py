"""The generic trigger loop: input validated, the trigger found through the spec, its events
handed over from the inbox one at a time, each marked taken only once its consumer has it.

The delivery contract (README, "Every event reaches every consumer once"): at least once, each
event carrying its id for de-duplication. An event is taken when the consumer has it: the
dispatcher answered 2xx, the reader acknowledged it (`trigger --ack FILE`), or without --ack once
the reader has read it out of the pipe (written and flushed, for a file). A consumer is what its operator names it (`--consumer NAME`,
the platform's trigger id): one live process owns its position at a time (a lease in the inbox),
and a new consumer starts at the newest event unless told to replay.

A polling trigger polls on one host at a time: its poller (the trigger with its PagerDuty filters)
has a lease of its own in the inbox, taken when a poll is due and renewed with the consumer's.
The other processes of that poller skip their polls and hand over what the holder stores (the
inbox is shared), so two hosts, or two consumers of one poller, never poll it twice over; when
the holder dies, the next process whose poll is due takes the lease once it has run out. The lease
is checked again by every write of a poll, in the write's own transaction (PolledInbox): a holder
paused past its lease while another took it over stores nothing more and leaves the cursor alone.
"""

import threading
import time
from collections import OrderedDict

from pagerduty_plugin import runner, validate
from pagerduty_plugin.acks import PipeReads
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state import leases
from pagerduty_plugin.state.inbox import RETENTION_DAYS, Inbox, LeaseLost

INBOX_PERIOD = 1.0  # seconds between two looks at the inbox while waiting for the next poll
PURGE_PERIOD = 3600.0  # seconds between two purges of the events past retention, by a long-running consumer
ACK_WINDOW = 1000  # events handed over and not yet acknowledged, at most (a long-running --ack reader)


class Refused(Exception):
    """The destination refused an event for good (e.g. a 4xx): it goes to the dead letters, the rest goes on."""


class TriggerRun:
    """consumer: the operator's name for this consumer (default: the trigger's name); replay: a new
    consumer starts from the oldest event kept instead of the newest; acks: an AckFile (plain
    `trigger --ack`) or PipeReads (stdout a pipe), which say when the consumer has an event; else it
    is taken once deliver() returns."""

    def __init__(self, spec, name, raw_input, raw_connection, log, state=None, pool=None, consumer=None,
                 stop=None, replay=False, acks=None, retention_days=RETENTION_DAYS, owner=None, legacy_prefix=""):
        definition = spec.trigger(name)
        values = runner.prepare(spec, definition.get("input") or {}, raw_input, "input")
        self.values = validate.check_against_schema(spec.trigger_input_schema(name), values, "input", name)
        connection = runner.open_connection(spec, raw_connection, log, pool, [name], "triggers")
        implementation = runner.load_object(spec.implementation(name, "triggers"))
        self.trigger = implementation(connection, log, self.values)
        self.name, self.log, self.state = name, log, state
        self.output_schema = spec.trigger_output_schema(name)
        self.inbox = Inbox(state)
        self.retention_days = retention_days
        self.consumer = consumer or name
        self.purge()
        self.next_purge = time.monotonic() + PURGE_PERIOD
        self.replay, self.acks = replay, acks
        self.legacy = f"{legacy_prefix}{name}:{digest(self.values)}"  # the digest name of earlier versions
        self.owner = owner or leases.owner_id()  # runbook serve: one owner for its consumers and its runs
        self.heartbeat = None
        self.polling = None  # whether this process holds its poller's lease (None: not asked yet)
        self.lease_inbox = None  # the heartbeat's own connection (it renews from its own thread)
        self.stop = stop or threading.Event()  # set by a signal (or a caller) to end the loop between events
        self.next_poll = 0.0
        self.read_upto = 0  # the last seq read this run (handed over, or awaiting its acknowledgement)
        self.track = OrderedDict()  # seq -> event id awaiting acknowledgement, or None once done

    def purge(self):
        """Retention (Inbox.purge): what it dropped before a consumer took it is said, and counted in
        `state status`."""
        for consumer, count in sorted(self.inbox.purge(self.retention_days).items()):
            self.log.warning(f"retention: {count} event(s) older than {self.retention_days:g} days were deleted "
                             f"before the consumer {consumer} took them (`pagerduty-plugin state status` counts them)")
        for consumer, days in self.inbox.set_aside_vanished(self.retention_days, in_use=self.consumer):
            self.log.warning(f"retention: the consumer {consumer} was last used {days:.0f} days ago, longer than "
                             "events are kept: set aside as dormant, the events it has not taken are no longer kept "
                             "for it (it resumes from its position if it comes back)")

    # --- owning the consumer --------------------------------------------------------------------

    def begin(self, wait):
        """Take the consumer's lease and say where it starts. A live holder: wait for it (False if
        stopped meanwhile) or, without wait, refuse."""
        said = False
        while True:
            holder = self.inbox.acquire(self.consumer, self.owner, leases.LEASE_SECONDS)
            if holder is not None and leases.died_here(holder["owner"]):
                self.log.info(f"consumer {self.consumer}: taking over from {holder['owner']}, which died")
                holder = self.inbox.acquire(self.consumer, self.owner, leases.LEASE_SECONDS, dead=holder["owner"])
            if holder is None:
                break
            if not wait:
                raise PluginError(f"The consumer {self.consumer} is in use by {holder['owner']} (its lease runs "
                                  f"{holder['expires_in']} s more unless renewed)",
                                  "One process per consumer name: stop the other one, or give this one another "
                                  "--consumer NAME.")
            if not said:
                self.log.warning(f"consumer {self.consumer}: in use by {holder['owner']}; waiting until it stops "
                                 f"(its lease expires {holder['expires_in']} s after its last renewal)")
                said = True
            if self.stop.wait(min(1.0, max(0.1, holder["expires_in"]))):
                return False
        self.start_position()
        self.heartbeat = leases.Heartbeat(self.renew, leases.LEASE_SECONDS / 3, self.renew_failed).start()
        return True

    def start_position(self, shared=False):
        """The consumer's position (made for a new one), said on the log. shared: a consumer group's."""
        how, seq = self.inbox.begin(self.consumer, self.replay, self.legacy, sources=self.trigger.sources(),
                                    shared=shared)
        self.log.info(f"consumer {self.consumer}: " + {
            "resumed": f"resuming after event #{seq}",
            "adopted": f"new, resuming after event #{seq}, where {self.legacy} (this trigger with this input, as "
                       "consumers were named before) had stopped",
            "newest": f"new, starting after the newest event kept (#{seq}); --replay hands over every event kept",
            "replay": "new, replaying every event kept"}[how])
        if how == "resumed" and self.replay:
            self.log.info(f"consumer {self.consumer}: --replay applies to a new consumer only")

    def renew(self):
        if self.lease_inbox is None:
            self.lease_inbox = Inbox(self.state)
        try:
            self.lease_inbox.renew(self.consumer, self.owner, leases.LEASE_SECONDS)
        except LeaseLost as exc:
            self.log.error(f"{exc.cause}: stopping")
            self.stop.set()
        self.renew_poll_lease()

    def renew_poll_lease(self):
        if self.polling:
            try:
                self.lease_inbox.renew(self.trigger.poll_lease, self.owner, leases.LEASE_SECONDS)
            except LeaseLost as exc:  # it ran out (this process stalled) and another took it: it polls now
                self.log.warning(f"{self.trigger.poll_lease}: {exc.cause}; this process stops polling")
                self.polling = False

    def renew_failed(self, exc):
        self.log.warning(f"consumer {self.consumer}: the lease could not be renewed ({getattr(exc, 'cause', exc)});"
                         " trying again")

    def end(self):
        """Give the consumer up (its lease released; a later run() takes it again)."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
            if self.lease_inbox is not None:
                self.lease_inbox.close()
                self.lease_inbox = None
            self.free()
            self.heartbeat = None
        self.release_poll_lease()
        self.read_upto = 0
        self.track.clear()

    def free(self):
        """The consumer's lease, released (else it expires by itself)."""
        try:
            self.inbox.release(self.consumer, self.owner)
        except Exception:  # noqa: BLE001 - a store gone read-only: the lease expires by itself
            pass

    def close(self):
        self.end()
        self.inbox.close()

    # --- the loop -------------------------------------------------------------------------------

    def run(self, deliver, once=False, interval=None):
        """Poll and hand events to deliver(event) until stopped (or, with once, one round).
        Returns how many events were delivered."""
        delivered = 0
        if not self.begin(wait=not once):
            return delivered
        try:
            while not self.stop.is_set():
                try:
                    delivered += self.round(deliver, interval, keep_going=not once)
                except LeaseLost:
                    raise
                except PluginError as exc:  # the store unreachable a while (a database restarting): said, retried
                    if once:
                        raise
                    self.log.warning(f"{self.name}: {exc.cause}; the events not taken are tried again")
                if once:
                    break
                self.stop.wait(max(0.0, min(self.next_poll - time.monotonic(), INBOX_PERIOD)))
            if isinstance(self.acks, PipeReads) and self.drain() and self.acks.reader_gone():
                raise BrokenPipeError("the reader left events unread in the pipe")
        finally:
            self.end()
        return delivered

    def round(self, deliver, interval=None, keep_going=False):
        """Poll PagerDuty when the trigger's interval (or `interval`) has passed, then hand over
        what the inbox holds for this consumer. keep_going: a failed poll is logged and tried again
        at the next interval (a long-running consumer outlives PagerDuty's outages); else it raises."""
        if time.monotonic() >= self.next_purge:
            self.next_purge = time.monotonic() + PURGE_PERIOD
            self.purge()
        if time.monotonic() >= self.next_poll:
            self.next_poll = time.monotonic() + (self.trigger.interval if interval is None else interval)
            try:
                if self.holds_poll_lease():
                    self.trigger.poll(self.polled_inbox())
            except LeaseLost as exc:  # paused past the lease mid-poll, and another process polls now
                self.polling = False
                self.log.warning(f"{self.trigger.poll_lease}: {exc.cause} (this process stalled longer than the "
                                 "lease during its poll): the poll stops; its new holder stores the events and "
                                 "moves the cursor")
            except PluginError as exc:
                if not keep_going:
                    raise
                self.log.warning(f"{self.name}: the poll failed ({exc.cause}); trying again in "
                                 f"{self.next_poll - time.monotonic():.0f} s")
        return self.hand_over(deliver)

    def holds_poll_lease(self):
        """Whether this process polls now: it holds (or has just taken) its poller's lease. A trigger
        without a poller (webhooks) needs none. Said on stderr when it changes."""
        lease = self.trigger.poll_lease
        if lease is None:
            return True
        holder = self.inbox.acquire(lease, self.owner, leases.LEASE_SECONDS)
        if holder is not None and leases.died_here(holder["owner"]):
            holder = self.inbox.acquire(lease, self.owner, leases.LEASE_SECONDS, dead=holder["owner"])
        if holder is None and not self.polling:
            self.log.info(f"{lease}: this process polls it now")
        elif holder is not None and self.polling is not False:
            self.log.info(f"{lease}: polled by {holder['owner']}; this process hands over what it stores "
                          f"(and polls once that lease runs out, {holder['expires_in']} s unless renewed)")
        self.polling = holder is None
        return self.polling

    def polled_inbox(self):
        """The inbox as the poll writes it: under this process's poller lease (a trigger without one
        writes nothing)."""
        if self.trigger.poll_lease is None:
            return self.inbox
        return PolledInbox(self.inbox, (self.trigger.poll_lease, self.owner))

    def release_poll_lease(self):
        if self.polling:
            try:
                self.inbox.release(self.trigger.poll_lease, self.owner)
            except Exception:  # noqa: BLE001 - a store gone away: the lease runs out by itself
                pass
        self.polling = None

    def hand_over(self, deliver):
        """Every event not taken yet, oldest first, to deliver(event). An exception (deliver's, the
        store's) leaves every event not yet taken for the next round or run."""
        try:
            delivered = self.retry_dead_letters(deliver)
            while not self.stop.is_set():
                self.apply_acks()
                if self.acks is not None and len(self.track) >= ACK_WINDOW:
                    if not isinstance(self.acks, PipeReads) or self.acks.reader_gone():
                        break  # the reader is behind: its acknowledgements are looked for next round
                    self.stop.wait(0.01)  # a pipe's reader reads on: wait for it
                    continue
                batch = self.inbox.pending(self.consumer, self.trigger.sources(), after=self.read_upto)
                if not batch:
                    if self.acks is not None and not self.track:
                        self.acks.clear()  # every acknowledgement in it is applied
                    break
                for seq, event in batch:
                    if self.stop.is_set():
                        break
                    delivered += self.hand(deliver, seq, event)
            return delivered
        except BaseException:
            self.salvage()
            raise

    def salvage(self):
        """After a failure: what the reader acknowledged so far is still taken (best effort); the
        rest is read again from the position stored."""
        try:
            self.apply_acks()
        except Exception:  # noqa: BLE001 - the store or the reader failed too: at least once, then
            pass
        self.read_upto = 0
        self.track.clear()

    def hand(self, deliver, seq, event):
        """1 when deliver() took the event, else 0 (filtered out, invalid, acknowledged before, refused)."""
        self.read_upto = seq
        event_id = event["event"]["id"]
        handed = 0
        if self.trigger.wants(event["event"]) and self.valid(event) and not self.acknowledged(event_id):
            try:
                deliver(event)  # raises when it could not: the event stays for the next round
                handed = 1
            except Refused as exc:
                self.log.error(f"{self.name}: event {event_id} was refused for good ({exc}); kept as a dead "
                               f"letter (`pagerduty-plugin dead-letters list`)")
                self.inbox.dead_letter(self.consumer, seq, event_id, str(exc), self.owner)
        self.track[seq] = event_id if handed and self.acks is not None else None
        self.advance()
        return handed

    def acknowledged(self, event_id):
        return self.acks is not None and event_id in self.acks.ids

    def apply_acks(self):
        if self.acks is None:
            return
        ids = self.acks.read()
        for seq, event_id in self.track.items():
            if event_id in ids:
                self.track[seq] = None
                ids.discard(event_id)  # applied: a reader that always lags keeps the set small
        self.advance()

    def drain(self, period=0.01):
        """Wait until every event handed over is acknowledged (or read out of the pipe), the reader
        is gone, or the loop is stopped; what is left is handed over again at the next run."""
        while self.acks is not None and self.track and not self.stop.is_set():
            self.apply_acks()
            if not self.track or self.acks.reader_gone():
                break
            self.stop.wait(period)
        return len(self.track)

    def advance(self):
        """Move the stored position past the events at the front that are done."""
        last = None
        while self.track and next(iter(self.track.values())) is None:
            last, _ = self.track.popitem(last=False)
        if last is not None:
            self.inbox.taken(self.consumer, last, self.owner)

    def retry_dead_letters(self, deliver):
        delivered = 0
        for seq, event in self.inbox.to_retry(self.consumer):
            try:
                deliver(event)
            except Refused as exc:
                self.inbox.dead_letter(self.consumer, seq, event["event"]["id"], str(exc), self.owner)
                continue
            self.inbox.delivered_again(self.consumer, seq)
            delivered += 1
        return delivered

    def valid(self, event):
        try:
            validate.check_against_schema(self.output_schema, event, "output", self.name)
            return True
        except PluginError as exc:  # stored, so PagerDuty sent it: say so rather than stop the trigger
            self.log.warning(f"{self.name}: event {event['event'].get('id')} does not match the trigger's "
                             f"output schema and is skipped: {exc.cause}")
            return False


class PolledInbox:
    """What a poll reads and writes of the inbox, each write checking in its own transaction that
    `lease` (poller lease name, owner) is still ours (a fencing check): the poll's events and cursor
    are stored only under the lease they were polled under, else LeaseLost."""

    def __init__(self, inbox, lease):
        self.inbox, self.lease = inbox, lease

    def cursor(self, name):
        return self.inbox.cursor(name)

    def add_many(self, source, keyed_events, cursor=None):
        return self.inbox.add_many(source, keyed_events, cursor, lease=self.lease)

    def unstage_all(self, source):
        return self.inbox.unstage_all(source, lease=self.lease)

    def stage(self, source, sorted_keyed):
        return self.inbox.stage(source, sorted_keyed, lease=self.lease)

    def store_staged(self, source, cursor):
        return self.inbox.store_staged(source, cursor, lease=self.lease)


def digest(values):
    """A short stable name for a set of inputs (which consumer; which poller)."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]
