"""Extensions: webhooks and add-ons attached to services, each of an extension schema
(Generic V2 Webhook, Slack…) that list_extension_schemas shows."""

from pagerduty_plugin.actions.common import (
    creator, deleter, getter, given, lister, reference, references, resolve, updater,
)

COLLECTION, KIND = "extensions", "extension"


def schema_id(rest, value):
    # GET /extension_schemas has no query filter: labels are matched against the whole list.
    return resolve(rest, "extension_schemas", value, "extension_schema", key="label", query=False)


def extension_filters(rest, params):
    filters = given(params, "query")
    if "service" in params:
        filters["extension_object_id"] = resolve(rest, "services", params["service"], "service")
    if "extension_schema" in params:
        filters["extension_schema_id"] = schema_id(rest, params["extension_schema"])
    return filters


def extension_fields(rest, params):
    fields = given(params, "name", "endpoint_url", "config")
    if "extension_schema" in params:
        fields["extension_schema"] = reference(schema_id(rest, params["extension_schema"]), "extension_schema")
    if "services" in params:
        fields["extension_objects"] = references(rest, "services", params["services"], "service")
    return fields


ListExtensionSchemas = lister("extension_schemas")
ListExtensions = lister(COLLECTION, extension_filters)
GetExtension = getter(COLLECTION, KIND)
CreateExtension = creator(COLLECTION, KIND, extension_fields)
UpdateExtension = updater(COLLECTION, KIND, extension_fields)
DeleteExtension = deleter(COLLECTION, KIND)
