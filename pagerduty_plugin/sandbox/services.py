"""Services and their integrations (an Events API v2 integration carries the routing key)."""
from . import outbound, query as q, render, validate as v
from .errors import invalid
from .routing import route
from .compat import without_suffix

INTEGRATION_TYPES = (
    "aws_cloudwatch_inbound_integration", "cloudkick_inbound_integration",
    "event_transformer_api_inbound_integration", "generic_email_inbound_integration",
    "generic_events_api_inbound_integration", "keynote_inbound_integration", "nagios_inbound_integration",
    "pingdom_inbound_integration", "sql_monitor_inbound_integration", "events_api_v2_inbound_integration",
)
KEYED_TYPES = {"events_api_v2_inbound_integration", "generic_events_api_inbound_integration",
               "aws_cloudwatch_inbound_integration", "nagios_inbound_integration"}
URGENCY_TYPES = ("constant", "use_support_hours")


def _includes(call):
    return set(q.many(call.query, "include"))


@route("GET", "/services")
def list_services(call):
    store = call.store
    needle = q.one(call.query, "query")
    exact = q.one(call.query, "name")
    team_ids = set(q.many(call.query, "team_ids"))
    found = [s for s in store.services.values()
             if q.text_match(needle, s["name"]) and (exact is None or s["name"] == exact)
             and (not team_ids or team_ids & set(s["team_ids"]))]
    sort_by = q.one(call.query, "sort_by", "name")
    if sort_by not in ("name", "name:asc", "name:desc"):
        raise invalid("sort_by must be name, name:asc or name:desc")
    found.sort(key=lambda s: (s["name"].lower(), s["id"]), reverse=sort_by == "name:desc")
    inc = _includes(call)
    return 200, q.paginate(call.query, found, "services", lambda s: render.service(store, s, inc, call.now))


@route("POST", "/services")
def create_service(call):
    body = call.wrapped("service")
    v.type_is(body, ("service",), "service")
    store = call.store
    rec = {"id": store.new_id(), "created": call.now, "team_ids": [], "integration_ids": [],
           "open_incident_ids": set(), "status": "active", "auto_resolve_timeout": 14400,
           "acknowledgement_timeout": 1800}
    apply(store, rec, body, creating=True)
    rec["updated"] = call.now
    store.services[rec["id"]] = rec
    outbound.service_event(store, "service.created", rec, call.agent(), call.now)
    return 201, {"service": render.service(store, rec, (), call.now)}


@route("GET", "/services/{id}")
def get_service(call):
    rec = call.store.get("service", call.params["id"])
    return 200, {"service": render.service(call.store, rec, _includes(call), call.now)}


@route("PUT", "/services/{id}")
def update_service(call):
    rec = call.store.get("service", call.params["id"])
    body = call.wrapped("service")
    if "type" in body:
        v.type_is(body, ("service", "service_reference"), "service")
    v.staged(apply, call.store, rec, body)
    rec["updated"] = call.now
    outbound.service_event(call.store, "service.updated", rec, call.agent(), call.now)
    return 200, {"service": render.service(call.store, rec, (), call.now)}


@route("DELETE", "/services/{id}")
def delete_service(call):
    store = call.store
    rec = store.get("service", call.params["id"])
    outbound.service_event(store, "service.deleted", rec, call.agent(), call.now)
    for integration_id in rec["integration_ids"]:
        gone = store.integrations.pop(integration_id, None)
        if gone and gone.get("integration_key"):
            store.routing_keys.pop(gone["integration_key"], None)
    for key in [k for k in store.open_alerts if k[0] == rec["id"]]:
        del store.open_alerts[key]
    for ext in store.extensions.values():
        ext["service_ids"] = [s for s in ext["service_ids"] if s != rec["id"]]
    for mw in store.maintenance_windows.values():
        mw["service_ids"] = [s for s in mw["service_ids"] if s != rec["id"]]
    del store.services[rec["id"]]
    return 204, None


