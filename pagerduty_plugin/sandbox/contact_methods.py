"""A user's contact methods and notification rules (lists that PagerDuty does not paginate)."""
from . import query as q, render, validate as v
from .errors import invalid
from .routing import route

METHOD_TYPES = ("email_contact_method", "phone_contact_method", "sms_contact_method",
                "push_notification_contact_method", "whatsapp_contact_method")


def _user(call):
    return call.store.get("user", call.params["id"])


def _method(call):
    return call.store.child("contact_method", call.params["contact_method_id"], "user_id", call.params["id"])


@route("GET", "/users/{id}/contact_methods")
def list_methods(call):
    user = _user(call)
    store = call.store
    found = [cm for cm in store.contact_methods.values() if cm["user_id"] == user["id"]]
    return 200, {"contact_methods": [render.contact_method(store, cm) for cm in found]}


@route("POST", "/users/{id}/contact_methods")
def create_method(call):
    user = _user(call)
    body = call.wrapped("contact_method")
    store = call.store
    rec = {"id": store.new_id(), "user_id": user["id"], "created": call.now}
    _apply(store, rec, body, creating=True)
    store.contact_methods[rec["id"]] = rec
    return 201, {"contact_method": render.contact_method(store, rec)}


@route("GET", "/users/{id}/contact_methods/{contact_method_id}")
def get_method(call):
    _user(call)
    return 200, {"contact_method": render.contact_method(call.store, _method(call))}


@route("PUT", "/users/{id}/contact_methods/{contact_method_id}")
def update_method(call):
    _user(call)
    rec = _method(call)
    v.staged(_apply, call.store, rec, call.wrapped("contact_method"))
    return 200, {"contact_method": render.contact_method(call.store, rec)}


@route("DELETE", "/users/{id}/contact_methods/{contact_method_id}")
def delete_method(call):
    _user(call)
    rec = _method(call)
    store = call.store
    del store.contact_methods[rec["id"]]
    for nr_id in [n["id"] for n in store.notification_rules.values() if n["contact_method_id"] == rec["id"]]:
        del store.notification_rules[nr_id]
    return 204, None


def _apply(store, rec, body, creating):
    # the contract tells the kinds apart by `type`: an update names it too
    type_ = v.choice(body, "type", METHOD_TYPES, where="contact_method")
    if type_ is None:
        raise invalid("contact_method.type is required")
    if not creating and type_ != rec["type"]:
        raise invalid("contact_method.type cannot be changed")
    rec["type"] = type_
    label = v.text(body, "label", 100, required_=creating, where="contact_method")
    address = v.text(body, "address", 200, required_=creating, where="contact_method")
    if label is not None:
        rec["label"] = label
    if address is not None:
        if rec["type"] == "email_contact_method" and "@" not in address:
            raise invalid("contact_method.address is not a valid email address")
        if rec["type"] in ("phone_contact_method", "sms_contact_method") and not address.isdigit():
            raise invalid("contact_method.address must be the phone number's digits (no country code)")
        rec["address"] = address
    if rec["type"] in ("phone_contact_method", "sms_contact_method"):
        code = v.integer(body, "country_code", 1, 1999, where="contact_method")
        if code is None and creating:
            raise invalid("contact_method.country_code is required for phone and SMS contact methods")
        if code is not None:
            rec["country_code"] = code
    if "send_short_email" in body:
        rec["send_short_email"] = bool(body["send_short_email"])
    for user_cm in store.contact_methods.values():
        if (user_cm["user_id"] == rec["user_id"] and user_cm["id"] != rec["id"]
                and user_cm["type"] == rec["type"] and user_cm["address"] == rec.get("address")):
            raise invalid("contact_method.address is already a contact method of this user")


# Notification rules ----------------------------------------------------------------------------
def _rule(call):
    return call.store.child("notification_rule", call.params["notification_rule_id"], "user_id", call.params["id"])


@route("GET", "/users/{id}/notification_rules")
def list_rules(call):
    user = _user(call)
    urgency = q.one(call.query, "urgency", "high")
    if urgency not in ("high", "low", "all"):
        raise invalid("urgency must be high, low or all")
    include = set(q.many(call.query, "include"))
    store = call.store
    found = [nr for nr in store.notification_rules.values() if nr["user_id"] == user["id"]
             and urgency in ("all", nr["urgency"])]
    return 200, {"notification_rules": [render.notification_rule(store, nr, include) for nr in found]}


@route("POST", "/users/{id}/notification_rules")
def create_rule(call):
    user = _user(call)
    body = call.wrapped("notification_rule")
    v.type_is(body, ("assignment_notification_rule",), "notification_rule")
    store = call.store
    rec = {"id": store.new_id(), "user_id": user["id"]}
    _apply_rule(store, rec, body, creating=True)
    store.notification_rules[rec["id"]] = rec
    return 201, {"notification_rule": render.notification_rule(store, rec)}


@route("GET", "/users/{id}/notification_rules/{notification_rule_id}")
def get_rule(call):
    _user(call)
    include = set(q.many(call.query, "include"))
    return 200, {"notification_rule": render.notification_rule(call.store, _rule(call), include)}


@route("PUT", "/users/{id}/notification_rules/{notification_rule_id}")
def update_rule(call):
    _user(call)
    rec = _rule(call)
    v.staged(_apply_rule, call.store, rec, call.wrapped("notification_rule"))
    return 200, {"notification_rule": render.notification_rule(call.store, rec)}


@route("DELETE", "/users/{id}/notification_rules/{notification_rule_id}")
def delete_rule(call):
    _user(call)
    del call.store.notification_rules[_rule(call)["id"]]
    return 204, None


def _apply_rule(store, rec, body, creating):
    if creating:
        v.required(body, "urgency", "contact_method", where="notification_rule")
        if body.get("start_delay_in_minutes") is None:
            raise invalid("notification_rule.start_delay_in_minutes is required")
    delay = v.integer(body, "start_delay_in_minutes", 0, 10080, where="notification_rule")
    if delay is not None:
        rec["start_delay_in_minutes"] = delay
    urgency = v.choice(body, "urgency", ("high", "low"), where="notification_rule")
    if urgency is not None:
        rec["urgency"] = urgency
    if body.get("contact_method") is not None:
        cm_id = v.ref_id(body["contact_method"], [t for t in METHOD_TYPES] + ["contact_method"],
                         "notification_rule.contact_method")
        cm = store.contact_methods.get(cm_id)
        if cm is None or cm["user_id"] != rec["user_id"]:
            raise invalid(f"notification_rule.contact_method {cm_id} is not a contact method of this user")
        rec["contact_method_id"] = cm_id
