"""Incidents over REST: list, create, show, update (one or in bulk), merge, snooze."""
import json

from . import incident_types, incident_view, lifecycle, outbound, query as q, render, timeutil, validate as v
from .errors import ApiError, invalid, CANNOT_ESCALATE, INVALID_STATUS, INVALID_ID, EP_NOT_FOUND, ALREADY_MERGED, \
    ALREADY_RESOLVED, ALREADY_ACKNOWLEDGED, INVALID_INPUT, INVALID_SNOOZE, NOT_FOUND
from .routing import route

STATUSES = ("triggered", "acknowledged", "resolved")
SORT_FIELDS = ("incident_number", "created_at", "resolved_at", "urgency")
BULK_MAX = 250
NOT_GIVEN = object()


def get_incident(store, incident_id):
    return store.get("incident", incident_id)


# Listing -------------------------------------------------------------------------------------
def date_window(call):
    """(since, until) or None for date_range=all; 1 month by default, at most 6 months."""
    if q.one(call.query, "date_range") == "all":
        return None
    if q.one(call.query, "date_range") not in (None, ""):
        raise invalid("date_range must be 'all' when given")
    since = q.timestamp(call.query, "since")
    until = q.timestamp(call.query, "until")
    until = call.now if until is None else until
    since = timeutil.months_back(until, 1) if since is None else since
    if until < since:
        raise invalid("until must not be before since")
    if since < timeutil.months_back(until, 6):
        raise invalid("The since/until range must not exceed 6 months; use several windows, or date_range=all")
    return since, until


def sort_keys(call):
    specs = []
    for raw in q.many(call.query, "sort_by"):
        specs.extend(s for s in raw.split(",") if s)
    if len(specs) > 2:
        raise invalid("sort_by takes at most two fields")
    keys = []
    for spec in specs:
        field, _, direction = spec.partition(":")
        direction = direction or "asc"
        if field not in SORT_FIELDS or direction not in ("asc", "desc"):
            raise invalid(f"sort_by {spec!r}: use incident_number, created_at, resolved_at or urgency, "
                          "with :asc or :desc")
        keys.append((field, direction == "desc"))
    return keys


def _sort(found, keys):
    getters = {"incident_number": lambda i: i["number"], "created_at": lambda i: i["created"],
               "resolved_at": lambda i: i["resolved_at"] or 0, "urgency": lambda i: i["urgency"] == "high"}
    for field, descending in reversed(keys):   # stable sorts, least significant key first
        found.sort(key=getters[field], reverse=descending)


@route("GET", "/incidents")
def list_incidents(call):
    store = call.store
    window = date_window(call)
    statuses = set(q.many(call.query, "statuses"))
    if statuses - set(STATUSES):
        raise invalid(f"statuses[] must be among {', '.join(STATUSES)}")
    urgencies = set(q.many(call.query, "urgencies"))
    if urgencies - {"high", "low"}:
        raise invalid("urgencies[] must be high or low")
    key = q.one(call.query, "incident_key")
    services = set(q.many(call.query, "service_ids"))
    teams = set(q.many(call.query, "team_ids"))
    users = set(q.many(call.query, "user_ids"))
    keys = sort_keys(call)
    since, until = window if window else (None, None)
    found = []
    for inc in store.incidents.values():
        if window and not since <= inc["created"] <= until:
            continue
        if (statuses and inc["status"] not in statuses) or (urgencies and inc["urgency"] not in urgencies):
            continue
        if (key is not None and inc["key"] != key) or (services and inc["service_id"] not in services):
            continue
        if teams and not teams.intersection(store.services.get(inc["service_id"], {}).get("team_ids", ())):
            continue
        if users and not any(uid in users for uid, _at in inc["assignments"]):
            continue
        found.append(inc)
    if keys:
        _sort(found, keys)
    include = set(q.many(call.query, "include"))
    return 200, q.paginate(call.query, found, "incidents", lambda i: incident_view.incident(store, i, include))


@route("GET", "/incidents/{id}")
def show_incident(call):
    inc = get_incident(call.store, call.params["id"])
    include = set(q.many(call.query, "include"))
    return 200, {"incident": incident_view.incident(call.store, inc, include, with_body=True)}


