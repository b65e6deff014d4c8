"""The report's figures computed from /incidents and /log_entries, for keys that cannot read
PagerDuty's Analytics API (402/403). Rows have the Analytics API's field names, so the report
treats both sources alike; the definitions below are stated on the report."""

import math
import time
from datetime import datetime, timedelta, timezone

from pagerduty_plugin.compat import fromisoformat
from pagerduty_plugin.errors import PluginError

DEFINITIONS = (
    "Computed by pagerduty-plugin from /incidents and /log_entries (PagerDuty's Analytics API was not available "
    "to this key); incidents are those created in the period, on the services and teams asked for.",
    "MTTA: time from an incident's creation to its first acknowledgement (its first acknowledge log entry), over "
    "the incidents acknowledged; MTTR: time from creation to resolution (its last resolve log entry), over the "
    "incidents resolved. Means rounded to the second; p50 and p90 are nearest-rank percentiles.",
    "Interruptions: one per user an assign or escalate log entry names, by the UTC hour it was sent: business "
    "(Mon-Fri 08:00-18:00), sleep (22:00-08:00), off (the rest).",
    "Uptime: the share of the period (up to now) in which none of the row's incidents was open.",
)
WINDOW = timedelta(days=180)  # /incidents reads since..until at most 6 months apart
BANDS = ("business", "off", "sleep")


