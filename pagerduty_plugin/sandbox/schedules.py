"""Schedules: layers, overrides, rendered entries, and the users on them."""
from datetime import time as dtime

from . import query as q, render, rotation, timeutil, validate as v
from .errors import ApiError, invalid, not_found
from .routing import route
from .timeutil import iso

WEEK = 7 * 24 * 3600
WEEK2 = 2 * WEEK
RESTRICTION_TYPES = ("daily_restriction", "weekly_restriction")


def window(call, default_span=WEEK2):
    """since/until with PagerDuty's defaults: each defaults to two weeks from the other, else now."""
    since = q.timestamp(call.query, "since")
    until = q.timestamp(call.query, "until")
    if since is None and until is None:
        since = call.now
    if until is None:
        until = since + default_span
    if since is None:
        since = until - default_span
    if until < since:
        raise invalid("until must not be before since")
    return since, until


def entry_json(store, entry):
    start, end, user_id = entry
    return {"start": iso(start), "end": iso(end), "user": store.ref("user", user_id)}


def policies_using(store, schedule_id):
    return [ep["id"] for ep in store.escalation_policies.values()
            if any(t == ("schedule", schedule_id) for rule in ep["rules"] for t in rule["targets"])]


def schedule_users(schedule):
    seen = []
    for layer in schedule["layers"]:
        for uid in layer["user_ids"]:
            if uid not in seen:
                seen.append(uid)
    for o in schedule["overrides"]:
        if o["user_id"] not in seen:
            seen.append(o["user_id"])
    return seen


def render_schedule(store, rec, since=None, until=None, parts=("schedule_layers", "final_schedule",
                                                                 "overrides_subschedule")):
    out = store.entity("schedule", rec["id"])
    out.update({
        "name": rec["name"],
        "description": rec.get("description") or "",
        "time_zone": rec["time_zone"],
        "escalation_policies": [store.ref("escalation_policy", e) for e in policies_using(store, rec["id"])],
        "users": [store.ref("user", u) for u in schedule_users(rec) if u in store.users],
        "teams": [store.ref("team", t) for t in rec["team_ids"] if t in store.teams],
    })
    if since is None:
        return out
    tz = rotation.zone(rec["time_zone"])
    if "schedule_layers" in parts:
        out["schedule_layers"] = [_layer_json(store, layer, since, until, tz) for layer in rec["layers"]]
    if "final_schedule" in parts:
        final = rotation.final_entries(rec, since, until, tz)
        out["final_schedule"] = {"name": "Final Schedule",
                                 "rendered_schedule_entries": [entry_json(store, e) for e in final],
                                 "rendered_coverage_percentage": rotation.coverage(final, since, until)}
    if "overrides_subschedule" in parts:
        overrides = rotation.override_entries(rec, since, until)
        out["overrides_subschedule"] = {"name": "Overrides",
                                        "rendered_schedule_entries": [entry_json(store, e) for e in overrides],
                                        "rendered_coverage_percentage": rotation.coverage(overrides, since, until)}
    return out


def _layer_json(store, layer, since, until, tz):
    entries = rotation.layer_entries(layer, since, until, tz)
    out = {
        "id": layer["id"],
        "name": layer["name"],
        "start": iso(layer["start"]),
        "rotation_virtual_start": iso(layer["virtual_start"]),
        "rotation_turn_length_seconds": layer["turn"],
        "users": [{"user": store.ref("user", u)} for u in layer["user_ids"]],
        "restrictions": layer.get("restrictions") or [],
        "rendered_schedule_entries": [entry_json(store, e) for e in entries],
        "rendered_coverage_percentage": rotation.coverage(entries, since, until),
    }
    if layer.get("end") is not None:   # PagerDuty sends null; the schema does not allow it
        out["end"] = iso(layer["end"])
    return out


@route("GET", "/schedules")
def list_schedules(call):
    store = call.store
    needle = q.one(call.query, "query")
    team_ids = set(q.many(call.query, "team_ids"))
    found = sorted((s for s in store.schedules.values() if q.text_match(needle, s["name"])
                    and (not team_ids or team_ids & set(s["team_ids"]))),
                   key=lambda s: (s["name"].lower(), s["id"]))
    parts = set(q.many(call.query, "include"))
    since = until = None
    if parts:
        since, until = window(call)
    return 200, q.paginate(call.query, found, "schedules",
                           lambda s: render_schedule(store, s, since, until, parts))


