"""Validate values against the spec's JSON Schemas and explain failures in the user's terms.

fastjsonschema compiles a schema to Python code: it keeps JSON Schema semantics, imports in
a fraction of jsonschema's time (most of what it loads, requests loads too), and validates
an action's input in microseconds. It also fills in the spec's defaults. Compiling a schema
costs about 6 ms, so the code for every schema the spec makes is generated at build time
(pagerduty_plugin/prebuild.py, run by `make install` and the package build) into modules of
the installed package, keyed by the schema and fastjsonschema's version, and imported from
there like the rest of the plugin. A schema that was not built (a spec edited since) is
compiled in memory for this process: no code is ever read from a cache a user could write.
"""

import hashlib
import importlib
import json

import fastjsonschema

from pagerduty_plugin.errors import PluginError, shorten
from pagerduty_plugin.spec import DATE_PATTERN

JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
              float: "number", type(None): "null"}


def output_mismatch(action, cause, data):
    """An action's output that breaks its spec: a bug, reported after any change was made."""
    return PluginError(
        f"The action {action} ran, but its output does not match its spec: {cause}",
        "Any change the step asked for was made: check PagerDuty before running it again. This is a bug "
        "in pagerduty-plugin (or PagerDuty changed an answer); please report it.",
        data,
    )


