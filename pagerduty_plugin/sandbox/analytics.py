"""Analytics: incident metrics aggregated (all, per service, team, escalation policy) and raw rows,
computed from this sandbox's own incidents and their log entries.

Definitions (PagerDuty states them in words; these are the sandbox's exact readings):
- seconds to first ack: the first acknowledge log entry's time minus the incident's creation;
  seconds to resolve: the last resolve log entry's time minus the creation, for a resolved incident.
- p50/p75/p90/p95: nearest-rank percentiles (the ceil(p/100 * n)-th smallest value); means rounded.
- interruptions: one per user an assign or escalate log entry names, banded by its UTC hour:
  business (Mon-Fri 08:00-18:00), sleep (every day 22:00-08:00), off (the rest).
- up_time_pct: the share of the period (clipped to the filter's window and to now) no incident of
  the row was open in (from creation to resolution, or now).
A period is the UTC day, the ISO week (from Monday) or the calendar month of the creation.
402 for an account without the ability is the fault switch: POST /_sandbox/faults
{"path": "/analytics/*", "status": 402, "count": null}.
"""
import math
from datetime import datetime, timedelta, timezone

from . import timeutil
from .errors import invalid
from .routing import route

UNITS = ("day", "week", "month")
RAW_MAX = 1000
MAX_RANGE = 366 * timeutil.DAY


class Window:
    """The request's filters, read strictly (PagerDuty answers 400 to what it cannot read)."""

    def __init__(self, body, now):
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise invalid("filters must be an object")
        self.end = self._time(filters, "created_at_end", now)
        self.start = self._time(filters, "created_at_start", self.end - 30 * timeutil.DAY)
        if self.end <= self.start or self.end - self.start > MAX_RANGE:
            raise invalid("created_at_start must be before created_at_end, at most a year apart")
        self.services = self._ids(filters, "service_ids")
        self.teams = self._ids(filters, "team_ids")
        self.urgency = filters.get("urgency")
        if self.urgency not in (None, "high", "low"):
            raise invalid("filters.urgency must be high or low")
        self.updated_after = self._time(filters, "updated_after", None)
        zone = body.get("time_zone", "Etc/UTC")
        if zone not in ("Etc/UTC", "UTC", None):
            raise invalid("the sandbox computes analytics in Etc/UTC only")
        self.now = now

    @staticmethod
    def _time(filters, name, default):
        value = filters.get(name)
        if value is None:
            return default
        try:
            return timeutil.parse(value)
        except (TypeError, ValueError):
            raise invalid(f"filters.{name} must be an ISO 8601 date-time") from None

    @staticmethod
    def _ids(filters, name):
        value = filters.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"filters.{name} must be a list of ids")
        return set(value)

    def takes(self, store, inc):
        if not self.start <= inc["created"] < self.end:
            return False
        if self.services is not None and inc["service_id"] not in self.services:
            return False
        if self.teams is not None and not self.teams & set(_service(store, inc).get("team_ids", ())):
            return False
        if self.updated_after is not None and inc["updated"] <= self.updated_after:
            return False
        return self.urgency is None or inc["urgency"] == self.urgency


def _service(store, inc):
    return store.services.get(inc["service_id"]) or {}


def _band(ts):
    moment = datetime.fromtimestamp(ts, timezone.utc)
    if moment.hour >= 22 or moment.hour < 8:
        return "sleep"
    return "business" if moment.weekday() < 5 and moment.hour < 18 else "off"