def moment(text):
    """PagerDuty's timestamp (RFC 3339, Z or an offset; Analytics' raw rows have none: UTC, the time
    zone asked for) as epoch seconds."""
    parsed = fromisoformat(str(text))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def stamp(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def metrics(rest, wanted, unit, start, end, progress=None):
    """(rows per period and service, rows per period), as the Analytics API's metrics answer them."""
    now = time.time()
    params = {"service_ids": wanted.get("service_ids"), "team_ids": wanted.get("team_ids"),
              "urgencies": [wanted["urgency"]] if wanted.get("urgency") else None}
    incidents = []
    first, last = start.timestamp(), end.timestamp()
    window_end = last
    while window_end > first:  # newest window first, each at most 6 months
        window_start = max(first, window_end - WINDOW.total_seconds())
        incidents += read_back(rest, "/incidents", "incidents", params, window_start, window_end, progress,
                               newest_first={"sort_by": "created_at:desc"})
        window_end = window_start
    incidents = [i for i in {i["id"]: i for i in incidents}.values() if first <= moment(i["created_at"]) < last]
    entries = {}
    if incidents:
        oldest = min(moment(i["created_at"]) for i in incidents)
        for entry in read_back(rest, "/log_entries", "log_entries", {"is_overview": True}, oldest, now + 1,
                               progress):
            entries.setdefault((entry.get("incident") or {}).get("id"), []).append(entry)
    facts = [incident_facts(i, entries.get(i["id"], [])) for i in incidents]
    return aggregate(facts, unit, first, last, now, by_service=True), aggregate(facts, unit, first, last, now)


def read_back(rest, path, key, params, since, until, progress=None, newest_first=None):
    """Every item of a list between since and until, past PagerDuty's 10,000-offset cap: when a
    read stops at the cap, it is read again newest first (`newest_first`: the parameters that
    order it so; None when it already is), each read ending just after the oldest item read.
    Under the cap, one read in the list's own order (as list_incidents reads it)."""
    found, ordered = {}, newest_first is None
    while True:
        query = {**params, **(newest_first or {})} if ordered else dict(params)
        pages = rest.pages(path, key, {**query, "since": stamp(since), "until": stamp(until)})
        oldest = None
        for batch in pages:
            for item in batch:
                found.setdefault(item["id"], item)
                created = moment(item["created_at"])
                oldest = created if oldest is None or created < oldest else oldest
            if progress is not None:
                progress(len(batch))
        if not pages.truncated:
            return list(found.values())
        if not ordered:  # what was read is no prefix of a newest-first list: start again, ordered
            ordered, found = True, {}
            continue
        if oldest is None or oldest + 1 >= until:
            raise PluginError(f"More than 10,000 items of {path} within one second: they cannot be read whole",
                              "Report on fewer services or teams at a time.", {"path": path})
        until = oldest + 1


def incident_facts(incident, entries):
    created = moment(incident["created_at"])
    acks = [moment(e["created_at"]) for e in entries if e.get("type") == "acknowledge_log_entry"]
    resolves = [moment(e["created_at"]) for e in entries if e.get("type") == "resolve_log_entry"]
    resolved = max(resolves) if resolves and incident.get("status") == "resolved" else None
    bands = dict.fromkeys(BANDS, 0)
    for entry in entries:
        if entry.get("type") in ("assign_log_entry", "escalate_log_entry"):
            bands[band(moment(entry["created_at"]))] += len(entry.get("assignees") or ())
    service = incident.get("service") or {}
    team = (incident.get("teams") or [{}])[0]
    return {"created": created, "ack": min(acks) - created if acks else None,
            "resolve": resolved - created if resolved is not None else None, "resolved_at": resolved,
            "bands": bands, "service": (service.get("id"), service.get("summary")),
            "team": (team.get("id"), team.get("summary"))}


def band(seconds):
    hour = datetime.fromtimestamp(seconds, timezone.utc)
    if hour.hour < 8 or hour.hour >= 22:
        return "sleep"
    return "business" if hour.weekday() < 5 and hour.hour < 18 else "off"


def period_of(seconds, unit):
    """(start, end) epoch seconds of the UTC day, ISO week or month holding this moment."""
    day = datetime.fromtimestamp(seconds, timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "week":
        day -= timedelta(days=day.weekday())
        following = day + timedelta(days=7)
    elif unit == "month":
        day = day.replace(day=1)
        following = (day + timedelta(days=31)).replace(day=1)
    else:
        following = day + timedelta(days=1)
    return day, following


def aggregate(facts, unit, first, last, now, by_service=False):
    groups = {}
    for f in facts:
        begin, _ = period_of(f["created"], unit)
        groups.setdefault((begin, f["service"] if by_service else None), []).append(f)
    rows = []
    for (begin, service), members in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
        _, following = period_of(begin.timestamp(), unit)
        row = summarize(members, max(first, begin.timestamp()), min(last, following.timestamp(), now))
        row["range_start"] = begin.strftime("%Y-%m-%dT%H:%M:%S")
        if by_service:
            row["service_id"], row["service_name"] = service
            row["team_id"], row["team_name"] = members[0]["team"]
        rows.append(row)
    return rows


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * p / 100), 1) - 1]


def summarize(members, begin, finish):
    acks = [f["ack"] for f in members if f["ack"] is not None]
    resolves = [f["resolve"] for f in members if f["resolve"] is not None]
    row = {"total_incident_count": len(members), "total_incidents_acknowledged": len(acks),
           "up_time_pct": up_time(members, begin, finish)}
    for name in BANDS:
        row[f"total_{name}_hour_interruptions"] = sum(f["bands"][name] for f in members)
    for name, values in (("first_ack", acks), ("resolve", resolves)):
        row[f"mean_seconds_to_{name}"] = int(round(sum(values) / len(values))) if values else None
        for p in (50, 90):
            row[f"p{p}_seconds_to_{name}"] = int(round(percentile(values, p))) if values else None
    return row


def up_time(members, begin, finish):
    """Percent of [begin, finish) in which no incident of members was open."""
    if finish <= begin:
        return 100.0
    open_spans = sorted((max(f["created"], begin), min(f["resolved_at"] or finish, finish)) for f in members)
    down, covered_to = 0.0, begin
    for left, right in open_spans:
        left = max(left, covered_to)
        if right > left:
            down += right - left
            covered_to = right
    return round(100.0 * (1 - down / (finish - begin)), 4)
