"""Polling triggers, for users who cannot receive webhooks.

GET /incidents cannot filter on updated_at, whether `since` is inclusive is undocumented, a
window may span at most 6 months and offsets stop at 10,000. So each poll reads a window that
overlaps the previous one by OVERLAP, and the inbox keeps each incident (or log entry) once per
poller by its id: an incident at the boundary of two polls, or re-read after a crash, is
emitted once. The cursor (the end of the last complete poll) is written in the same transaction
as the poll's last page, so it only moves past events that are already in the inbox.
"""

from datetime import datetime, timedelta, timezone

from pagerduty_plugin.compat import fromisoformat
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

    def sources(self):
        return [self.source]

    def wants(self, event):
        return matches_filters(event, self.params)

    def query(self):
        """The PagerDuty filters of this poller (what makes it a different poller)."""
        raise NotImplementedError

    def poll(self, inbox):
        now = datetime.now(timezone.utc)
        cursor = inbox.cursor(self.source)
        since = (parse_time(cursor) if cursor else self.start(now)) - OVERLAP
        if now - since > MAX_WINDOW:
            self.log.warning(f"{self.kind}: the last poll was over 6 months ago; reading the last 179 days only")
            since = now - MAX_WINDOW
        found = 0
        for keyed in self.windows(since, now):
            found += inbox.add_many(self.source, keyed)
        inbox.add_many(self.source, [], cursor=(self.source, iso(now)))
        if found:
            self.log.info(f"{self.kind}: {found} new event(s) since {iso(since)}")

    def start(self, now):
        given = self.params.get("since")
        return parse_time(given) if given else now - FIRST_LOOKBACK

    def windows(self, since, until):
        """Lists of (key, event) read from PagerDuty, page by page. Past the 10,000 offset cap
        the next window starts at the last item read (the overlap is de-duplicated)."""
        raise NotImplementedError

    def read(self, path, key, params, since, until, oldest_first=True):
        """Every page of the window. At the 10,000 offset cap the window shrinks to what is left
        beyond the last item read (later items when listed oldest first, earlier ones otherwise)."""
        rest = self.connection.rest
        until = until + timedelta(seconds=1)  # rounded up: an item of this very second is not left out
        while True:
            pages = rest.pages(path, key, {**params, "since": iso(since), "until": iso(until)})
            last = None
            for page in pages:
                if page and page[-1].get("created_at"):
                    last = parse_time(page[-1]["created_at"])
                yield page
            if not pages.truncated or last is None or not since < last < until:
                return
            since, until = (last, until) if oldest_first else (since, last + timedelta(seconds=1))


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

    def windows(self, since, until):
        """The whole window at once, oldest first: PagerDuty lists log entries newest first."""
        params = {**self.query(), "is_overview": "true", "include[]": ["incidents"]}
        entries = [entry for page in self.read("/log_entries", "log_entries", params, since, until, oldest_first=False)
                   for entry in page]
        entries.reverse()  # then a stable sort keeps the order of entries of the same second
        entries.sort(key=lambda entry: entry.get("created_at") or "")
        yield [(entry["id"], event) for entry in entries
               if entry.get("id") and (event := change_event(entry)) is not None]


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


def parse_time(text):
    return fromisoformat(text).astimezone(timezone.utc)


def iso(moment):
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