def apply(store, rec, body, creating):
    name = v.text(body, "name", 255, required_=creating, where="service")
    if name is not None:
        if any(s["name"].lower() == name.lower() and s["id"] != rec["id"] for s in store.services.values()):
            raise invalid("service.name has already been taken")
        rec["name"] = name
    description = v.text(body, "description", 1024, where="service")
    if description is not None:
        rec["description"] = description
    if body.get("escalation_policy") is not None or creating:
        ep_id = v.ref_id(body.get("escalation_policy"), ["escalation_policy"], "service.escalation_policy")
        rec["escalation_policy_id"] = v.existing(store, "escalation_policy", ep_id, "service.escalation_policy")
    if "teams" in body:
        rec["team_ids"] = v.existing_ids(store, body["teams"], "team", "service.teams")
    for field in ("auto_resolve_timeout", "acknowledgement_timeout"):
        if field in body:
            rec[field] = body[field] if body[field] is None else v.integer(body, field, 0, 10 ** 7, "service")
    status = v.choice(body, "status", ("active", "warning", "critical", "maintenance", "disabled"),
                      where="service")
    if status is not None:
        rec["disabled"] = status == "disabled"
    rule = body.get("incident_urgency_rule")
    if rule is not None:
        if not isinstance(rule, dict) or rule.get("type") not in URGENCY_TYPES:
            raise invalid("service.incident_urgency_rule.type must be constant or use_support_hours")
        if rule["type"] == "constant" and rule.get("urgency") not in ("high", "low", "severity_based"):
            raise invalid("service.incident_urgency_rule.urgency must be high, low or severity_based")
        rec["incident_urgency_rule"] = rule
    alert_creation = v.choice(body, "alert_creation", ("create_incidents", "create_alerts_and_incidents"),
                              where="service")
    if alert_creation:
        rec["alert_creation"] = alert_creation


# Integrations --------------------------------------------------------------------------------
def _integration(call):
    service = call.store.get("service", call.params["id"])
    return call.store.child("integration", call.params["integration_id"], "service_id", service["id"])


@route("POST", "/services/{id}/integrations")
def create_integration(call):
    store = call.store
    service = store.get("service", call.params["id"])
    body = call.wrapped("integration")
    type_ = v.choice(body, "type", INTEGRATION_TYPES + tuple(t + "_reference" for t in INTEGRATION_TYPES),
                     where="integration")
    if type_ is None:
        raise invalid("integration.type is required")
    vendor_id = None
    if body.get("vendor") is not None:
        vendor_id = v.ref_id(body["vendor"], ["vendor"], "integration.vendor")
    rec = add_integration(store, service, without_suffix(type_, "_reference"),
                          v.text(body, "name", 255, where="integration"), call.now, vendor_id=vendor_id)
    return 201, {"integration": render.integration(store, rec)}


def add_integration(store, service, type_, name, now, key=None, vendor_id=None):
    rec = {"id": store.new_id(), "service_id": service["id"], "type": type_, "created": now,
           "name": name or _default_name(type_)}
    if type_ in KEYED_TYPES:
        rec["integration_key"] = key or store.hex_key(service["id"])
        store.routing_keys[rec["integration_key"]] = rec["id"]
    if type_ == "generic_email_inbound_integration":
        rec["integration_email"] = f"{service['name'].lower().replace(' ', '-')}-{rec['id'].lower()}" \
                                   "@sandbox.pagerduty.invalid"
    if vendor_id:
        rec["vendor_id"] = vendor_id
    store.integrations[rec["id"]] = rec
    service["integration_ids"].append(rec["id"])
    return rec


def _default_name(type_):
    return {"events_api_v2_inbound_integration": "Events API V2",
            "generic_email_inbound_integration": "Email"}.get(type_, type_.replace("_", " ").title())


@route("GET", "/services/{id}/integrations/{integration_id}")
def get_integration(call):
    return 200, {"integration": render.integration(call.store, _integration(call))}


@route("PUT", "/services/{id}/integrations/{integration_id}")
def update_integration(call):
    rec = _integration(call)
    body = call.wrapped("integration")
    name = v.text(body, "name", 255, where="integration")
    if name:
        rec["name"] = name
    return 200, {"integration": render.integration(call.store, rec)}