@route("POST", "/schedules")
def create_schedule(call):
    body = call.wrapped("schedule")
    v.type_is(body, ("schedule",), "schedule")
    store = call.store
    rec = {"id": store.new_id(), "overrides": [], "team_ids": [], "layers": [], "created": call.now}
    apply(store, rec, body, creating=True)
    store.schedules[rec["id"]] = rec
    since, until = window(call)
    return 201, {"schedule": render_schedule(store, rec, since, until)}


@route("GET", "/schedules/{id}")
def get_schedule(call):
    rec = call.store.get("schedule", call.params["id"])
    since, until = window(call)
    return 200, {"schedule": render_schedule(call.store, rec, since, until)}


@route("PUT", "/schedules/{id}")
def update_schedule(call):
    rec = call.store.get("schedule", call.params["id"])
    body = call.wrapped("schedule")
    if "type" in body:
        v.type_is(body, ("schedule", "schedule_reference"), "schedule")
    v.staged(apply, call.store, rec, body)
    since, until = window(call)
    return 200, {"schedule": render_schedule(call.store, rec, since, until)}


@route("DELETE", "/schedules/{id}")
def delete_schedule(call):
    store = call.store
    rec = store.get("schedule", call.params["id"])
    users = policies_using(store, rec["id"])
    if users:
        raise invalid(f"Schedule {rec['id']} is used by escalation policies {', '.join(users)}; "
                      "remove it from them first")
    del store.schedules[rec["id"]]
    return 204, None


@route("GET", "/schedules/{id}/users")
def list_schedule_users(call):
    store = call.store
    rec = store.get("schedule", call.params["id"])
    if q.one(call.query, "since") is None and q.one(call.query, "until") is None:
        ids = schedule_users(rec)
    else:
        since, until = window(call)
        ids = []
        for _s, _e, uid in rotation.final_entries(rec, since, until, rotation.zone(rec["time_zone"])):
            if uid not in ids:
                ids.append(uid)
    return 200, {"users": [render.user(store, store.users[u]) for u in ids if u in store.users]}


# Overrides -----------------------------------------------------------------------------------
def override_json(store, o):
    return {"id": o["id"], "start": iso(o["start"]), "end": iso(o["end"]), "user": store.ref("user", o["user_id"])}


@route("GET", "/schedules/{id}/overrides")
def list_overrides(call):
    store = call.store
    rec = store.get("schedule", call.params["id"])
    since, until = window(call)
    found = [o for o in rec["overrides"] if o["start"] < until and o["end"] > since]
    if q.flag(call.query, "editable"):
        found = [o for o in found if o["end"] > call.now]
    # The published contract gives this GET a 201 answer; PagerDuty itself answers 200. Follow the contract.
    return 201, {"overrides": [override_json(store, o) for o in found]}


@route("POST", "/schedules/{id}/overrides")
def create_overrides(call):
    store = call.store
    rec = store.get("schedule", call.params["id"])
    body = call.body if isinstance(call.body, dict) else {}
    if "override" in body:   # the older single-override form
        created = _override(store, rec, body["override"], "override", call.now)
        return 201, {"override": override_json(store, created)}
    items = body.get("overrides")
    if not isinstance(items, list) or not items:
        raise invalid("overrides must be a non-empty array")
    results = []
    for i, item in enumerate(items):
        try:
            created = _override(store, rec, item, f"overrides[{i}]", call.now)
            results.append({"status": 201, "override": override_json(store, created)})
        except ApiError as exc:   # each override succeeds or fails on its own
            results.append({"status": 400, "errors": exc.errors,
                            "override": item if isinstance(item, dict) else {}})
    return 201, results


def _override(store, rec, item, where, now):
    if not isinstance(item, dict):
        raise invalid(f"{where} must be an object")
    try:
        start = timeutil.parse(item.get("start"))
        end = timeutil.parse(item.get("end"))
    except ValueError:
        raise invalid(f"{where}.start and {where}.end must be ISO 8601 date-times") from None
    if end <= start:
        raise invalid(f"{where}.end must be after start")
    user_id = v.ref_id(item.get("user"), ["user"], f"{where}.user")
    v.existing(store, "user", user_id, f"{where}.user")
    created = {"id": store.new_id(), "start": start, "end": end, "user_id": user_id, "created": now}
    rec["overrides"].append(created)
    return created


