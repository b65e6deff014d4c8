"""Outbound v3 events: what changed on an incident, as PagerDuty's webhook body, for every subscription
that wants it. Called with the store lock held, right after the change, so the data is the incident as
the change left it; the deliveries are handed to the worker (webhook_sender.py), which sends them later.

Event data as PagerDuty's v3 webhook docs describe it: `incident` for most types, `incident_note` for
incident.annotated, `incident_status_update`, `incident_responder` for incident.responder.*.
"""
import json
import os
import time

from .webhook_sender import Delivery

INCIDENT_EVENTS = (
    "incident.acknowledged", "incident.annotated", "incident.delegated", "incident.escalated",
    "incident.priority_updated", "incident.reassigned", "incident.reopened", "incident.resolved",
    "incident.responder.added", "incident.responder.replied", "incident.status_update_published",
    "incident.triggered", "incident.unacknowledged",
    # 2025–2026
    "incident.custom_field_values.updated", "incident.incident_type.changed", "incident.workflow.completed",
    "incident.workflow.started",
)
SERVICE_EVENTS = ("service.created", "service.deleted", "service.updated")
EVENT_TYPES = INCIDENT_EVENTS + SERVICE_EVENTS
PING_MESSAGE = "Hello from your friend Pagey!"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def event_id():
    """A ULID-like id (26 characters, time first), as PagerDuty's event ids look."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def occurred_at(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


def event(event_type, resource_type, ts, agent, data):
    return {"event": {"id": event_id(), "event_type": event_type, "resource_type": resource_type,
                      "occurred_at": occurred_at(ts), "agent": agent, "client": None, "data": data}}


# --- event data --------------------------------------------------------------------------------
def incident_data(store, inc):
    service = store.services.get(inc["service_id"]) or {}
    data = store.entity("incident", inc["id"])
    del data["summary"]
    data.update({
        "number": inc["number"],
        "status": inc["status"],
        "incident_key": inc["key"],
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(inc["created"])),
        "title": inc["title"],
        "service": store.ref("service", inc["service_id"]),
        "assignees": [store.ref("user", uid) for uid, _at in inc["assignments"] if uid in store.users],
        "escalation_policy": store.ref("escalation_policy", inc["ep_id"]),
        "teams": [store.ref("team", t) for t in service.get("team_ids", ()) if t in store.teams],
        "priority": store.ref("priority", inc["priority_id"]) if inc["priority_id"] in store.priorities else None,
        "urgency": inc["urgency"],
        "conference_bridge": dict(inc["conference_bridge"]) if inc["conference_bridge"] else None,
        "resolve_reason": ({"type": "merge_resolve_reason", "incident": store.ref("incident", inc["merged_into"])}
                           if inc["merged_into"] else None),
    })
    return data


def incident_ref(store, inc):
    ref = store.ref("incident", inc["id"])
    ref["summary"] = inc["title"]
    return ref


def note_data(store, inc, note):
    return {"incident": incident_ref(store, inc), "id": note["id"], "content": note["content"],
            "trimmed": False, "type": "incident_note"}


def status_update_data(store, inc, update):
    return {"incident": incident_ref(store, inc), "id": update["id"], "message": update["message"],
            "trimmed": False, "type": "incident_status_update"}


def responder_data(store, inc, responder):
    kind, target_id = responder["target"]
    return {"incident": incident_ref(store, inc), "user": store.ref("user", responder["user_id"]),
            "escalation_policy": store.ref("escalation_policy", target_id) if kind == "escalation_policy" else None,
            "message": responder["message"], "state": responder["state"], "type": "incident_responder"}


def agent_ref(store, agent, inc):
    """Who made the change: a user, or the service for Events API changes; None for PagerDuty itself."""
    if agent is None:
        return None
    kind, agent_id = agent
    if kind == "integration":
        return store.ref("service", inc["service_id"])
    return store.ref(kind, agent_id) if store.find(kind, agent_id) is not None else None


# --- matching and handing over -------------------------------------------------------------
def _matches(store, sub, event_type, service_id):
    if not sub["active"] or sub["temporarily_disabled"] or event_type not in sub["events"]:
        return False
    kind, target = sub["filter_type"], sub["filter_id"]
    if kind == "service_reference":
        return service_id == target
    if kind == "team_reference":
        return target in (store.services.get(service_id) or {}).get("team_ids", ())
    return True


def incident_event(store, event_type, inc, agent, now, data=None):
    """Announce a change to an incident (data defaults to the incident itself)."""
    if not (store.webhook_subscriptions and store.deliver_webhooks and store.deliverer):
        return
    wanted = [s for s in store.webhook_subscriptions.values() if _matches(store, s, event_type, inc["service_id"])]
    if not wanted:
        return
    body = event(event_type, "incident", now, agent_ref(store, agent, inc),
                 data if data is not None else incident_data(store, inc))
    _hand_over(store, wanted, body, inc["id"])


def service_event(store, event_type, service, agent, now):
    if not (store.webhook_subscriptions and store.deliver_webhooks and store.deliverer):
        return
    wanted = [s for s in store.webhook_subscriptions.values() if _matches(store, s, event_type, service["id"])]
    if not wanted:
        return
    data = store.entity("service", service["id"])
    data.update({"summary": service["name"], "alert_creation": service.get("alert_creation",
                                                                            "create_alerts_and_incidents"),
                 "teams": [store.ref("team", t) for t in service.get("team_ids", ()) if t in store.teams]})
    agent = store.ref(*agent) if agent and store.find(*agent) is not None else None
    _hand_over(store, wanted, event(event_type, "service", now, agent, data), None)


def ping(store, sub, now):
    if store.deliverer is None:
        return
    body = event("pagey.ping", "pagey", now, None, {"message": PING_MESSAGE, "type": "ping"})
    _hand_over(store, [sub], body, None)


def _hand_over(store, subscriptions, body, incident_id):
    raw = json.dumps(body, separators=(",", ":")).encode()
    for sub in subscriptions:
        store.deliverer.enqueue(Delivery(sub, raw, body["event"], incident_id))
