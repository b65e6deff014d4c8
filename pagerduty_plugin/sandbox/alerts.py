"""An incident's alerts (made by Events API triggers)."""
from . import incident_view, lifecycle, query as q, validate as v
from .errors import ApiError, invalid, INVALID_INPUT
from .routing import route

SORTS = {"created_at": ("created", False), "created_at:asc": ("created", False),
         "created_at:desc": ("created", True), "resolved_at": ("resolved", False),
         "resolved_at:asc": ("resolved", False), "resolved_at:desc": ("resolved", True)}


def _incident(call):
    return call.store.get("incident", call.params["id"])


def _alert(call, inc):
    return call.store.child("alert", call.params["alert_id"], "incident_id", inc["id"])


@route("GET", "/incidents/{id}/alerts")
def list_alerts(call):
    store = call.store
    inc = _incident(call)
    statuses = set(q.many(call.query, "statuses"))
    if statuses - {"triggered", "resolved"}:
        raise invalid("statuses[] must be triggered or resolved")
    key = q.one(call.query, "alert_key")
    found = [store.alerts[a] for a in inc["alert_ids"]]
    found = [a for a in found if (not statuses or a["status"] in statuses) and (key is None or a["key"] == key)]
    sort = q.one(call.query, "sort_by")
    if sort is not None:
        if sort not in SORTS:
            raise invalid(f"sort_by must be one of: {', '.join(SORTS)}")
        field, descending = SORTS[sort]
        found.sort(key=lambda a: a.get(field) or 0, reverse=descending)
    include = set(q.many(call.query, "include"))
    return 200, q.paginate(call.query, found, "alerts", lambda a: incident_view.alert(store, a, include))


@route("GET", "/incidents/{id}/alerts/{alert_id}")
def get_alert(call):
    inc = _incident(call)
    return 200, {"alert": incident_view.alert(call.store, _alert(call, inc))}


@route("PUT", "/incidents/{id}/alerts/{alert_id}", from_header="required")
def update_alert(call):
    inc = _incident(call)
    rec = _alert(call, inc)
    _apply(call, rec, _plan(call, rec, call.wrapped("alert"), "alert"))
    return 200, {"alert": incident_view.alert(call.store, rec)}


@route("PUT", "/incidents/{id}/alerts", from_header="required")
def update_alerts(call):
    inc = _incident(call)
    items = call.body.get("alerts") if isinstance(call.body, dict) else None
    if not isinstance(items, list) or not items:
        raise invalid("alerts must be a non-empty array")
    if len(items) > 250:
        raise ApiError(413, INVALID_INPUT, "Request Entity Too Large", ["At most 250 alerts at once"])
    store = call.store
    targets = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("id") not in inc["alert_ids"]:
            raise invalid(f"alerts[{i}].id must name an alert of this incident")
        rec = store.alerts[item["id"]]
        targets.append((rec, _plan(call, rec, item, f"alerts[{i}]")))
    if len({rec["id"] for rec, _plan in targets}) < len(targets):
        raise invalid("alerts: each alert may appear only once")
    for rec, plan in targets:   # all checked: now change them
        _apply(call, rec, plan)
    rendered = [incident_view.alert(store, rec) for rec, _plan in targets]
    return 200, {"alerts": rendered, "limit": len(rendered), "offset": 0, "more": False, "total": None}


def _plan(call, rec, body, where):
    """(status, target incident or None): checked before anything changes."""
    status = v.choice(body, "status", ("resolved", "triggered"), where=where)
    if status == "triggered" and rec["status"] == "resolved":
        raise invalid("A resolved alert cannot be triggered again; send a new trigger event instead")
    target = None
    if body.get("incident") is not None:
        target = call.store.find("incident", v.ref_id(body["incident"], ["incident"], f"{where}.incident"))
        if target is None or target["status"] == "resolved":
            raise invalid(f"{where}.incident must be an open incident")
    return status, target


def _apply(call, rec, plan):
    store = call.store
    status, target = plan
    if target is not None and target["id"] != rec["incident_id"]:
        store.incidents[rec["incident_id"]]["alert_ids"].remove(rec["id"])
        target["alert_ids"].append(rec["id"])
        rec["incident_id"] = target["id"]
    if status == "resolved" and rec["status"] != "resolved":
        lifecycle.close_alert(store, rec, call.now, call.agent())
