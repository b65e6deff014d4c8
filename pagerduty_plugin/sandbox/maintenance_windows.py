"""Maintenance windows: while one is ongoing its services are in maintenance (events open nothing)."""
from . import query as q, render, timeutil, validate as v
from .errors import ApiError, invalid, INVALID_INPUT
from .routing import route

FILTERS = ("past", "future", "ongoing", "open", "all")


def _state_ok(mw, state, now):
    if state == "past":
        return mw["end"] <= now
    if state == "future":
        return mw["start"] > now
    if state == "ongoing":
        return mw["start"] <= now < mw["end"]
    if state == "open":
        return mw["end"] > now
    return True


@route("GET", "/maintenance_windows")
def list_windows(call):
    store = call.store
    state = q.one(call.query, "filter", "all")
    if state not in FILTERS:
        raise invalid(f"filter must be one of: {', '.join(FILTERS)}")
    needle = q.one(call.query, "query")
    service_ids = set(q.many(call.query, "service_ids"))
    team_ids = set(q.many(call.query, "team_ids"))
    found = [mw for mw in store.maintenance_windows.values()
             if _state_ok(mw, state, call.now) and q.text_match(needle, mw.get("description"))
             and (not service_ids or service_ids & set(mw["service_ids"]))
             and (not team_ids or any(team_ids & set(store.services[s]["team_ids"])
                                      for s in mw["service_ids"] if s in store.services))]
    found.sort(key=lambda mw: (mw["start"], mw["sequence_number"]))
    return 200, q.paginate(call.query, found, "maintenance_windows",
                           lambda mw: render.maintenance_window(store, mw))


@route("POST", "/maintenance_windows", from_header="required")
def create_window(call):
    body = call.wrapped("maintenance_window")
    v.type_is(body, ("maintenance_window",), "maintenance_window")
    store = call.store
    rec = {"id": store.new_id(), "created_by": call.actor(),
           "sequence_number": store.next_number("maintenance_window")}
    apply(store, rec, body, creating=True)
    store.maintenance_windows[rec["id"]] = rec
    return 201, {"maintenance_window": render.maintenance_window(store, rec)}


@route("GET", "/maintenance_windows/{id}")
def get_window(call):
    rec = call.store.get("maintenance_window", call.params["id"])
    return 200, {"maintenance_window": render.maintenance_window(call.store, rec)}


@route("PUT", "/maintenance_windows/{id}")
def update_window(call):
    rec = call.store.get("maintenance_window", call.params["id"])
    if rec["end"] <= call.now:
        raise invalid("A past maintenance window cannot be changed")
    v.staged(apply, call.store, rec, call.wrapped("maintenance_window"))
    return 200, {"maintenance_window": render.maintenance_window(call.store, rec)}


@route("DELETE", "/maintenance_windows/{id}")
def delete_window(call):
    rec = call.store.get("maintenance_window", call.params["id"])
    if rec["end"] <= call.now:
        raise ApiError(405, INVALID_INPUT, "Method Not Allowed",
                       ["Only future or ongoing maintenance windows can be deleted"])
    del call.store.maintenance_windows[rec["id"]]
    return 204, None


def apply(store, rec, body, creating):
    for field, attr in (("start_time", "start"), ("end_time", "end")):
        if body.get(field) is None:
            if creating:
                raise invalid(f"maintenance_window.{field} is required")
            continue
        try:
            rec[attr] = timeutil.parse(body[field])
        except ValueError:
            raise invalid(f"maintenance_window.{field} must be an ISO 8601 date-time") from None
    if rec["end"] <= rec["start"]:
        raise invalid("maintenance_window.end_time must be after start_time")
    description = v.text(body, "description", 1024, where="maintenance_window")
    if description is not None:
        rec["description"] = description
    if "services" in body or creating:
        services = body.get("services")
        if not isinstance(services, list) or not services:
            raise invalid("maintenance_window.services must be a non-empty array of service references")
        rec["service_ids"] = v.existing_ids(store, services, "service", "maintenance_window.services")