def facts(store, inc):
    """One incident's figures, read from its log entries."""
    entries = [store.log_entries[i] for i in inc["log_ids"] if i in store.log_entries]
    acks = [e["created"] for e in entries if e["type"] == "acknowledge_log_entry"]
    resolves = [e["created"] for e in entries if e["type"] == "resolve_log_entry"]
    bands = {"business": 0, "off": 0, "sleep": 0}
    for entry in entries:
        if entry["type"] in ("assign_log_entry", "escalate_log_entry"):
            bands[_band(entry["created"])] += len(entry["assignees"] or ())
    resolved = max(resolves) if resolves and inc["status"] == "resolved" else None
    service = _service(store, inc)
    team_id = next(iter(service.get("team_ids", ())), None)
    return {"inc": inc, "ack": min(acks) - inc["created"] if acks else None,
            "resolve": resolved - inc["created"] if resolved is not None else None, "resolved_at": resolved,
            "bands": bands, "team_id": team_id, "escalations": sum(e["type"] == "escalate_log_entry" for e in entries)}


def period_start(ts, unit):
    day = datetime.fromtimestamp(ts, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        day -= timedelta(days=day.weekday())
    elif unit == "month":
        day = day.replace(day=1)
    return day


def period_end(start, unit):
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "week":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def nearest_rank(values, p):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def uptime(rows, start, end):
    """Percent of [start, end) no incident in rows was open in."""
    if end <= start:
        return 100.0
    spans = sorted((max(f["inc"]["created"], start), min(f["resolved_at"] or end, end)) for f in rows)
    covered, reach = 0.0, start
    for left, right in spans:
        left = max(left, reach)
        if right > left:
            covered += right - left
            reach = right
    return round(100.0 * (1 - covered / (end - start)), 4)


def summary(rows, window, first, last):
    acks = [f["ack"] for f in rows if f["ack"] is not None]
    resolves = [f["resolve"] for f in rows if f["resolve"] is not None]
    out = {"total_incident_count": len(rows), "total_incidents_acknowledged": len(acks),
           "total_escalation_count": sum(f["escalations"] for f in rows),
           "total_business_hour_interruptions": sum(f["bands"]["business"] for f in rows),
           "total_off_hour_interruptions": sum(f["bands"]["off"] for f in rows),
           "total_sleep_hour_interruptions": sum(f["bands"]["sleep"] for f in rows),
           "up_time_pct": uptime(rows, max(first, window.start), min(last, window.end, window.now))}
    out["total_interruptions"] = sum(out[f"total_{b}_hour_interruptions"] for b in ("business", "off", "sleep"))
    for name, values in (("first_ack", acks), ("resolve", resolves)):
        out[f"mean_seconds_to_{name}"] = int(round(sum(values) / len(values))) if values else None
        for p in (50, 75, 90, 95):
            out[f"p{p}_seconds_to_{name}"] = int(round(nearest_rank(values, p))) if values else None
    return out


GROUPS = {  # the path's last part -> (the group's id of one incident's facts, the row's id and name fields)
    "all": (lambda store, f: None, ()),
    "services": (lambda store, f: f["inc"]["service_id"], ("service", "services")),
    "teams": (lambda store, f: f["team_id"], ("team", "teams")),
    "escalation_policies": (lambda store, f: f["inc"]["ep_id"], ("escalation_policy", "escalation_policies")),
}


def aggregate(store, body, group, now):
    window = Window(body, now)
    unit = (body or {}).get("aggregate_unit")
    if unit not in (None,) + UNITS:
        raise invalid("aggregate_unit must be day, week or month")
    key_of, naming = GROUPS[group]
    buckets = {}
    for inc in store.incidents.values():
        if window.takes(store, inc):
            f = facts(store, inc)
            first = period_start(inc["created"], unit) if unit else None
            buckets.setdefault((first, key_of(store, f)), []).append(f)
    data = []
    for (first, key), rows in sorted(buckets.items(), key=lambda item: (item[0][0] or 0, str(item[0][1]))):
        if unit:
            begin, finish = first.timestamp(), period_end(first, unit).timestamp()
        else:
            begin, finish = window.start, window.end
        row = summary(rows, window, begin, finish)
        if unit:
            row["range_start"] = first.strftime("%Y-%m-%dT%H:%M:%S")
        if naming:
            kind, collection = naming
            row[f"{kind}_id"] = key
            row[f"{kind}_name"] = (getattr(store, collection).get(key) or {}).get("name")
        if group == "services":
            team_id = rows[0]["team_id"]
            row["team_id"], row["team_name"] = team_id, (store.teams.get(team_id) or {}).get("name")
        data.append(present(row))
    echo = {k: v for k, v in (body or {}).items() if k in ("filters", "aggregate_unit", "time_zone")}
    return 200, dict(echo, data=data, time_zone="Etc/UTC")


def present(row):
    """A row without the figures it has no value for (no acknowledgement: no seconds to first ack), as
    the published contract types them integers, never null."""
    return {k: v for k, v in row.items() if v is not None}


def _metrics(group):
    def handler(call):
        with call.store.lock:
            return aggregate(call.store, call.body, group, call.now)
    handler.__name__ = f"metrics_{group}"
    return handler


for _group in GROUPS:
    route("POST", f"/analytics/metrics/incidents/{_group}")(_metrics(_group))


def raw_row(store, f):
    inc = f["inc"]
    service = _service(store, inc)
    return {"id": inc["id"], "incident_number": inc["number"], "description": inc["title"],
            "created_at": timeutil.iso(inc["created"]), "updated_at": timeutil.iso(inc["updated"]),
            "resolved_at": timeutil.iso(f["resolved_at"]), "status": inc["status"], "urgency": inc["urgency"],
            "service_id": inc["service_id"], "service_name": service.get("name"),
            "team_id": f["team_id"], "team_name": (store.teams.get(f["team_id"]) or {}).get("name"),
            "escalation_policy_id": inc["ep_id"],
            "escalation_policy_name": (store.escalation_policies.get(inc["ep_id"]) or {}).get("name"),
            "seconds_to_first_ack": _whole(f["ack"]), "seconds_to_resolve": _whole(f["resolve"]),
            "escalation_count": f["escalations"], "business_hour_interruptions": f["bands"]["business"],
            "off_hour_interruptions": f["bands"]["off"], "sleep_hour_interruptions": f["bands"]["sleep"],
            "major": False, "priority_id": inc.get("priority_id")}


def _whole(seconds):
    return None if seconds is None else int(round(seconds))


def _cursor_window(body, ids, limit):
    """(begin, end) of the page: after starting_after, or the `limit` rows before ending_before."""
    after, before = body.get("starting_after"), body.get("ending_before")
    if after is not None and before is not None:
        raise invalid("give starting_after or ending_before, not both")
    for cursor in (after, before):
        if cursor is not None and cursor not in ids:
            raise invalid("the cursor is not one of this listing")
    if before is not None:
        end = ids.index(before)
        return max(0, end - limit), end
    begin = ids.index(after) + 1 if after is not None else 0
    return begin, begin + limit


@route("POST", "/analytics/raw/incidents")
def raw_incidents(call):
    body = call.body or {}
    window = Window(body, call.now)
    limit = body.get("limit", 20)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= RAW_MAX:
        raise invalid(f"limit must be an integer from 1 to {RAW_MAX}")
    order = body.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("order must be asc or desc")
    store = call.store
    with store.lock:
        found = [inc for inc in store.incidents.values() if window.takes(store, inc)]
        found.sort(key=lambda inc: (inc["created"], inc["number"]), reverse=order == "desc")
        ids = [inc["id"] for inc in found]
        begin, end = _cursor_window(body, ids, limit)
        data = [present(raw_row(store, facts(store, inc))) for inc in found[begin:end]]
        after = body.get("starting_after")
    # first and last are required strings: an empty page answers them empty
    return 200, {"data": data, "first": data[0]["id"] if data else "", "last": data[-1]["id"] if data else "",
                 "limit": limit, "more": (end < len(found)) if body.get("ending_before") is None else begin > 0,
                 "order": order, "order_by": "created_at",
                 "filters": body.get("filters") or {}, "time_zone": "Etc/UTC", "starting_after": after,
                 "ending_before": body.get("ending_before")}
