"""Incident types, their custom fields, and an incident's custom field values.

A field has a field_type (single_value, single_value_fixed, multi_value, multi_value_fixed) and a
data_type (boolean, integer, float, string, datetime, url). PagerDuty checks every value against
them: a string or url is at most 200 characters, a multi-value field holds at most 10 distinct
values, a *_fixed field takes only its options, null clears. An incident without a value answers
the field's default. Types are named by id or name in paths, as PagerDuty allows."""
from . import outbound, query as q, timeutil
from .errors import invalid, not_found
from .routing import route
from .timeutil import iso

DEFAULT_TYPE = "incident_default"
FIELD_TYPES = ("single_value", "single_value_fixed", "multi_value", "multi_value_fixed")
DATA_TYPES = ("boolean", "integer", "float", "string", "datetime", "url")
MAX_TEXT, MAX_VALUES = 200, 10


def find_type(store, value):
    """The incident type whose id or name is value, or None."""
    return store.incident_types.get(value) or next(
        (t for t in store.incident_types.values() if t["name"] == value), None)


def type_named(store, value, where):
    """For a request body: an enabled type by {name} or {id}, else 400."""
    if not isinstance(value, dict) or not isinstance(value.get("name") or value.get("id"), str):
        raise invalid(f"{where} must be an object with the type's name")
    rec = find_type(store, value.get("id") or value.get("name"))
    if rec is None or not rec["enabled"]:
        raise invalid(f"{where} {value.get('name') or value.get('id')} is not an enabled incident type")
    return rec["name"]


def type_json(store, rec):
    parent = store.incident_types.get(rec.get("parent_id"))
    out = {"id": rec["id"], "type": "incident_type", "name": rec["name"], "display_name": rec["display_name"],
           "enabled": rec["enabled"], "created_at": iso(rec["created"]), "updated_at": iso(rec["created"])}
    # PagerDuty's example shows null for these; its schema does not allow null: left out when unset
    if rec["description"] is not None:
        out["description"] = rec["description"]
    if parent:
        out["parent"] = {"id": parent["id"], "type": "incident_type_reference"}
    return out


def field_json(store, type_rec, field, options=False):
    out = {"id": field["id"], "type": "field", "name": field["name"], "display_name": field["display_name"],
           "description": field["description"], "field_type": field["field_type"], "data_type": field["data_type"],
           "default_value": field["default"], "enabled": True, "incident_type": type_rec["id"],
           "summary": field["display_name"], "created_at": iso(field["created"]), "updated_at": iso(field["created"]),
           "self": f"{store.base_url}/incidents/types/{type_rec['id']}/custom_fields/{field['id']}"}
    if options:
        out["field_options"] = [{"id": o["id"], "type": "field_option", "created_at": iso(field["created"]),
                                 "updated_at": iso(field["created"]),
                                 "data": {"data_type": field["data_type"], "value": o["value"]}}
                                for o in field["options"]]
    return out


@route("GET", "/incidents/types")
def list_types(call):
    state = q.one(call.query, "filter", "enabled")
    if state not in ("enabled", "disabled", "all"):
        raise invalid("filter must be enabled, disabled or all")
    found = [t for t in call.store.incident_types.values()
             if state == "all" or t["enabled"] == (state == "enabled")]
    return 200, {"incident_types": [type_json(call.store, t) for t in found]}


def _type(call):
    rec = find_type(call.store, call.params["type_id_or_name"])
    if rec is None:
        raise not_found(f"incident type {call.params['type_id_or_name']}")
    return rec


@route("GET", "/incidents/types/{type_id_or_name}")
def get_type(call):
    return 200, {"incident_type": type_json(call.store, _type(call))}


@route("GET", "/incidents/types/{type_id_or_name}/custom_fields")
def list_fields(call):
    rec = _type(call)
    include = q.many(call.query, "include")
    if any(i != "field_options" for i in include):
        raise invalid("include[] may only be field_options")
    return 200, {"fields": [field_json(call.store, rec, f, "field_options" in include)
                            for f in type_fields(call.store, rec)]}


@route("GET", "/incidents/types/{type_id_or_name}/custom_fields/{field_id}/field_options")
def list_field_options(call):
    rec = _type(call)
    field = next((f for f in type_fields(call.store, rec) if f["id"] == call.params["field_id"]), None)
    if field is None:
        raise not_found(f"custom field {call.params['field_id']}")
    return 200, {"field_options": field_json(call.store, rec, field, True)["field_options"]}


# --- values on an incident -----------------------------------------------------------------------
def type_fields(store, rec):
    """A type's fields: its parent's (inherited, first), then its own."""
    parent = store.incident_types.get(rec.get("parent_id"))
    return (type_fields(store, parent) if parent else []) + rec["fields"]


def incident_fields(store, inc):
    rec = find_type(store, inc.get("incident_type") or DEFAULT_TYPE)
    return type_fields(store, rec) if rec else []


def value_json(field, value):
    return {"id": field["id"], "type": "field_value", "name": field["name"], "display_name": field["display_name"],
            "description": field["description"], "data_type": field["data_type"],
            "field_type": field["field_type"], "value": value}


def values_json(store, inc):
    values = inc.setdefault("custom_values", {})
    return [value_json(f, values.get(f["id"], f["default"])) for f in incident_fields(store, inc)]


@route("GET", "/incidents/{id}/custom_fields/values")
def get_values(call):
    inc = call.store.get("incident", call.params["id"])
    return 200, {"custom_fields": values_json(call.store, inc)}


