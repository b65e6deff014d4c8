"""Extensions (e.g. webhooks on services) and the read-only extension schemas."""
from . import query as q, render, validate as v
from .errors import invalid
from .routing import route


@route("GET", "/extension_schemas")
def list_schemas(call):
    store = call.store
    found = sorted(store.extension_schemas.values(), key=lambda s: (s["label"].lower(), s["id"]))
    return 200, q.paginate(call.query, found, "extension_schemas", lambda s: render.extension_schema(store, s))


@route("GET", "/extension_schemas/{id}")
def get_schema(call):
    rec = call.store.get("extension_schema", call.params["id"])
    return 200, {"extension_schema": render.extension_schema(call.store, rec)}


@route("GET", "/extensions")
def list_extensions(call):
    store = call.store
    needle = q.one(call.query, "query")
    object_id = q.one(call.query, "extension_object_id")
    schema_id = q.one(call.query, "extension_schema_id")
    found = [e for e in store.extensions.values() if q.text_match(needle, e["name"])
             and (not object_id or object_id in e["service_ids"])
             and (not schema_id or schema_id == e["extension_schema_id"])]
    found.sort(key=lambda e: (e["name"].lower(), e["id"]))
    include = set(q.many(call.query, "include"))
    return 200, q.paginate(call.query, found, "extensions", lambda e: render.extension(store, e, include))


@route("POST", "/extensions")
def create_extension(call):
    body = call.wrapped("extension")
    if "type" in body:
        v.type_is(body, ("extension",), "extension")
    store = call.store
    rec = {"id": store.new_id(), "created": call.now, "temporarily_disabled": False}
    apply(store, rec, body, creating=True)
    store.extensions[rec["id"]] = rec
    return 201, {"extension": render.extension(store, rec)}


@route("GET", "/extensions/{id}")
def get_extension(call):
    rec = call.store.get("extension", call.params["id"])
    return 200, {"extension": render.extension(call.store, rec, set(q.many(call.query, "include")))}


@route("PUT", "/extensions/{id}")
def update_extension(call):
    rec = call.store.get("extension", call.params["id"])
    v.staged(apply, call.store, rec, call.wrapped("extension"))
    return 200, {"extension": render.extension(call.store, rec)}


@route("DELETE", "/extensions/{id}")
def delete_extension(call):
    del call.store.extensions[call.store.get("extension", call.params["id"])["id"]]
    return 204, None


@route("POST", "/extensions/{id}/enable")
def enable_extension(call):
    rec = call.store.get("extension", call.params["id"])
    rec["temporarily_disabled"] = False
    return 200, {"extension": render.extension(call.store, rec)}


def apply(store, rec, body, creating):
    name = v.text(body, "name", 255, required_=creating, where="extension")
    if name is not None:
        rec["name"] = name
    if "extension_schema" in body or creating:
        schema_id = v.ref_id(body.get("extension_schema"), ["extension_schema"], "extension.extension_schema")
        rec["extension_schema_id"] = v.existing(store, "extension_schema", schema_id, "extension.extension_schema")
    if "extension_objects" in body or creating:
        objects = body.get("extension_objects")
        if not isinstance(objects, list) or not objects:
            raise invalid("extension.extension_objects must be a non-empty array of service references")
        rec["service_ids"] = v.existing_ids(store, objects, "service", "extension.extension_objects")
    url = v.text(body, "endpoint_url", 2048, where="extension")
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise invalid("extension.endpoint_url must be an http(s) URL")
        rec["endpoint_url"] = url
    if "config" in body:
        if body["config"] is not None and not isinstance(body["config"], dict):
            raise invalid("extension.config must be an object")
        rec["config"] = body["config"] or {}