# Creating ------------------------------------------------------------------------------------
@route("POST", "/incidents", from_header="required")
def create_incident(call):
    store = call.store
    body = call.wrapped("incident")
    v.type_is(body, ("incident",), "incident")
    title = v.text(body, "title", 1024, required_=True, where="incident")
    service_id = v.ref_id(body.get("service"), ["service"], "incident.service")
    service = store.find("service", service_id)
    if service is None:
        raise invalid(f"incident.service {service_id} does not exist")
    urgency = v.choice(body, "urgency", ("high", "low"), where="incident") or _default_urgency(service)
    if body.get("escalation_policy") and body.get("assignments"):
        raise invalid("incident: give escalation_policy or assignments, not both")
    ep_id = _policy(store, body.get("escalation_policy"), "incident.escalation_policy")
    user_ids = _assignees(store, body.get("assignments"), "incident.assignments")
    priority_id = _priority(store, body.get("priority", NOT_GIVEN), "incident.priority")
    details = _details(body.get("body"))
    key = v.text(body, "incident_key", 255, where="incident")
    bridge = _bridge(body.get("conference_bridge"))
    channel = {"type": "web_trigger", "summary": title, "subject": title,
               "details": details if isinstance(details, str) or details is None else json.dumps(details)}
    type_name = (incident_types.type_named(store, body["incident_type"], "incident.incident_type")
                 if body.get("incident_type") is not None else None)
    inc = lifecycle.new_incident(store, service, title, call.now, call.agent(), channel, urgency=urgency,
                                 key=key, priority_id=None if priority_id is NOT_GIVEN else priority_id,
                                 ep_id=ep_id, user_ids=user_ids, details=details, conference_bridge=bridge)
    if type_name is not None:
        inc["incident_type"] = type_name
    return 201, {"incident": incident_view.incident(store, inc, with_body=True)}


def _default_urgency(service):
    rule = service.get("incident_urgency_rule") or {}
    return "low" if rule.get("type") == "constant" and rule.get("urgency") == "low" else "high"


def _policy(store, value, where):
    if value is None:
        return None
    ep_id = v.ref_id(value, ["escalation_policy"], where)
    if ep_id not in store.escalation_policies:
        raise ApiError(400, EP_NOT_FOUND, "Escalation Policy Not Found", [f"{where} {ep_id} does not exist"])
    return ep_id


def _assignees(store, value, where):
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise invalid(f"{where} must be a non-empty array of {{assignee: {{id, type: user_reference}}}}")
    user_ids = []
    for i, item in enumerate(value):
        assignee = item.get("assignee") if isinstance(item, dict) else None
        uid = v.ref_id(assignee, ["user"], f"{where}[{i}].assignee")
        v.existing(store, "user", uid, f"{where}[{i}].assignee")
        if uid not in user_ids:
            user_ids.append(uid)
    return user_ids


def _priority(store, value, where):
    """A priority reference or a priority name (string); NOT_GIVEN when absent. The contract offers no
    null to clear a priority, so null is refused like any other wrong type."""
    if value is NOT_GIVEN:
        return value
    if value is None:
        raise invalid(f"{where} must be a priority reference or a priority name, not null")
    if isinstance(value, str):
        for rec in sorted(store.priorities.values(), key=lambda p: -p["order"]):
            if rec["name"] == value:
                return rec["id"]
        raise invalid(f"{where}: no priority is named {value!r}")
    priority_id = v.ref_id(value, ["priority"], where)
    v.existing(store, "priority", priority_id, where)
    return priority_id


def _details(body):
    if body is None:
        return None
    if not isinstance(body, dict):
        raise invalid("incident.body must be an object {type: incident_body, details}")
    if body.get("type") not in (None, "incident_body"):
        raise invalid("incident.body.type must be incident_body")
    details = body.get("details")
    if details is not None and not isinstance(details, (str, dict)):
        raise invalid("incident.body.details must be a string or an object")
    return details


def _bridge(value):
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"conference_number", "conference_url"}:
        raise invalid("conference_bridge takes conference_number and conference_url")
    for field in value:
        if not isinstance(value[field], str):
            raise invalid(f"conference_bridge.{field} must be a string")
    return dict(value)