def check_against_schema(schema, value, what="input", action=None):
    """value with defaults filled in, or a PluginError naming the field and the fix."""
    try:
        checked = validator(schema)(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise PluginError(explain(exc, what), assistance(exc, what, action),
                          {"field": error_field(exc), "rule": exc.rule}) from None
    if what == "output":
        return checked
    return normalised(schema, checked, schema.get("definitions") or {}, what, "")


def normalised(schema, value, definitions, what, path):
    """value with what JSON Schema lets through but PagerDuty would refuse put right:
    - an integral float in an integer field becomes an int: platforms (XSOAR, spreadsheets)
      send 5.0 for 5, JSON Schema calls 5.0 an integer, PagerDuty answers 400 to it (a float
      with a fraction never gets here: the validator refuses it);
    - a date that matches the date pattern but does not exist (February 30, hour 24) is refused."""
    while "$ref" in schema:
        schema = definitions.get(schema["$ref"].rsplit("/", 1)[-1], {})
    kinds = schema.get("type")
    if isinstance(value, float):
        integer = kinds == "integer" or (isinstance(kinds, list) and "integer" in kinds and "number" not in kinds)
        return int(value) if integer and value.is_integer() else value
    if isinstance(value, str):
        if schema.get("pattern") == DATE_PATTERN:
            check_date(value, what, path)
        return value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        extra = extra if isinstance(extra, dict) else {}
        return {k: normalised(properties.get(k, extra), v, definitions, what, f"{path}.{k}" if path else k)
                for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items") or {}
        return [normalised(items, v, definitions, what, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def check_date(text, what, path):
    from pagerduty_plugin.compat import fromisoformat

    try:
        fromisoformat(text)
    except ValueError:
        raise PluginError(f"The {what} field '{path}' is not a date that exists: {short(text)}",
                          "Check the day of the month and the time (00:00 to 23:59); use ISO 8601 / RFC 3339, "
                          "for example 2024-05-01T12:00:00Z.", {"field": path, "rule": "date"}) from None


PREBUILT = "pagerduty_plugin.prebuilt"
_validators = {}  # schema key -> validation function, for this process


def schema_key(schema):
    """A name for the code of schema: the same schema and fastjsonschema version, the same key."""
    made_from = json.dumps([fastjsonschema.VERSION, schema], sort_keys=True)
    return "v_" + hashlib.sha256(made_from.encode()).hexdigest()[:24]


_loaded = {}  # id(schema) -> (schema, its validation function), for the life of this process


def validator(schema):
    """The validation function for schema: from memory when this process has it for this very
    schema object (a Spec builds each schema once, so the HTTP server finds it without hashing),
    else the module built for it at install time, else compiled now (in memory only). Schemas are
    never changed once built."""
    known = _loaded.get(id(schema))
    if known is not None and known[0] is schema:  # the entry keeps schema alive: its id is not reused
        return known[1]
    key = schema_key(schema)
    check = _validators.get(key)
    if check is None:
        try:
            check = importlib.import_module(f"{PREBUILT}.{key}").validate
        except ImportError:
            check = fastjsonschema.compile(schema)
        _validators[key] = check
    if len(_loaded) >= 256:  # one-off schemas (a list's item checks) must not pile up
        _loaded.clear()
    _loaded[id(schema)] = (schema, check)
    return check


def items_schema(schema, field):
    """The schema of a list output's items, as a list, for checking pages as they arrive."""
    prop = (schema.get("properties") or {}).get(field) or {}
    if "items" not in prop:
        return None
    return {"type": "array", "items": prop["items"], "definitions": schema.get("definitions") or {}}


def without_items(schema, fields):
    """The output schema minus the item checks of list fields already checked page by page."""
    properties = dict(schema["properties"])
    for field in fields:
        properties[field] = {k: v for k, v in properties[field].items() if k != "items"}
    return {**schema, "properties": properties}


def field_path(path):
    text = ""
    for part in path[1:]:
        index = isinstance(part, int) or str(part).isdigit()  # fastjsonschema gives "0" for [0]
        text += f"[{part}]" if index else (f".{part}" if text else str(part))
    return text


def error_field(exc):
    """The field an error is about: for a missing or unknown field, that field itself (the schema
    error names the object holding it)."""
    names = offending_names(exc)
    if not names:
        return field_path(exc.path)
    return field_path(list(exc.path) + [names[0]])


def offending_names(exc):
    value = exc.value if isinstance(exc.value, dict) else {}
    if exc.rule == "required":
        return [k for k in exc.rule_definition if k not in value]
    if exc.rule == "additionalProperties":
        known = set((exc.definition or {}).get("properties") or {})
        return sorted(k for k in value if k not in known)
    return []


def type_name(value):
    return JSON_TYPES.get(type(value), type(value).__name__)


def explain(exc, what):
    rule, value, definition = exc.rule, exc.value, exc.rule_definition
    field = field_path(exc.path)
    subject = f"{what} field '{field}'" if field else f"the {what}"
    if rule == "required":
        missing = [k for k in definition if not isinstance(value, dict) or k not in value]
        names = " and ".join(f"'{k}'" for k in missing)
        where = f" in '{field}'" if field else ""
        if len(missing) > 1:
            return f"Required {what} fields {names} are missing{where}"
        return f"Required {what} field {names} is missing{where}"
    if rule == "additionalProperties":
        known = set((exc.definition or {}).get("properties") or {})
        unknown = sorted(k for k in value if k not in known) if isinstance(value, dict) else []
        where = f" in '{field}'" if field else ""
        return f"Unknown {what} field {', '.join(repr(k) for k in unknown)}{where}"
    if rule == "type":
        return f"The {subject} must be {article(definition)}, not {type_name(value)}"
    if rule == "enum":
        return f"The {subject} must be one of {', '.join(map(str, definition))}; got {short(value)}"
    if rule == "maxLength":
        return f"The {subject} is too long: {len(value)} characters, at most {definition} allowed"
    if rule == "minLength":
        return f"The {subject} is too short: at least {definition} characters"
    if rule == "minItems":
        return f"The {subject} has {len(value)} items, at least {definition} needed"
    if rule == "uniqueItems":
        return f"The {subject} names an item more than once"
    if rule == "maxItems":
        return f"The {subject} has {len(value)} items, at most {definition} allowed"
    if rule in ("minimum", "maximum"):
        bound = "at least" if rule == "minimum" else "at most"
        return f"The {subject} must be {bound} {definition}; got {short(value)}"
    if rule == "pattern" and definition == DATE_PATTERN:
        return f"The {subject} is not a valid date-time: {short(value)}"
    if rule == "pattern":
        return f"The {subject} does not have the form it needs: {short(value)}"
    return f"The {subject} is invalid: {exc.message}"


def assistance(exc, what, action):
    if exc.rule == "required":
        properties = (exc.definition or {}).get("properties") or {}
        value = exc.value if isinstance(exc.value, dict) else {}
        wanted = [f"'{k}': {properties.get(k, {}).get('description', 'see the spec')}"
                  for k in exc.rule_definition if k not in value]
        return "Give " + "; ".join(wanted) + "."
    if exc.rule == "additionalProperties":
        known = sorted((exc.definition or {}).get("properties") or {})
        return f"Remove it or check its spelling. Known fields: {', '.join(known)}."
    if exc.rule == "pattern" and exc.rule_definition == DATE_PATTERN:
        return "Use ISO 8601 / RFC 3339, for example 2024-05-01T12:00:00Z."
    if exc.rule == "pattern" and (exc.definition or {}).get("description"):
        return f"Write it as its description says: {exc.definition['description']}."
    target = f"`pagerduty-plugin spec {action}`" if action else "`pagerduty-plugin spec`"
    return f"Correct the {what}; {target} shows every field with its type and limits."


def article(json_type):
    if isinstance(json_type, list):
        return " or ".join(json_type)
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


def short(value, limit=60):
    return shorten(repr(value), limit)


class StreamedItems:
    """Validation of a list output's items while the list is still being fetched.

    An action that passes PagerDuty's objects through unchanged can hand
    `checker("incidents")` to the paging client: each page is checked as it arrives, while the
    next pages are still on the wire, and the final output check skips the items already
    checked (the very same objects, by identity; anything else is checked at the end)."""

    def __init__(self, schema, action):
        self.schema, self.action = schema, action
        self.checked = {}  # field -> {id: item} of the item objects already validated

    def checker(self, field):
        schema = items_schema(self.schema, field)
        if schema is None:
            return None
        check, seen = validator(schema), self.checked.setdefault(field, {})

        def check_batch(batch):
            try:
                check(batch)
            except fastjsonschema.JsonSchemaValueException as exc:
                raise output_mismatch(self.action, explain(exc, f"output {field}"), {"field": field}) from None
            seen.update((id(item), item) for item in batch)  # kept alive, so no id is ever reused

        return check_batch

    def final_schema(self, output):
        """The output schema, minus the item checks already done for the whole of a list."""
        if not isinstance(output, dict):
            return self.schema
        done = [f for f, seen in self.checked.items()
                if isinstance(output.get(f), list) and all(id(item) in seen for item in output[f])]
        if not done:
            return self.schema
        return without_items(self.schema, done)
