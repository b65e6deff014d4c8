"""Webhook subscriptions (v3 webhooks): create, list, show, update, delete, enable, ping.

PagerDuty's quirks kept here: create answers 200 (not 201) and is the only answer that carries the
signing secret (`delivery_method.secret`; null everywhere else); custom header values are redacted in
answers; a subscription's delivery method cannot be changed (PUT refuses it); at most 10 subscriptions
per service, team or account scope; ping answers 202 and delivers a `pagey.ping` event.
"""
import re
import secrets

from . import outbound, query as q, validate as v
from .errors import invalid
from .routing import route
from .compat import without_suffix

MAX_PER_SCOPE = 10
FILTER_TYPES = {"account_reference": None, "service_reference": "service", "team_reference": "team"}
QUERY_FILTER_TYPES = {"account": "account_reference", "service": "service_reference", "team": "team_reference"}
REDACTED = "-- redacted --"
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}\Z")   # an HTTP token
WHERE = "webhook_subscription"


def render(store, rec, secret=None):
    delivery = {"id": rec["delivery_method_id"], "secret": secret, "temporarily_disabled": rec["temporarily_disabled"],
                "type": "http_delivery_method", "url": rec["url"],
                "custom_headers": [{"name": h["name"], "value": REDACTED} for h in rec["custom_headers"]]}
    out = {"id": rec["id"], "type": "webhook_subscription", "active": rec["active"], "delivery_method": delivery,
           "events": list(rec["events"]), "filter": {"type": rec["filter_type"]}}
    if rec["filter_id"] is not None:
        out["filter"]["id"] = rec["filter_id"]
    if rec["description"] is not None:
        out["description"] = rec["description"]
    return out


def _subscription(call):
    return call.store.get("webhook_subscription", call.params["id"], "webhook subscription")


@route("GET", "/webhook_subscriptions")
def list_subscriptions(call):
    store = call.store
    filter_type = q.one(call.query, "filter_type")
    filter_id = q.one(call.query, "filter_id")
    found = sorted(store.webhook_subscriptions.values(), key=lambda s: s["created_seq"])
    if filter_type not in (None, ""):
        if filter_type not in QUERY_FILTER_TYPES:
            raise invalid("filter_type must be account, service or team")
        if filter_type != "account" and not filter_id:
            raise invalid(f"filter_id is required when filter_type is {filter_type}")
        found = [s for s in found if s["filter_type"] == QUERY_FILTER_TYPES[filter_type]
                 and (filter_type == "account" or s["filter_id"] == filter_id)]
    elif filter_id:
        raise invalid("filter_id needs filter_type (service or team)")
    return 200, q.paginate(call.query, found, "webhook_subscriptions", lambda s: render(store, s))


@route("POST", "/webhook_subscriptions")
def create_subscription(call):
    store = call.store
    body = call.wrapped(WHERE)
    v.type_is(body, ("webhook_subscription",), WHERE)
    method = body.get("delivery_method")
    if not isinstance(method, dict):
        raise invalid(f"{WHERE}.delivery_method is required (an object with type http_delivery_method and url)")
    v.type_is(method, ("http_delivery_method",), f"{WHERE}.delivery_method")
    rec = {"id": store.new_id(), "delivery_method_id": store.new_id(), "created_seq": store.next_number("webhook"),
           "url": _url(method.get("url")), "custom_headers": _headers(method.get("custom_headers")),
           "secret": secrets.token_urlsafe(48), "temporarily_disabled": False, "drops": 0,
           "active": True, "description": None}
    if "events" not in body or "filter" not in body:
        raise invalid(*(f"{WHERE}.{f} is required" for f in ("events", "filter") if f not in body))
    apply(store, rec, body, creating=True)
    store.webhook_subscriptions[rec["id"]] = rec
    # The one answer that carries the signing secret (PagerDuty answers 200 here, not 201).
    return 200, {"webhook_subscription": render(store, rec, secret=rec["secret"])}


@route("GET", "/webhook_subscriptions/{id}")
def get_subscription(call):
    return 200, {"webhook_subscription": render(call.store, _subscription(call))}


@route("PUT", "/webhook_subscriptions/{id}")
def update_subscription(call):
    store = call.store
    rec = _subscription(call)
    body = call.wrapped(WHERE)
    if "delivery_method" in body:
        raise invalid(f"{WHERE}.delivery_method cannot be changed: delete the subscription and create a new one")
    if body.get("type") not in (None, "webhook_subscription"):
        raise invalid(f"{WHERE}.type must be webhook_subscription")
    v.staged(apply, store, rec, body)
    return 200, {"webhook_subscription": render(store, rec)}


