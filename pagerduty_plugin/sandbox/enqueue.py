"""Events API v2: /v2/enqueue (alerts grouped into incidents) and /v2/change/enqueue."""

from . import change_events, lifecycle, log_entries, render, timeutil
from .errors import strict_json

MAX_BYTES = 512 * 1024
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
INVALID = "invalid event"


def _invalid(*errors, message="Event object is invalid"):
    return 400, {"status": INVALID, "message": message, "errors": list(errors)}


def _accepted(dedup_key=None, message="Event processed"):
    body = {"status": "success", "message": message}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return 202, body


def handle(sandbox, raw, kind, limiter, rate):
    """(status, JSON answer) for one event; `rate` is updated to the routing key's
    (limit, remaining, reset) once the event is counted."""
    if len(raw) > MAX_BYTES:
        return _invalid(f"Event is {len(raw)} bytes; the maximum is {MAX_BYTES} (512 KB)")
    try:
        event = strict_json(raw) if raw else None
    except (ValueError, RecursionError):
        return _invalid("JSON parse error", message="Event object is invalid")
    if not isinstance(event, dict):
        return _invalid("Event must be a JSON object")
    store = sandbox.store
    key = event.get("routing_key")
    if not isinstance(key, str) or not key.strip():
        return _invalid("'routing_key' is missing or blank")
    if len(key) != 32:
        return _invalid("Length of 'routing_key' is incorrect (should be 32 characters)")
    allowed, limit, remaining, reset = limiter.hit(key)
    rate[:] = [limit, remaining, reset]
    if not allowed:
        return 429, {"status": "throttle event",
                     "message": "Requests for this service are arriving too quickly. Please retry later."}
    errors = (_check_change if kind == "change" else _check_event)(event)
    with store.lock:
        integration = store.integrations.get(store.routing_keys.get(key))
        if integration is None or integration["service_id"] not in store.services:
            errors.insert(0, "Invalid routing key: no Events API v2 integration has this key")
        if errors:
            return _invalid(*errors)
        now = timeutil.now()
        if kind == "change":   # kept: GET /change_events lists it
            change_events.keep(store, integration, event, now)
            return _accepted(message="Change event processed")
        lifecycle.expire_snoozes(store, now)
        return _process(store, store.services[integration["service_id"]], integration, event, now)


def _text(obj, field, where, errors, required=False, max_len=None):
    value = obj.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(f"'{where}{field}' is missing or blank")
        return
    if not isinstance(value, str):
        errors.append(f"'{where}{field}' must be a string")
    elif max_len and len(value) > max_len:
        errors.append(f"'{where}{field}' is too long ({len(value)} characters; the maximum is {max_len})")


def _check_common(event, payload, errors):
    if payload.get("timestamp") is not None:
        try:
            timeutil.parse(payload["timestamp"])
        except ValueError:
            errors.append("'payload.timestamp' is not a valid ISO 8601 date-time")
    for field, required in (("links", "href"), ("images", "src")):
        items = event.get(field)
        if items is None:
            continue
        if not isinstance(items, list):
            errors.append(f"'{field}' must be an array")
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get(required), str):
                errors.append(f"'{field}[{i}].{required}' is missing")


def _check_event(event):
    errors = []
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append(f"'dedup_key' is required for {action} events")
    payload = event.get("payload")
    if action == "trigger":
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or is not an object (required for trigger events)")
            return errors
        _text(payload, "summary", "payload.", errors, required=True, max_len=1024)
        _text(payload, "source", "payload.", errors, required=True, max_len=255)
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
        for field in ("component", "group", "class"):
            _text(payload, field, "payload.", errors)
    if isinstance(payload, dict):
        _check_common(event, payload, errors)
    return errors


def _check_change(event):
    errors = []
    payload = event.get("payload")
    if not isinstance(payload, dict):
        return ["'payload' is missing or is not an object"]
    _text(payload, "summary", "payload.", errors, required=True, max_len=1024)
    _text(payload, "source", "payload.", errors)
    if payload.get("custom_details") is not None and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    _check_common(event, payload, errors)
    return errors


