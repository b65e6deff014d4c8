"""Log entries: one for every change to an incident; listed per incident and account-wide."""
import weakref

from . import query as q
from .errors import invalid
from .routing import route
from .timeutil import iso

OVERVIEW_TYPES = {"trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry", "escalate_log_entry",
                  "assign_log_entry", "annotate_log_entry", "snooze_log_entry", "unacknowledge_log_entry",
                  "urgency_change_log_entry"}


def add(store, incident, type_, now, agent, summary, channel=None, note=None, assignees=None, extra=None):
    """Record one change; `agent` is (kind, id) with kind user, service or integration."""
    rec = {"id": store.new_id(), "type": type_, "created": now, "incident_id": incident["id"],
           "service_id": incident["service_id"], "agent": agent, "summary": summary,
           "channel": channel or {"type": "api"}, "note": note, "assignees": assignees, "extra": extra or {}}
    store.log_entries[rec["id"]] = rec
    incident["log_ids"].append(rec["id"])
    return rec


def agent_ref(store, agent):
    if agent is None:
        return None
    kind, agent_id = agent
    return store.ref(kind, agent_id)


def render(store, rec, include=()):
    out = store.entity("log_entry", rec["id"], rec["type"])
    incident = store.incidents.get(rec["incident_id"])
    service = store.services.get(rec["service_id"])
    out.update({
        "created_at": iso(rec["created"]),
        "agent": agent_ref(store, rec["agent"]),
        "channel": dict(rec["channel"]),
        "service": store.ref("service", rec["service_id"]),
        "incident": store.ref("incident", rec["incident_id"]),
        "teams": [store.ref("team", t) for t in (service or {}).get("team_ids", ()) if t in store.teams],
        "contexts": rec["extra"].get("contexts", []),
        "event_details": {"description": incident["title"] if incident else rec["summary"]},
    })
    if out["agent"] is None:
        del out["agent"]
    if rec["note"] is not None:
        out["note"] = rec["note"]
    if rec["assignees"] is not None:
        out["assignees"] = [store.ref("user", u) for u in rec["assignees"]]
    if rec["type"] == "acknowledge_log_entry" and rec["extra"].get("acknowledgement_timeout") is not None:
        out["acknowledgement_timeout"] = rec["extra"]["acknowledgement_timeout"]
    if "channels" in include:
        out["channel"]["summary"] = rec["summary"]
    return out


def _listing(call, ids):
    store = call.store
    since = q.timestamp(call.query, "since")
    until = q.timestamp(call.query, "until")
    if since is not None and until is not None and until < since:
        raise invalid("until must not be before since")
    overview = q.flag(call.query, "is_overview")
    team_ids = set(q.many(call.query, "team_ids"))
    if ids is store.log_entries and not team_ids:
        found = _account_wide(store, since, until, overview)
    else:
        found = _matching(store, ids, since, until, overview, team_ids)
    include = set(q.many(call.query, "include"))
    return 200, q.paginate(call.query, found, "log_entries", lambda r: render(store, r, include))


_SCANS = weakref.WeakKeyDictionary()  # store -> (what was asked, the entries found): one listing per store


def _account_wide(store, since, until, overview):
    """The account's entries newest first by creation, as PagerDuty orders them (incidents seeded in
    bulk are stored after newer ones). Paging through one listing scans the log once, not per page:
    the scan is kept until the log grows (entries are only ever added) or another listing is asked."""
    asked = (since, until, overview, len(store.log_entries), next(reversed(store.log_entries), None))
    kept = _SCANS.get(store)
    if kept is not None and kept[0] == asked:
        return kept[1]
    found = _matching(store, store.log_entries, since, until, overview, ())
    found.sort(key=lambda rec: rec["created"], reverse=True)  # stable: the newest stored first among equals
    _SCANS[store] = (asked, found)
    return found


def _matching(store, ids, since, until, overview, team_ids):
    found = []
    for log_id in reversed(ids):   # newest first, as PagerDuty lists them (ids: a list, or the dict of all)
        rec = store.log_entries[log_id]
        if since is not None and rec["created"] < since:
            continue
        if until is not None and rec["created"] >= until:
            continue
        if overview and rec["type"] not in OVERVIEW_TYPES:
            continue
        if team_ids and not team_ids & set((store.services.get(rec["service_id"]) or {}).get("team_ids", ())):
            continue
        found.append(rec)
    return found


@route("GET", "/log_entries")
def list_all(call):
    return _listing(call, call.store.log_entries)


@route("GET", "/incidents/{id}/log_entries")
def list_for_incident(call):
    incident = call.store.get("incident", call.params["id"])
    return _listing(call, incident["log_ids"])


@route("GET", "/log_entries/{id}")
def get_entry(call):
    rec = call.store.get("log_entry", call.params["id"])
    return 200, {"log_entry": render(call.store, rec, set(q.many(call.query, "include")))}


@route("PUT", "/log_entries/{id}/channel", from_header="required")
def update_channel(call):
    rec = call.store.get("log_entry", call.params["id"])
    body = call.wrapped("channel")
    if body.get("type") not in ("web_trigger", "mobile") or not isinstance(body.get("details"), str):
        raise invalid("channel needs type (web_trigger or mobile) and details (a string)")
    if rec["channel"].get("type") != body["type"]:
        raise invalid("channel.type must match the log entry's channel type")
    rec["channel"] = dict(rec["channel"], details=body["details"])
    return 202, None
