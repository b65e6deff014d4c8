"""Load and lint plugin.spec.yaml, and build JSON Schemas from it.

The spec is the single source of truth: the input, output and connection schemas are built
from it on demand, never kept by hand. Parsing YAML is slow (PyYAML's pure-Python loader
takes about 120 ms for a 2,000-line spec, linting more), so it is done at build time: the
package carries the parsed, linted spec as prebuilt/spec.json with the SHA-256 of the YAML it
was made from (pagerduty_plugin/prebuild.py). A spec edited since (or given by
PAGERDUTY_PLUGIN_SPEC) is parsed and linted at run time and cached as JSON in the user's cache,
keyed by that SHA-256, and read back only from a file and folder that no other user may write.
"""

import hashlib
import json
import os
import re

from pagerduty_plugin.cache import cache_dir, write_atomic
from pagerduty_plugin.errors import PluginError

SPEC_FILE = "plugin.spec.yaml"

# PagerDuty writes offsets as +0000 (ISO 8601) as well as RFC 3339's +00:00 and Z: accept all.
DATE_PATTERN = (r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
                r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
DEFAULT_MAX_LENGTH = 65536  # a string input longer than this is refused unless the field says more

BUILTIN_TYPES = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "float": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    "date": {"type": "string"},
    "bytes": {"type": "string"},
    "password": {"type": "string"},
    "credential_secret_key": {"type": "string"},
}
SECRET_TYPES = {"password", "credential_secret_key"}
FIELD_KEYS = {
    "title", "description", "type", "required", "default", "enum", "example", "order",
    "placeholder", "tooltip", "minimum", "maximum", "minLength", "maxLength", "maxItems", "env",
}
# JSON Schema keywords a field may carry; they constrain input only (outputs stay open).
INPUT_CONSTRAINTS = ("minimum", "maximum", "minLength", "maxLength", "maxItems")
TOP_REQUIRED = ("name", "title", "description", "version", "vendor", "connection", "actions")
ACTION_KEYS = {"title", "description", "implementation", "input", "output", "help"}


class SpecError(PluginError):
    def __init__(self, problems):
        super().__init__(
            "plugin.spec.yaml is invalid: " + "; ".join(problems),
            "Fix the spec; `pagerduty-plugin spec --check` lists every problem.",
            {"problems": problems},
        )
        self.problems = problems


def spec_path():
    override = os.environ.get("PAGERDUTY_PLUGIN_SPEC")
    if override:
        return override
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, SPEC_FILE)  # an installed wheel carries its copy
    return packaged if os.path.exists(packaged) else os.path.join(os.path.dirname(here), SPEC_FILE)


def load(path=None):
    """The linted spec, from the JSON cache when the YAML has not changed."""
    path = path or spec_path()
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except OSError as exc:
        raise PluginError(f"Cannot read the plugin spec {path}: {exc.strerror}",
                          "Reinstall the plugin, or point PAGERDUTY_PLUGIN_SPEC at plugin.spec.yaml.")
    digest = hashlib.sha256(text).hexdigest()
    built = prebuilt_spec(digest)
    if built is not None:
        return Spec(built)
    cache = os.path.join(cache_dir(), f"spec-{digest[:24]}.json")
    try:
        if private(cache):
            with open(cache, encoding="utf-8") as fh:
                return Spec(json.load(fh))
    except (OSError, ValueError):
        pass
    raw = parse_yaml(text)
    problems = lint(raw)
    if problems:
        raise SpecError(problems)
    try:
        write_atomic(cache, json.dumps(raw))
    except (TypeError, ValueError):
        pass  # a value JSON cannot hold (lint reports it where it matters): no cache
    return Spec(raw)


PREBUILT_SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prebuilt", "spec.json")


def prebuilt_spec(digest):
    """The spec parsed and linted at build time, when it was built from this very YAML."""
    try:
        with open(PREBUILT_SPEC, encoding="utf-8") as fh:
            built = json.load(fh)
    except (OSError, ValueError):
        return None
    return built.get("spec") if isinstance(built, dict) and built.get("yaml_sha256") == digest else None


def private(path):
    """True when path and its folder belong to this user and no one else may write them:
    anything else in a cache could have been planted to change what the plugin checks."""
    if not hasattr(os, "getuid"):
        return True
    for where in (path, os.path.dirname(path)):
        info = os.stat(where)
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return False
    return True


def parse_yaml(text):
    import yaml  # only when the cache misses

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise SpecError([f"not valid YAML: {exc}"])
    if not isinstance(raw, dict):
        raise SpecError(["the top level must be a mapping"])
    return raw