def _process(store, service, integration, event, now):
    action = event["event_action"]
    agent = ("service", service["id"])
    if action == "trigger":
        dedup = event.get("dedup_key") or store.unique_key()
        _trigger(store, service, integration, event, dedup, now)
        return _accepted(dedup)
    dedup = event["dedup_key"]
    alert_id = store.open_alerts.get((service["id"], dedup))
    if alert_id is None:
        return _accepted(dedup)   # nothing open under this key: accepted, nothing changes
    alert = store.alerts[alert_id]
    inc = store.incidents[alert["incident_id"]]
    if action == "acknowledge":
        if inc["status"] == "triggered":
            lifecycle.acknowledge(store, inc, now, agent, _channel(event, dedup))
    else:
        lifecycle.close_alert(store, alert, now, agent, _channel(event, dedup))
    return _accepted(dedup)


def _channel(event, dedup):
    payload = event.get("payload") or {}
    summary = payload.get("summary") or event["event_action"]
    return {"type": "api", "summary": summary, "description": summary, "incident_key": dedup,
            "details": payload.get("custom_details") if isinstance(payload.get("custom_details"), dict) else {}}


def _urgency(service, severity):
    rule = service.get("incident_urgency_rule") or {}
    if rule.get("type") == "constant" and rule.get("urgency") == "low":
        return "low"
    if rule.get("urgency") == "severity_based":
        return "high" if severity in ("critical", "error") else "low"
    return "high"


def _trigger(store, service, integration, event, dedup, now):
    if (service["id"], dedup) in store.open_alerts:
        return   # a duplicate of an open alert: de-duplicated, nothing new
    if service.get("disabled") or render.in_maintenance(store, service["id"], now):
        return   # accepted, but a service in maintenance (or disabled) opens nothing
    payload = event["payload"]
    summary = payload["summary"]
    channel = _channel(event, dedup)
    agent = ("service", service["id"])
    holder = service.get("open_keys", {}).get(dedup)
    if holder is not None:   # an open incident already carries this key: the alert joins it
        inc = store.incidents[holder]
        first = log_entries.add(store, inc, "trigger_log_entry", now, agent, f"Alert added: {summary}", channel)
    else:
        inc = lifecycle.new_incident(store, service, summary, now, agent, channel,
                                     urgency=_urgency(service, payload["severity"]), key=dedup,
                                     details=payload.get("custom_details"), summary="Triggered through the API.")
        first = store.log_entries[inc["first_log_id"]]
    alert = {
        "id": store.new_id(), "incident_id": inc["id"], "service_id": service["id"],
        "integration_id": integration["id"], "status": "triggered", "key": dedup, "summary": summary,
        "severity": payload["severity"], "created": now, "resolved": None, "first_log_id": first["id"],
        "details": payload.get("custom_details") if payload.get("custom_details") is not None else {},
        "contexts": _contexts(event),
        "cef": {k: v for k, v in (("summary", summary), ("severity", payload["severity"]),
                                  ("source_origin", payload["source"]), ("source_component", payload.get("component")),
                                  ("service_group", payload.get("group")), ("event_class", payload.get("class")),
                                  ("client", event.get("client")), ("client_url", event.get("client_url")),
                                  ("dedup_key", dedup)) if v is not None},
    }
    store.alerts[alert["id"]] = alert
    store.open_alerts[(service["id"], dedup)] = alert["id"]
    inc["alert_ids"].append(alert["id"])


def _contexts(event):
    out = [{"type": "link", "href": link["href"], "text": link.get("text", link["href"])}
           for link in event.get("links") or []]
    out += [{"type": "image", "src": image["src"], **({"href": image["href"]} if image.get("href") else {}),
             **({"text": image["alt"]} if image.get("alt") else {})} for image in event.get("images") or []]
    return out