@route("PUT", "/incidents/{id}/custom_fields/values")
def set_values(call):
    store = call.store
    inc = store.get("incident", call.params["id"])
    items = (call.body or {}).get("custom_fields") if isinstance(call.body, dict) else None
    if not isinstance(items, list) or not items:
        raise invalid("custom_fields must be a non-empty array of {id or name, value}")
    fields = incident_fields(store, inc)
    changes = {}
    for i, item in enumerate(items):
        where = f"custom_fields[{i}]"
        if not isinstance(item, dict) or "value" not in item:
            raise invalid(f"{where} must be an object with id (or name) and value")
        field = next((f for f in fields if f["id"] == item.get("id") or f["name"] == item.get("name")), None)
        if field is None:
            raise invalid(f"{where}: the incident's type has no field {item.get('id') or item.get('name')}")
        changes[field["id"]] = checked(field, item["value"], where)
    inc.setdefault("custom_values", {}).update(changes)
    inc["updated"] = call.now
    changed = [value_json(f, changes[f["id"]]) for f in fields if f["id"] in changes]
    outbound.incident_event(store, "incident.custom_field_values.updated", inc, call.agent(), call.now,
                            {"incident": outbound.incident_data(store, inc), "custom_fields": changed,
                             "type": "incident_field_values"})
    # The contract answers 201 here.
    return 201, {"custom_fields": values_json(store, inc)}


def checked(field, value, where):
    if value is None:
        return None
    multi = field["field_type"].startswith("multi_value")
    if multi != isinstance(value, list):
        raise invalid(f"{where}.value must be {'an array' if multi else 'a single value'} for {field['name']}")
    items = value if multi else [value]
    if multi and (len(items) > MAX_VALUES or len(set(map(repr, items))) != len(items)):
        raise invalid(f"{where}.value must hold at most {MAX_VALUES} distinct values")
    for item in items:
        if not fits(field["data_type"], item):
            raise invalid(f"{where}.value {item!r} is not a valid {field['data_type']} for {field['name']}")
    if field["field_type"].endswith("_fixed"):
        options = [o["value"] for o in field["options"]]
        outside = [item for item in items if item not in options]
        if outside:
            raise invalid(f"{where}.value {outside[0]!r} is not one of the options of {field['name']}")
    return value


def fits(data_type, item):
    if data_type == "boolean":
        return isinstance(item, bool)
    if data_type == "integer":
        return isinstance(item, int) and not isinstance(item, bool)
    if data_type == "float":
        return isinstance(item, (int, float)) and not isinstance(item, bool)
    if not isinstance(item, str):
        return False
    if data_type == "datetime":
        try:
            timeutil.parse(item)
        except ValueError:
            return False
        return True
    if data_type == "url":
        return len(item) <= MAX_TEXT and item.startswith(("http://", "https://")) and len(item) > 8
    return len(item) <= MAX_TEXT


def change_type(store, inc, type_name, now, agent):
    """Set an incident's type (values of fields the new type lacks are dropped); announces a change."""
    if (inc.get("incident_type") or DEFAULT_TYPE) == type_name:
        return
    inc["incident_type"] = type_name
    kept = {f["id"] for f in incident_fields(store, inc)}
    inc["custom_values"] = {k: v for k, v in inc.get("custom_values", {}).items() if k in kept}
    outbound.incident_event(store, "incident.incident_type.changed", inc, agent, now)


# --- the demo seed ---------------------------------------------------------------------------------
# (type, name, display name, field type, data type, default, options)
SEED_FIELDS = (
    (DEFAULT_TYPE, "diagnostic_result", "Diagnostic Result", "single_value", "string", None, ()),
    ("security", "environment", "Environment", "single_value_fixed", "string", None, ("production", "staging")),
    ("security", "affected_regions", "Affected Regions", "multi_value_fixed", "string", None, ("us", "eu", "apac")),
    ("security", "tags", "Tags", "multi_value", "string", None, ()),
    ("security", "customer_impact", "Customer Impact", "single_value", "boolean", False, ()),
    ("security", "affected_users", "Affected Users", "single_value", "integer", None, ()),
    ("security", "error_rate", "Error Rate", "single_value", "float", None, ()),
    ("security", "detected_at", "Detected At", "single_value", "datetime", None, ()),
    ("security", "dashboard", "Dashboard", "single_value", "url", None, ()),
)


def seed(store, now):
    """incident_default with one field (every type inherits it) and `security` with a field of each field type
    and each data type."""
    base = _add_type(store, DEFAULT_TYPE, "Base Incident", None, None, now)
    types = {DEFAULT_TYPE: base,
             "security": _add_type(store, "security", "Security", "Security related incidents", base["id"], now)}
    for type_name, name, display, field_type, data_type, default, options in SEED_FIELDS:
        types[type_name]["fields"].append({
            "id": store.new_id(), "name": name, "display_name": display, "description": f"{display} of the incident",
            "field_type": field_type, "data_type": data_type, "default": default, "created": now,
            "options": [{"id": store.new_id(), "value": o} for o in options]})
    return [base["id"], types["security"]["id"]]


def _add_type(store, name, display, description, parent_id, now):
    rec = {"id": store.new_id(), "name": name, "display_name": display, "description": description,
           "enabled": True, "parent_id": parent_id, "created": now, "fields": []}
    store.incident_types[rec["id"]] = rec
    return rec