@route("DELETE", "/webhook_subscriptions/{id}")
def delete_subscription(call):
    rec = _subscription(call)
    del call.store.webhook_subscriptions[rec["id"]]
    if call.store.deliverer is not None:
        call.store.deliverer.drop_subscription(rec["id"], "cancelled")
    return 204, None


@route("POST", "/webhook_subscriptions/{id}/enable")
def enable_subscription(call):
    rec = _subscription(call)
    rec["temporarily_disabled"] = False
    rec["drops"] = 0
    return 200, {"webhook_subscription": render(call.store, rec)}


@route("POST", "/webhook_subscriptions/{id}/ping")
def ping_subscription(call):
    outbound.ping(call.store, _subscription(call), call.now)
    return 202, None


# --- validation --------------------------------------------------------------------------------
def apply(store, rec, body, creating):
    if "description" in body:
        description = v.text(body, "description", 1024, where=WHERE)
        rec["description"] = description
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise invalid(f"{WHERE}.active must be true or false")
        rec["active"] = body["active"]
    if "events" in body:
        rec["events"] = _events(body["events"])
    if "filter" in body:
        filter_type, filter_id = _filter(store, body["filter"])
        if creating or (filter_type, filter_id) != (rec["filter_type"], rec["filter_id"]):
            _room_in_scope(store, filter_type, filter_id)
        rec["filter_type"], rec["filter_id"] = filter_type, filter_id
    oauth = body.get("oauth_client_id")
    if oauth is not None:
        raise invalid(f"{WHERE}.oauth_client_id {oauth} does not exist (the sandbox has no OAuth clients)")


def _url(value):
    """http(s), optionally with user:password@ (PagerDuty sends those as basic authentication)."""
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{WHERE}.delivery_method.url is required")
    if len(value) > 2048 or not re.fullmatch(r"https?://([^\s/?#@]+@)?(\[[0-9A-F:.]+\]|[^\s/?#@:\[\]]+)(:\d{1,5})?([/?#]\S*)?", value, re.I):
        raise invalid(f"{WHERE}.delivery_method.url must be an http or https URL")
    return value


def _headers(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"{WHERE}.delivery_method.custom_headers must be an array of {{name, value}}")
    headers, seen = [], set()
    for i, item in enumerate(value):
        where = f"{WHERE}.delivery_method.custom_headers[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or \
                not isinstance(item.get("value"), str):
            raise invalid(f"{where} must be an object with a name and a value (strings)")
        if not HEADER_NAME.match(item["name"]):
            raise invalid(f"{where}.name must be an HTTP header name (letters, digits, '-' ...)")
        if any(c in item["value"] for c in "\r\n\0"):
            raise invalid(f"{where}.value must be one line")
        if item["name"].lower() in seen:
            raise invalid(f"{where}.name: header names must be unique within a subscription")
        seen.add(item["name"].lower())
        headers.append({"name": item["name"], "value": item["value"]})
    return headers


def _events(value):
    if not isinstance(value, list) or not value:
        raise invalid(f"{WHERE}.events must be a non-empty array of event types")
    if any(not isinstance(e, str) for e in value):
        raise invalid(f"{WHERE}.events must hold strings")
    if len(set(value)) != len(value):
        raise invalid(f"{WHERE}.events must not repeat an event type")
    unknown = [e for e in value if e not in outbound.EVENT_TYPES]
    if unknown:
        raise invalid(f"{WHERE}.events has unknown event types: {', '.join(unknown)}")
    return list(value)


def _filter(store, value):
    if not isinstance(value, dict) or value.get("type") not in FILTER_TYPES:
        raise invalid(f"{WHERE}.filter.type must be one of: {', '.join(FILTER_TYPES)}")
    kind = FILTER_TYPES[value["type"]]
    if kind is None:
        return value["type"], None
    filter_id = value.get("id")
    if not isinstance(filter_id, str) or not filter_id:
        raise invalid(f"{WHERE}.filter.id is required for a {value['type']} filter")
    return value["type"], v.existing(store, kind, filter_id, f"{WHERE}.filter")


def _room_in_scope(store, filter_type, filter_id):
    taken = sum(1 for s in store.webhook_subscriptions.values()
                if s["filter_type"] == filter_type and s["filter_id"] == filter_id)
    if taken >= MAX_PER_SCOPE:
        raise invalid(f"At most {MAX_PER_SCOPE} webhook subscriptions are allowed per "
                      f"{without_suffix(filter_type, '_reference')} scope")