# Updating ------------------------------------------------------------------------------------
def plan_update(store, body, where):
    """Validate one update without changing anything: the plan to apply."""
    status = body.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, INVALID_STATUS, "Invalid Status Provided",
                       [f"{where}.status must be triggered, acknowledged or resolved"])
    if body.get("escalation_policy") and body.get("assignments"):
        raise invalid(f"{where}: give escalation_policy or assignments, not both")
    plan = {
        "status": status,
        "resolution": v.text(body, "resolution", 25000, where=where),
        "title": v.text(body, "title", 1024, where=where),
        "urgency": v.choice(body, "urgency", ("high", "low"), where=where),
        "priority": _priority(store, body.get("priority", NOT_GIVEN), f"{where}.priority"),
        "ep_id": _policy(store, body.get("escalation_policy"), f"{where}.escalation_policy"),
        "user_ids": _assignees(store, body.get("assignments"), f"{where}.assignments"),
        "level": v.integer(body, "escalation_level", 1, 100, where=where),
        "bridge": _bridge(body.get("conference_bridge")) if "conference_bridge" in body else NOT_GIVEN,
        "service_id": None,
        "incident_type": (incident_types.type_named(store, body["incident_type"], f"{where}.incident_type")
                          if body.get("incident_type") is not None else None),
    }
    if plan["title"] is not None and not plan["title"].strip():
        raise invalid(f"{where}.title can't be blank")
    if body.get("service") is not None:
        plan["service_id"] = v.existing(store, "service", v.ref_id(body["service"], ["service"],
                                                                   f"{where}.service"), f"{where}.service")
    return plan


def check_status(store, inc, plan):
    """Every refusal an update can meet, raised before anything changes (updates are all or nothing)."""
    status = plan["status"]
    reassigning = plan["ep_id"] or plan["user_ids"] or plan["level"]
    if inc["status"] == "resolved":
        if status == "resolved":
            raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved",
                           [f"Incident {inc['id']} is already resolved"])
        if reassigning and status is None:
            raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved",
                           [f"Incident {inc['id']} is resolved; set status to reopen it"])
    elif status == "acknowledged" and inc["status"] == "acknowledged" and not reassigning:
        raise ApiError(400, ALREADY_ACKNOWLEDGED, "Incident Already Acknowledged",
                       [f"Incident {inc['id']} is already acknowledged"])
    if plan["level"] and not (plan["ep_id"] or plan["user_ids"]):
        rules = store.escalation_policies.get(inc["ep_id"], {}).get("rules", [])
        if plan["level"] > len(rules):
            raise ApiError(400, CANNOT_ESCALATE, "Incident cannot be escalated",
                           [f"escalation_level must be between 1 and {len(rules)} for this escalation policy"])
    service = store.services.get(plan["service_id"] or inc["service_id"])
    reopening = inc["status"] == "resolved" and status in ("triggered", "acknowledged")
    if service is None and reopening:
        raise invalid(f"Incident {inc['id']} cannot be reopened: its service was deleted")
    if service is not None and (reopening or (plan["service_id"] and inc["status"] != "resolved")):
        lifecycle.check_key_free(store, service, inc["key"], inc["id"])


def apply_update(store, inc, plan, now, agent):
    if plan["title"] is not None:
        inc["title"] = plan["title"]
    if plan["priority"] is not NOT_GIVEN and plan["priority"] != inc["priority_id"]:
        inc["priority_id"] = plan["priority"]
        outbound.incident_event(store, "incident.priority_updated", inc, agent, now)
    if plan["bridge"] is not NOT_GIVEN:
        inc["conference_bridge"] = plan["bridge"]
    if plan["service_id"] and plan["service_id"] != inc["service_id"]:
        _move(store, inc, store.services[plan["service_id"]])
    if plan.get("incident_type"):
        incident_types.change_type(store, inc, plan["incident_type"], now, agent)
    if plan["urgency"]:
        lifecycle.change_urgency(store, inc, plan["urgency"], now, agent)
    status = plan["status"]
    if inc["status"] == "resolved" and status in ("triggered", "acknowledged"):
        lifecycle.reopen(store, inc, status, now, agent, plan["user_ids"], plan["ep_id"])
        return _finish(inc, now)
    if plan["ep_id"] or plan["user_ids"]:
        lifecycle.reassign(store, inc, now, agent, plan["user_ids"], plan["ep_id"])
    elif plan["level"]:
        lifecycle.escalate(store, inc, plan["level"], now, agent)
    if status == "acknowledged" and inc["status"] == "triggered":
        lifecycle.acknowledge(store, inc, now, agent)
    elif status == "triggered" and inc["status"] == "acknowledged":
        lifecycle.unacknowledge(store, inc, now, agent)
    elif status == "resolved":
        lifecycle.resolve(store, inc, now, agent, note=plan["resolution"])
    return _finish(inc, now)


def _finish(inc, now):
    inc["updated"] = now
    return inc