class Spec:
    def __init__(self, raw):
        self.raw = raw

    def __getattr__(self, key):
        try:
            return self.raw[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def actions(self):
        return self.raw.get("actions") or {}

    @property
    def triggers(self):
        return self.raw.get("triggers") or {}

    @property
    def connection(self):
        return self.raw.get("connection") or {}

    @property
    def types(self):
        return self.raw.get("types") or {}

    def action(self, name):
        if name not in self.actions:
            import difflib

            close = difflib.get_close_matches(str(name), list(self.actions), n=3)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            raise PluginError(
                f"Unknown action '{name}'",
                f"{hint}Run `pagerduty-plugin info` to list the {len(self.actions)} actions.",
                {"known_actions": sorted(self.actions)},
            )
        return self.actions[name]

    def input_schema(self, name):
        return object_schema(self.action(name).get("input") or {}, self.types, "input")

    def output_schema(self, name):
        return object_schema(self.action(name).get("output") or {}, self.types, "output")

    def connection_schema(self):
        return object_schema(self.connection, self.types, "input")

    def secret_fields(self, fields):
        return [n for n, f in (fields or {}).items() if f.get("type") in SECRET_TYPES]


def examples(fields):
    """{field: its example, else its default} for the fields that have one."""
    return {n: f.get("example", f.get("default")) for n, f in (fields or {}).items()
            if "example" in f or "default" in f}


# --- schema building -------------------------------------------------------------------


def object_schema(fields, types, mode):
    """JSON Schema for a set of spec fields. mode "input" is strict (unknown fields refused,
    enums and limits enforced); "output" stays open so PagerDuty may add fields and values."""
    definitions = {}
    schema = fields_schema(fields, types, mode, definitions)
    if definitions:
        schema["definitions"] = definitions
    return schema


def fields_schema(fields, types, mode, definitions, top=True):
    return {
        "type": "object" if mode == "input" or top else ["object", "null"],
        "properties": {n: field_schema(f, types, mode, definitions) for n, f in fields.items()},
        "required": [n for n, f in fields.items() if f.get("required")],
        "additionalProperties": mode == "output",
    }


def field_schema(field, types, mode, definitions):
    schema = type_schema(field["type"], types, mode, definitions)
    if field.get("description"):
        schema["description"] = field["description"]
    if mode == "input":
        if "enum" in field:
            schema["enum"] = field["enum"]
        if "default" in field:
            schema["default"] = field["default"]
        for key in INPUT_CONSTRAINTS:
            if key in field:
                schema[key] = field[key]
        if schema.get("type") == "string" and "maxLength" not in schema:
            schema["maxLength"] = DEFAULT_MAX_LENGTH
    if field.get("type") == "date" and mode == "input":
        schema["pattern"] = DATE_PATTERN
    if mode == "output" and not field.get("required"):
        schema = nullable(schema)  # PagerDuty sends null for unset fields
    return schema


def nullable(schema):
    """schema that also accepts null. A type list validates much faster than an anyOf; a custom
    type's definition accepts null itself in output mode, so its $ref needs nothing."""
    if "$ref" in schema:
        return schema
    return {**schema, "type": [schema["type"], "null"]}


def type_schema(type_name, types, mode, definitions):
    if type_name.startswith("[]"):
        return {"type": "array", "items": type_schema(type_name[2:], types, mode, definitions)}
    if type_name in BUILTIN_TYPES:
        return dict(BUILTIN_TYPES[type_name])
    if type_name not in definitions:
        definitions[type_name] = {}  # placeholder first: types may refer to themselves
        definitions[type_name] = fields_schema(types[type_name], types, mode, definitions, top=False)
    return {"$ref": f"#/definitions/{type_name}"}


# --- lint --------------------------------------------------------------------------------


def lint(raw):
    """Every problem in the spec, as readable strings; an empty list means it is sound."""
    problems = [f"missing top-level '{key}'" for key in TOP_REQUIRED if key not in raw]
    types = raw.get("types") or {}
    for name, fields in types.items():
        problems += lint_fields(f"type {name}", fields, types)
    problems += lint_fields("connection", raw.get("connection") or {}, types)
    for kind in ("actions", "triggers"):
        for name, action in (raw.get(kind) or {}).items():
            problems += lint_action(f"{kind[:-1]} {name}", name, action, types)
    return problems


def lint_action(where, name, action, types):
    if not isinstance(action, dict):
        return [f"{where}: must be a mapping"]
    problems = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problems.append(f"{where}: names are lower_snake_case")
    for key in ("title", "description", "implementation"):
        if not action.get(key):
            problems.append(f"{where}: missing {key}")
    if action.get("implementation") and not re.fullmatch(r"[a-z_][a-z0-9_.]*:[A-Za-z_]\w*", action["implementation"]):
        problems.append(f"{where}: implementation must read module:Class")
    problems += [f"{where}: unknown key '{k}'" for k in sorted(set(action) - ACTION_KEYS)]
    for part in ("input", "output"):
        problems += lint_fields(f"{where} {part}", action.get(part) or {}, types)
    return problems


def lint_fields(where, fields, types):
    if not isinstance(fields, dict):
        return [f"{where}: must be a mapping of fields"]
    problems = []
    for name, field in fields.items():
        at = f"{where}.{name}"
        if not isinstance(field, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += [f"{at}: unknown key '{k}'" for k in sorted(set(field) - FIELD_KEYS)]
        if not field.get("title"):
            problems.append(f"{at}: missing title")
        if not field.get("description"):
            problems.append(f"{at}: missing description")
        type_name = field.get("type")
        if not isinstance(type_name, str) or not known_type(type_name, types):
            problems.append(f"{at}: unknown type {type_name!r}")
            continue
        problems += lint_values(at, field, types)
    return problems


def known_type(type_name, types):
    base = type_name[2:] if type_name.startswith("[]") else type_name
    return base in BUILTIN_TYPES or base in types


def lint_values(at, field, types):
    """The example, default and enum values must each validate against the field itself."""
    import fastjsonschema

    definitions = {}
    schema = field_schema({**field, "required": True}, types, "input", definitions)
    if definitions:
        schema["definitions"] = definitions
    try:
        check = fastjsonschema.compile(schema)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        return [f"{at}: its constraints are not valid JSON Schema ({exc})"]
    problems = []
    values = [("example", field["example"])] if "example" in field else []
    values += [("default", field["default"])] if "default" in field else []
    values += [("enum value", v) for v in field.get("enum") or []]
    for label, value in values:
        try:
            check(json.loads(json.dumps(value)))
        except fastjsonschema.JsonSchemaValueException as exc:
            problems.append(f"{at}: {label} {value!r} does not validate ({exc.message})")
        except (TypeError, ValueError):
            problems.append(f"{at}: {label} {value!r} is not JSON")
    return problems
