"""Incident types (GA 2025-01-13) and their custom fields; an incident's custom field values.

A type's custom fields have a field_type (single_value, single_value_fixed, multi_value,
multi_value_fixed) and a data_type (string, integer, float, boolean, datetime, url); *_fixed fields
take only their options. set_incident_custom_field_values reads the incident's type and that
type's fields (with options), checks every value against them, and only then sends its one write:
a value of the wrong kind, or outside a field's options, is refused before the write.
The account-wide /incidents/custom_fields endpoints are deprecated (2025-03-10) and not used."""

from urllib.parse import urlsplit

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.incidents import incident_path
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.compat import fromisoformat
from pagerduty_plugin.errors import PluginError

MAX_VALUES = 10      # a multi-value field holds at most 10 values
MAX_TEXT = 200       # a string or url value is at most 200 characters


def type_path(value, suffix=""):
    return f"/incidents/types/{segment(value, 'incident type id or name')}{suffix}"


class ListIncidentTypes(Action):
    """Not paged: PagerDuty answers every type at once (enabled ones by default)."""

    def run(self, params):
        query = {"filter": params["filter"]} if "filter" in params else None
        types = self.connection.rest.get("/incidents/types", query, key="incident_types", kind=list)
        return output("incident_types", *cut(types, params.get("max_results")))


class GetIncidentType(Action):
    def run(self, params):
        return {"incident_type": self.connection.rest.get(type_path(params["incident_type"]), key="incident_type")}


def type_fields(rest, incident_type):
    """The type's fields with their options. include[]=field_options asks for them in the list, but
    PagerDuty's contract does not promise them there: a fixed field answered without its options
    has them read from its own field_options endpoint (one request each)."""
    fields = rest.get(type_path(incident_type, "/custom_fields"), {"include": ["field_options"]}, key="fields",
                      kind=list)
    for field in fields:
        if str(field.get("field_type", "")).endswith("_fixed") and "field_options" not in field:
            path = type_path(incident_type, f"/custom_fields/{segment(field.get('id'), 'custom field id')}"
                                            "/field_options")
            field["field_options"] = rest.get(path, key="field_options", kind=list)
    return fields


class ListIncidentCustomFields(Action):
    def run(self, params):
        fields = type_fields(self.connection.rest, params["incident_type"])
        return output("fields", *cut(fields, params.get("max_results")))


class GetIncidentCustomFieldValues(Action):
    def run(self, params):
        path = incident_path(params["incident_id"], "/custom_fields/values")
        return {"custom_fields": self.connection.rest.get(path, key="custom_fields", kind=list)}


class SetIncidentCustomFieldValues(Action):
    def run(self, params):
        path = incident_path(params["incident_id"], "/custom_fields/values")
        values = params["values"]
        if not values:
            raise PluginError("values names no custom field", 'Give values as {"field name or id": value}.',
                              {"field": "values"})
        rest = self.connection.rest
        incident_type = params.get("incident_type") or incident_type_of(rest, params["incident_id"])
        fields = type_fields(rest, incident_type)
        body = {"custom_fields": [checked_value(fields, name, value, incident_type) for name, value in values.items()]}
        return {"custom_fields": rest.put(path, body, key="custom_fields", kind=list)}


def incident_type_of(rest, incident_id):
    incident = rest.get(incident_path(incident_id), key="incident")
    return (incident.get("incident_type") or {}).get("name") or "incident_default"


def checked_value(fields, name, value, incident_type):
    """{"id": field id, "value": value} once value suits the field named `name` (its name, display name or id)."""
    field = next((f for f in fields if name in (f.get("id"), f.get("name"))), None) or next(
        (f for f in fields if str(f.get("display_name", "")).lower() == str(name).lower()), None)
    if field is None:
        known = ", ".join(sorted(str(f.get("name")) for f in fields)[:20])
        raise PluginError(f"The incident type {incident_type!r} has no custom field {name!r}",
                          f"Name a field by its name or id: {known or 'this type has none'} "
                          "(list_incident_custom_fields shows them).", {"field": "values", "name": name})
    multi = str(field.get("field_type", "")).startswith("multi_value")
    items = value if isinstance(value, list) else [value]
    if value is not None and (multi != isinstance(value, list)):
        raise refusal(field, value, "a list of values" if multi else "one value, not a list")
    if multi and len(items) > MAX_VALUES:
        raise refusal(field, value, f"at most {MAX_VALUES} values")
    if value is not None:
        for item in items:
            check_data(field, item)
        options = [((o.get("data") or {}).get("value")) for o in field.get("field_options") or []]
        if str(field.get("field_type", "")).endswith("_fixed"):
            outside = [item for item in items if item not in options]
            if outside:
                raise refusal(field, value, "one of its options: " + ", ".join(map(str, options)))
    return {"id": field["id"], "value": value}


def check_data(field, item):
    kind = field.get("data_type")
    if kind == "boolean" and not isinstance(item, bool):
        raise refusal(field, item, "true or false")
    if kind == "integer" and (isinstance(item, bool) or not isinstance(item, int)):
        raise refusal(field, item, "a whole number")
    if kind == "float" and (isinstance(item, bool) or not isinstance(item, (int, float))):
        raise refusal(field, item, "a number")
    if kind in ("string", "url", "datetime") and not isinstance(item, str):
        raise refusal(field, item, "text")
    if kind in ("string", "url") and len(item) > MAX_TEXT:
        raise refusal(field, item[:40] + "…", f"at most {MAX_TEXT} characters")
    if kind == "url" and (urlsplit(item).scheme not in ("http", "https") or not urlsplit(item).netloc):
        raise refusal(field, item, "an http or https URL")
    if kind == "datetime":
        try:
            fromisoformat(item)
        except ValueError:
            raise refusal(field, item, "a date and time in ISO 8601, e.g. 2026-05-01T12:00:00Z") from None


def refusal(field, value, wanted):
    shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
    return PluginError(f"Custom field {field.get('name')!r} ({field.get('field_type')}, {field.get('data_type')}) "
                       f"takes {wanted}; got {shown}",
                       "Correct the value: nothing was sent.", {"field": "values", "name": field.get("name")})
