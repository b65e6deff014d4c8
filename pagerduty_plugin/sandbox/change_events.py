"""Change events: kept when the Events API accepts them, listed and read through the REST API."""
import base64
import uuid

from . import query as q, timeutil
from .errors import invalid
from .routing import route

CORRELATION_WINDOW = timeutil.DAY   # an incident's related changes: its service's, in the day before it


def new_id():
    """26 characters of Crockford's base32, as PagerDuty's change event ids look (ULIDs)."""
    raw = base64.b32encode(b"\0\0\0\0" + uuid.uuid4().bytes).decode().rstrip("=")
    return raw.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ"))[-26:]


def keep(store, integration, event, now):
    """Store an accepted change event; returns its record."""
    payload = event["payload"]
    rec = {
        "id": new_id(), "summary": payload["summary"], "source": payload.get("source"),
        "timestamp": timeutil.parse(payload["timestamp"]) if payload.get("timestamp") else now,
        "received": now, "service_id": integration["service_id"], "integration_id": integration["id"],
        "custom_details": payload.get("custom_details") or {},
        "links": [{"href": link["href"], **({"text": link["text"]} if isinstance(link.get("text"), str) else {})}
                  for link in event.get("links") or []],
        "images": [{k: image[k] for k in ("src", "href", "alt") if isinstance(image.get(k), str)}
                   for image in event.get("images") or []],
    }
    store.change_events[rec["id"]] = rec
    return rec


def render(store, rec):
    integration = store.integrations.get(rec["integration_id"])
    out = store.entity("change_event", rec["id"])
    out.update({
        "timestamp": timeutil.iso(rec["timestamp"]),
        "summary": rec["summary"],
        "services": [store.ref("service", rec["service_id"])] if rec["service_id"] in store.services else [],
        "integration": (store.ref("integration", integration["id"], integration["type"] + "_reference")
                        if integration else {"id": rec["integration_id"], "type": "inbound_integration_reference"}),
        "custom_details": rec["custom_details"],
        "links": rec["links"],
        "images": rec["images"],
    })
    if rec["source"] is not None:
        out["source"] = rec["source"]
    return out


def _listing(call, service_id=None):
    store = call.store
    since = q.timestamp(call.query, "since")
    until = q.timestamp(call.query, "until")
    if since is not None and until is not None and until < since:
        raise invalid("until must not be before since")
    team_ids = set(q.many(call.query, "team_ids"))
    integration_ids = set(q.many(call.query, "integration_ids"))
    found = []
    for rec in newest_first(store):
        if service_id is not None and rec["service_id"] != service_id:
            continue
        if since is not None and rec["timestamp"] < since or until is not None and rec["timestamp"] >= until:
            continue
        if integration_ids and rec["integration_id"] not in integration_ids:
            continue
        if team_ids and not team_ids & set((store.services.get(rec["service_id"]) or {}).get("team_ids", ())):
            continue
        found.append(rec)
    return 200, q.paginate(call.query, found, "change_events", lambda r: render(store, r))


def newest_first(store):
    return sorted(store.change_events.values(), key=lambda r: (r["timestamp"], r["received"]), reverse=True)


@route("GET", "/change_events")
def list_all(call):
    return _listing(call)


@route("GET", "/services/{id}/change_events")
def list_for_service(call):
    service = call.store.get("service", call.params["id"])
    return _listing(call, service["id"])


@route("GET", "/change_events/{id}")
def get_one(call):
    return 200, {"change_event": render(call.store, call.store.get("change_event", call.params["id"]))}


@route("PUT", "/change_events/{id}")
def update(call):
    """Only summary and custom_details can be changed (the rest is what the sending tool said)."""
    rec = call.store.get("change_event", call.params["id"])
    body = call.wrapped("change_event")
    if "summary" in body:
        if not isinstance(body["summary"], str) or not body["summary"].strip() or len(body["summary"]) > 1024:
            raise invalid("change_event.summary must be a non-blank string of at most 1024 characters")
        rec["summary"] = body["summary"]
    if "custom_details" in body:
        if not isinstance(body["custom_details"], dict):
            raise invalid("change_event.custom_details must be an object")
        rec["custom_details"] = body["custom_details"]
    return 200, {"change_event": render(call.store, rec)}


@route("GET", "/incidents/{id}/related_change_events")
def related_to_incident(call):
    """The changes on the incident's service in the day before it was opened, newest first
    (PagerDuty's change correlation also weighs other services and machine learning: not imitated)."""
    store = call.store
    incident = store.get("incident", call.params["id"])
    limit = q.integer(call.query, "limit", q.DEFAULT_LIMIT)
    if limit < 1:
        raise invalid("limit must be a positive integer")
    start = incident["created"] - CORRELATION_WINDOW
    related = [rec for rec in newest_first(store) if rec["service_id"] == incident["service_id"]
               and start <= rec["timestamp"] <= incident["created"]]
    return 200, {"change_events": [dict(render(store, rec), correlation_reason={"reason": "related_service"})
                                   for rec in related[:min(limit, q.MAX_LIMIT)]]}
