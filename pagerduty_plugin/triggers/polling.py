"""Polling triggers, for users who cannot receive webhooks.

GET /incidents cannot filter on updated_at, whether `since` is inclusive is undocumented, a
window may span at most 6 months and offsets stop at 10,000. So each poll reads a window that
overlaps the previous one by OVERLAP, and the inbox keeps each incident (or log entry) once per
poller by its id: an incident at the boundary of two polls, or re-read after a crash, is
emitted once. The cursor is PagerDuty's own time when the poll began (the first answer's Date
header; else the newest created_at seen), never this host's clock, so a host whose clock is
ahead skips nothing. It is written in the same transaction as the poll's last page, so it only
moves past events that are already in the inbox. At the 10,000 cap the next window starts a
second before the last item read (overlap, not a gap); a window that cannot move on fails the
poll and leaves the cursor. Log entries come newest first: they are staged on disk page by page
and stored oldest first at the end, so memory holds one page, not the window.
"""

from datetime import datetime, timedelta, timezone

from email.utils import parsedate_to_datetime

from pagerduty_plugin.compat import fromisoformat
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.state.inbox import RETENTION_DAYS
from pagerduty_plugin.trigger_loop import digest
from pagerduty_plugin.triggers.base import Trigger, matches_filters

OVERLAP = timedelta(minutes=5)  # PagerDuty lists a new incident a little after its created_at
FIRST_LOOKBACK = timedelta(hours=1)  # a new poller starts with the last hour
MAX_WINDOW = timedelta(days=179)  # PagerDuty refuses since/until windows over 6 months
# log entry types -> the v3 webhook event types they correspond to; the rest (notifications,
# snoozes, urgency changes …) have no v3 event and are not emitted
LOG_ENTRY_EVENTS = {
    "trigger_log_entry": "incident.triggered",
    "acknowledge_log_entry": "incident.acknowledged",
    "unacknowledge_log_entry": "incident.unacknowledged",
    "resolve_log_entry": "incident.resolved",
    "assign_log_entry": "incident.reassigned",
    "delegate_log_entry": "incident.delegated",
    "escalate_log_entry": "incident.escalated",
    "annotate_log_entry": "incident.annotated",
}


class Poller(Trigger):
    kind = None  # the trigger's name, part of its inbox source

    def __init__(self, connection, log, params):
        super().__init__(connection, log, params)
        self.interval = float(params.get("interval", 60))
        self.source = f"{self.kind}:{digest(self.query())}"
        self.poll_lease = f"poller:{self.source}"  # one process polls this source at a time (trigger_loop)
        self.began = self.newest = self.before = None  # the current poll's clock readings (note_page)

    def sources(self):
        return [self.source]

    def wants(self, event):
        return matches_filters(event, self.params)

    def query(self):
        """The PagerDuty filters of this poller (what makes it a different poller)."""
        raise NotImplementedError

    def poll(self, inbox):
        now = datetime.now(timezone.utc)  # only for a new poller's first window and the 6-month bound
        cursor = inbox.cursor(self.source)
        since = self.since(parse_time(cursor), now) if cursor else self.start(now) - OVERLAP
        if now - since > MAX_WINDOW:
            self.log.warning(f"{self.kind}: the last poll was over 6 months ago; reading the last 179 days only")
            since = now - MAX_WINDOW
        self.connection.rest.transport.last_date = None
        self.began, self.newest, self.before = None, None, parse_time(cursor) if cursor else since
        found = self.store(inbox, since, max(now, since) + OVERLAP)
        if found:
            self.log.info(f"{self.kind}: {found} new event(s) since {iso(since)}")

    def since(self, cursor, now):
        """The window's start: the cursor less the overlap, unless the events of that overlap were
        purged from the inbox meanwhile (stopped longer than the retention: they would come again)."""
        if now - cursor > timedelta(days=RETENTION_DAYS):
            return cursor
        return cursor - OVERLAP

    def store(self, inbox, since, until):
        """Read the window into the inbox, the cursor with its last page; how many were new."""
        found = 0
        for keyed in self.windows(since, until):
            found += inbox.add_many(self.source, keyed)
        return found + inbox.add_many(self.source, [], cursor=(self.source, iso(self.end_of_poll())))

    def end_of_poll(self):
        """Where the next poll's window starts (before its overlap): PagerDuty's time of the
        poll's first answer, else the newest created_at seen, else where this one started from."""
        return self.began or max(filter(None, (self.newest, self.before)))

    def note_page(self, page):
        """PagerDuty's clock, from the first answer of the poll, and the newest created_at seen."""
        if self.began is None:
            self.began = server_time(self.connection.rest.transport.last_date)
        for item in page:
            if item.get("created_at"):
                created = parse_time(item["created_at"])
                self.newest = created if self.newest is None or created > self.newest else self.newest

    def start(self, now):
        given = self.params.get("since")
        return parse_time(given) if given else now - FIRST_LOOKBACK

    def windows(self, since, until):
        """Lists of (key, event) read from PagerDuty, page by page. Past the 10,000 offset cap
        the next window starts at the last item read (the overlap is de-duplicated)."""
        raise NotImplementedError

    def read(self, path, key, params, since, until, oldest_first=True):
        """Every page of the window. At the 10,000 offset cap the window shrinks to what is left
        beyond the last item read, a second of overlap included (later items when listed oldest
        first, earlier ones otherwise); a window that cannot shrink fails the poll."""
        rest = self.connection.rest
        until = until + timedelta(seconds=1)  # rounded up: an item of this very second is not left out
        while True:
            pages = rest.pages(path, key, {**params, "since": iso(since), "until": iso(until)})
            last = None
            for page in pages:
                self.note_page(page)
                if page and page[-1].get("created_at"):
                    last = parse_time(page[-1]["created_at"])
                yield page
            if not pages.truncated or last is None:
                return
            narrower = (last - timedelta(seconds=1), until) if oldest_first else (since, last + timedelta(seconds=1))
            if narrower[1] - narrower[0] >= until - since:
                raise PluginError(f"{self.kind}: over 10,000 items of {path} within {iso(since)} .. {iso(until)}",
                                  "PagerDuty lists at most 10,000; narrow the trigger's filters. The cursor stays "
                                  "where it was, so nothing is skipped.")
            since, until = narrower