def _move(store, inc, service):
    """Move an open incident to another service (its key must be free there)."""
    old = store.services.get(inc["service_id"])
    if inc["status"] != "resolved":
        lifecycle.check_key_free(store, service, inc["key"], inc["id"])
        if old is not None:
            old["open_incident_ids"].discard(inc["id"])
            old["open_keys"].pop(inc["key"], None)
        service.setdefault("open_incident_ids", set()).add(inc["id"])
        service.setdefault("open_keys", {})[inc["key"]] = inc["id"]
    inc["service_id"] = service["id"]


@route("PUT", "/incidents/{id}", from_header="required")
def update_incident(call):
    store = call.store
    inc = get_incident(store, call.params["id"])
    body = call.wrapped("incident")
    v.type_is(body, ("incident", "incident_reference"), "incident")
    plan = plan_update(store, body, "incident")
    check_status(store, inc, plan)
    apply_update(store, inc, plan, call.now, call.agent())
    return 200, {"incident": incident_view.incident(store, inc, with_body=True)}


@route("PUT", "/incidents", from_header="required")
def update_incidents(call):
    store = call.store
    items = call.body.get("incidents") if isinstance(call.body, dict) else None
    if not isinstance(items, list) or not items:
        raise invalid("incidents must be a non-empty array of {id, type, ...}")
    if len(items) > BULK_MAX:
        raise ApiError(413, INVALID_INPUT, "Request Entity Too Large",
                       [f"At most {BULK_MAX} incidents can be updated at once (got {len(items)})"])
    plans = [_bulk_plan(store, item, f"incidents[{i}]") for i, item in enumerate(items)]
    if len({inc["id"] for inc, _plan in plans}) < len(plans):
        # each update is checked against the incident as it stands: a second one for the same
        # incident could not be, so the whole request is refused
        raise invalid("incidents: each incident may appear only once")
    agent = call.agent()
    for inc, plan in plans:   # all checked: now apply every update
        apply_update(store, inc, plan, call.now, agent)
    rendered = [incident_view.incident(store, inc) for inc, _plan in plans]
    return 200, {"incidents": rendered, "limit": len(rendered), "offset": 0, "more": False,
                 "total": len(rendered) if q.flag(call.query, "total") else None}


def _bulk_plan(store, item, where):
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise invalid(f"{where}.id is required")
    if item.get("type") not in (None, "incident", "incident_reference"):
        raise invalid(f"{where}.type must be incident or incident_reference")
    inc = store.find("incident", item["id"])
    if inc is None:
        raise ApiError(404, NOT_FOUND, "Not Found", [f"{where}: incident {item['id']} not found"])
    plan = plan_update(store, item, where)
    check_status(store, inc, plan)
    return inc, plan


@route("PUT", "/incidents/{id}/merge", from_header="required")
def merge_incidents(call):
    store = call.store
    target = get_incident(store, call.params["id"])
    sources = call.body.get("source_incidents") if isinstance(call.body, dict) else None
    if not isinstance(sources, list) or not sources:
        raise invalid("source_incidents must be a non-empty array of incident references")
    if target["status"] == "resolved":
        raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved",
                       [f"The target incident {target['id']} is resolved"])
    found = []
    for i, ref in enumerate(sources):
        source_id = v.ref_id(ref, ["incident"], f"source_incidents[{i}]")
        src = store.find("incident", source_id)
        if src is None:
            raise ApiError(400, INVALID_ID, "Invalid Id Provided", [f"source incident {source_id} does not exist"])
        if src["id"] == target["id"]:
            raise invalid("An incident cannot be merged into itself")
        if src["merged_into"]:
            raise ApiError(400, ALREADY_MERGED, "Incident Already Merged",
                           [f"Incident {src['id']} was already merged into another incident"])
        if src["status"] == "resolved":
            raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved",
                           [f"Source incident {src['id']} is resolved"])
        if src not in found:
            found.append(src)
    lifecycle.merge(store, target, found, call.now, call.agent())
    # The contract types this answer as an IncidentReference: the full incident under that type name.
    return 200, {"incident": render.expanded(incident_view.incident(store, target), "incident_reference")}


@route("POST", "/incidents/{id}/snooze", from_header="required")
def snooze_incident(call):
    store = call.store
    inc = get_incident(store, call.params["id"])
    if not isinstance(call.body, dict) or "duration" not in call.body:
        raise ApiError(400, INVALID_SNOOZE, "Invalid Snooze Duration Provided", ["duration is required"])
    lifecycle.snooze(store, inc, call.body["duration"], call.now, call.agent())
    return 201, {"incident": incident_view.incident(store, inc, with_body=True)}
