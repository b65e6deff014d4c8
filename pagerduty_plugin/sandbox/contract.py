"""Strict-contract mode: answers cut down to what PagerDuty's published OpenAPI files promise.

The sandbox answers full objects, as PagerDuty does in practice. A client that relies on a field
the contract never promises works against the sandbox and may break against PagerDuty. With
`Sandbox(contract=FOLDER)` (the folder of PagerDuty's OpenAPI files, which are not part of this
package) every 2xx JSON answer keeps, at every level, only the fields that the operation's
response schema requires or that its documented example shows; everything else is dropped.
This is one switch over the same implementation, not a second sandbox.
"""
import json
import os
import re

FILES = {"rest": ("rest_openapiv3.json", ""), "events": ("events_v2_openapiv3.json", "/v2")}


class Contract:
    def __init__(self, folder):
        self.operations = []  # (method, path regex, document, operation)
        for name, prefix in FILES.values():
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                document = json.load(fh)
            for template, item in document.get("paths", {}).items():
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(prefix + template))
                for method, operation in item.items():
                    if isinstance(operation, dict) and "responses" in operation:
                        self.operations.append((method.upper(), re.compile(pattern + "/?"), document, operation))

    def find(self, method, path):
        """The operation for a request; a literal path (/users/me) wins over a template."""
        found = [(d, o, r) for m, r, d, o in self.operations if m == method and r.fullmatch(path)]
        found.sort(key=lambda hit: hit[2].pattern.count("[^/]+"))
        return found[0][:2] if found else (None, None)

    def documented(self, method, path, status, payload):
        """payload reduced to what the contract promises for this answer (unchanged when the
        contract documents no JSON body for it)."""
        document, operation = self.find(method, path)
        if operation is None or not 200 <= status < 300 or payload is None:
            return payload
        response = deref(document, operation["responses"].get(str(status)) or {})
        media = (response.get("content") or {}).get("application/json") or {}
        if "schema" not in media:
            return payload
        return keep(document, media["schema"], payload, example_of(media))


def example_of(media):
    if "example" in media:
        return media["example"]
    for example in (media.get("examples") or {}).values():
        if isinstance(example, dict) and "value" in example:
            return example["value"]
    return None


def resolve(document, ref):
    node = document
    for part in ref.lstrip("#").split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def deref(document, node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(document, node["$ref"])
    return node


def shape(document, schema, value):
    """(properties, required, items, open) of schema as it applies to value: allOf merged, and of
    oneOf/anyOf the alternatives whose `type` admits the value's `type`."""
    schema = deref(document, schema) or {}
    properties = dict(schema.get("properties") or {})
    required = set(schema.get("required") or ())
    items = schema.get("items")
    is_open = not properties and schema.get("type") in (None, "object") and not any(
        k in schema for k in ("allOf", "oneOf", "anyOf"))
    parts = list(schema.get("allOf") or ())
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            parts += admitting(document, schema[keyword], value)
    for part in parts:
        more_properties, more_required, more_items, more_open = shape(document, part, value)
        properties.update(more_properties)
        required |= more_required
        items = items or more_items
        is_open = is_open and more_open
    return properties, required, items, is_open


def admitting(document, alternatives, value):
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str):
        return alternatives
    kept = [a for a in alternatives if kind in type_values(document, a, value)]
    return kept or alternatives


def type_values(document, schema, value):
    properties, _, _, _ = shape(document, schema, None)
    kind = deref(document, properties.get("type") or {})
    return set(kind.get("enum") or [value.get("type")])  # no enum: it admits any type


def keep(document, schema, value, example):
    if isinstance(value, list):
        _, _, items, _ = shape(document, schema, None)
        sample = example[0] if isinstance(example, list) and example else None
        return [keep(document, items or {}, item, sample) for item in value]
    if not isinstance(value, dict):
        return value
    properties, required, _, is_open = shape(document, schema, value)
    if is_open:
        return value  # a free-form object (custom details): the contract promises its content
    shown = set(example) if isinstance(example, dict) else set()
    sample = example if isinstance(example, dict) else {}
    return {key: keep(document, properties.get(key) or {}, item, sample.get(key))
            for key, item in value.items() if key in required or key in shown}