class NewIncident(Poller):
    kind = "new_incident"

    def query(self):
        names = {"services": "service_ids[]", "teams": "team_ids[]", "urgencies": "urgencies[]",
                 "statuses": "statuses[]"}
        return {param: self.params[field] for field, param in names.items() if self.params.get(field)}

    def windows(self, since, until):
        params = {**self.query(), "sort_by": "created_at:asc"}
        for page in self.read("/incidents", "incidents", params, since, until):
            yield [(incident["id"], incident_event(incident)) for incident in page if incident.get("id")]


class IncidentChanged(Poller):
    kind = "incident_changed"

    def query(self):
        return {"team_ids[]": self.params["teams"]} if self.params.get("teams") else {}

    def store(self, inbox, since, until):
        """Pages come newest first: each is staged on disk, then the window is stored oldest first."""
        inbox.unstage_all(self.source)
        params = {**self.query(), "is_overview": "true", "include[]": ["incidents"]}
        for page in self.read("/log_entries", "log_entries", params, since, until, oldest_first=False):
            inbox.stage(self.source, [(entry.get("created_at") or "", entry["id"], event) for entry in page
                                      if entry.get("id") and (event := change_event(entry)) is not None])
        return inbox.store_staged(self.source, (self.source, iso(self.end_of_poll())))


def incident_event(incident):
    """A new incident as PagerDuty's incident.triggered webhook event."""
    return {"event": {
        "id": f"poll-{incident['id']}", "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": incident.get("created_at"), "agent": None, "client": None,
        "data": {**incident, "type": "incident"},
    }}


def change_event(entry):
    """A log entry as the v3 webhook event it corresponds to, or None."""
    event_type = LOG_ENTRY_EVENTS.get(entry.get("type"))
    if event_type == "incident.reassigned" and (entry.get("agent") or {}).get("type") != "user_reference":
        return None  # the escalation policy's own assignment of a new incident: no v3 event
    incident = entry.get("incident")
    if event_type is None or not isinstance(incident, dict):
        return None
    data = {**incident, "type": "incident"}
    if event_type == "incident.annotated":  # v3 names the note, with its incident beside it
        data = {"type": "incident_note", "id": entry["id"], "content": (entry.get("channel") or {}).get("summary"),
                "incident": data}
    channel = entry.get("channel") or {}
    return {"event": {
        "id": entry["id"], "event_type": event_type, "resource_type": "incident",
        "occurred_at": entry.get("created_at"), "agent": entry.get("agent"),
        "client": {"name": channel["type"]} if channel.get("type") else None, "data": data,
    }}


def server_time(date_header):
    """The Date header of an answer as a datetime, or None."""
    try:
        moment = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(timezone.utc) if moment is not None and moment.tzinfo else None


def parse_time(text):
    return fromisoformat(text).astimezone(timezone.utc)


def iso(moment):
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
