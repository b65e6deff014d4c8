"""A consumer group: several processes (any hosts) with one consumer name share its events, for a
consumer whose order does not matter (`runbook serve`; `trigger --consumer` keeps its ordered,
exclusive lease: trigger_loop.py).

Each member claims the next event (BATCH) nobody has done nor holds (Inbox.claim: `FOR UPDATE
SKIP LOCKED` on PostgreSQL, SQLite's write transaction otherwise), with a lease on the store's clock
that its heartbeat renews, hands it to deliver() and marks it done; the group's position is the
low watermark of what is done. A member that dies leaves its claims to the others once their lease
ends; one that stops frees them at once. A group of one behaves as a lone consumer, out of order.
Each member is listed while it runs, idle or not (`state status`: last seen, claims held; gone
once not seen for longer than its lease), and leaves the list when it stops.
"""

from pagerduty_plugin.state import leases
from pagerduty_plugin.trigger_loop import Refused, TriggerRun

BATCH = 1  # events a member claims at a time: it holds only the one it runs, so one blocked in a long step
#           keeps nothing else from the others (its heartbeat renews what it holds)


class GroupRun(TriggerRun):
    """A member of the consumer group `consumer` (TriggerRun's arguments; no acks)."""

    def begin(self, wait):
        """The group's position (made for a new group); no lease to wait for: members share it."""
        self.start_position(shared=True)
        self.inbox.renew_claims(self.consumer, self.owner, leases.LEASE_SECONDS)  # listed as a member from now
        self.heartbeat = leases.Heartbeat(self.renew, leases.LEASE_SECONDS / 3, self.renew_failed).start()
        return True

    def renew(self):
        from pagerduty_plugin.state.inbox import Inbox

        if self.lease_inbox is None:
            self.lease_inbox = Inbox(self.state)
        self.lease_inbox.renew_claims(self.consumer, self.owner, leases.LEASE_SECONDS)
        self.renew_poll_lease()  # a member that polls holds its poller's lease too

    def end(self):
        """Stop as a member: claims freed (TriggerRun.end calls free()), off the members' list."""
        member = self.heartbeat is not None
        super().end()
        if member:
            try:
                self.inbox.leave(self.consumer, self.owner)
            except Exception:  # noqa: BLE001 - the store failed: listed as gone once its lease ends
                pass

    def free(self):
        """This member's claims not done, to the others at once (else their lease ends by itself)."""
        try:
            self.inbox.release_claims(self.consumer, self.owner)
        except Exception:  # noqa: BLE001 - the store failed too: the claims' lease ends by itself
            pass

    def hand_over(self, deliver):
        """Claim a batch, hand each event over and mark it done, until nothing is left to claim. An
        exception (deliver's, the store's) frees what is claimed and not done, for any member."""
        delivered = 0
        try:
            while not self.stop.is_set():
                batch, taken = self.inbox.claim(self.consumer, self.trigger.sources(), self.owner,
                                                leases.LEASE_SECONDS, limit=BATCH)
                for before, count in sorted(taken.items()):
                    self.log.warning(f"consumer {self.consumer}: taking over {count} event(s) claimed by {before}, "
                                     "whose lease ended")
                for seq, event in batch:
                    if self.stop.is_set():
                        break
                    delivered += self.hand(deliver, seq, event)
                    self.inbox.done(self.consumer, [seq])
                if not batch:
                    break
        except BaseException:
            self.free()
            raise
        if self.stop.is_set():
            self.free()
        return delivered

    def hand(self, deliver, seq, event):
        """1 when deliver() took the event, else 0 (filtered out, invalid, refused)."""
        if not (self.trigger.wants(event["event"]) and self.valid(event)):
            return 0
        try:
            deliver(event)
        except Refused as exc:
            self.log.error(f"{self.name}: event {event['event']['id']} was refused for good ({exc}); kept as a dead "
                           "letter (`pagerduty-plugin dead-letters list`)")
            self.inbox.dead_letter(self.consumer, seq, event["event"]["id"], str(exc))
            return 0
        return 1