@route("DELETE", "/schedules/{id}/overrides/{override_id}")
def delete_override(call):
    rec = call.store.get("schedule", call.params["id"])
    found = next((o for o in rec["overrides"] if o["id"] == call.params["override_id"]), None)
    if found is None:
        raise not_found("override")
    if found["start"] < call.now < found["end"]:
        found["end"] = call.now   # an override in progress is cut short, not removed
        return 200, None
    rec["overrides"].remove(found)
    return 204, None


# Writing schedules -----------------------------------------------------------------------------
def apply(store, rec, body, creating):
    name = v.text(body, "name", 255, where="schedule")
    if name is not None or creating:
        rec["name"] = name or f"Schedule {rec['id']}"
    description = v.text(body, "description", 1024, where="schedule")
    if description is not None:
        rec["description"] = description
    time_zone = v.text(body, "time_zone", 100, required_=creating, where="schedule")
    if time_zone is not None:
        rec["time_zone"] = time_zone
    if "schedule_layers" in body or creating:
        layers = body.get("schedule_layers")
        if not isinstance(layers, list) or not layers:
            raise invalid("schedule.schedule_layers must be a non-empty array")
        old = {layer["id"] for layer in rec["layers"]}
        rec["layers"] = [_layer(store, layer, f"schedule.schedule_layers[{i}]", old, i)
                         for i, layer in enumerate(layers)]
    if "teams" in body:
        rec["team_ids"] = v.existing_ids(store, body["teams"], "team", "schedule.teams")


def _layer(store, layer, where, old_ids, index):
    if not isinstance(layer, dict):
        raise invalid(f"{where} must be an object")
    v.required(layer, "start", "users", "rotation_virtual_start", "rotation_turn_length_seconds", where=where)
    try:
        start = timeutil.parse(layer["start"])
        virtual_start = timeutil.parse(layer["rotation_virtual_start"])
        end = timeutil.parse(layer["end"]) if layer.get("end") else None
    except ValueError:
        raise invalid(f"{where}: start, end and rotation_virtual_start must be ISO 8601 date-times") from None
    turn = v.integer(layer, "rotation_turn_length_seconds", 3600, 365 * 86400, where=where)
    if not isinstance(layer["users"], list):
        raise invalid(f"{where}.users must be an array")
    user_ids = []
    for j, entry in enumerate(layer["users"]):
        user_ref = entry.get("user") if isinstance(entry, dict) else None
        uid = v.ref_id(user_ref, ["user"], f"{where}.users[{j}].user")
        user_ids.append(v.existing(store, "user", uid, f"{where}.users[{j}].user"))
    restrictions = v.items(layer.get("restrictions"), f"{where}.restrictions", _restriction)
    layer_id = layer.get("id") if layer.get("id") in old_ids else store.new_id()
    return {"id": layer_id, "name": layer.get("name") or f"Layer {index + 1}", "start": start, "end": end,
            "virtual_start": virtual_start, "turn": turn, "user_ids": user_ids, "restrictions": restrictions}


def _restriction(r, where):
    """Checked fully here: rotation.py renders it on every read of the schedule, its on-calls and events."""
    if not isinstance(r, dict):
        raise invalid(f"{where} must be an object")
    v.required(r, "type", "start_time_of_day", "duration_seconds", where=where)
    type_ = v.choice(r, "type", RESTRICTION_TYPES, where=where)
    if not _time_of_day(r["start_time_of_day"]):
        raise invalid(f"{where}.start_time_of_day must be a time of day as HH:mm:ss")
    v.integer(r, "duration_seconds", 1, WEEK, where=where)
    if type_ == "weekly_restriction":
        v.required(r, "start_day_of_week", where=where)
    v.integer(r, "start_day_of_week", 1, 7, where=where)
    return dict(r)


def _time_of_day(value):
    try:
        return isinstance(value, str) and dtime.fromisoformat(value).tzinfo is None
    except ValueError:
        return False
