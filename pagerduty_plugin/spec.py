"""Load and lint plugin.spec.yaml, and build JSON Schemas from it.

The spec is the single source of truth: the input, output and connection schemas are built
from it on demand, never kept by hand. Parsing YAML is slow (PyYAML's pure-Python loader
takes about 120 ms for a 2,000-line spec, linting more), so it is done at build time: the
package carries the parsed, linted spec as prebuilt/spec.json with the SHA-256 of the YAML it
was made from (pagerduty_plugin/prebuild.py). A spec edited since (or given by
PAGERDUTY_PLUGIN_SPEC) is parsed and linted at run time and cached as JSON in the user's cache,
keyed by that SHA-256, and read back only from a file and folder that no other user may write.

Actions and fields carry only the keys of InsightConnect's v2 format (Rapid7's validators refuse
any other). What this project's runner needs beyond it lives in the top-level `python:` block:
`implementations` (each action's class), `env` (each connection field's variable), `limits`
(JSON Schema limits on input fields), `constraints` (rules between an action's inputs) and
`aliases` (earlier names of inputs), keyed like the sections they describe (constraints.py).
"""

import hashlib
import json
import os
import re

from pagerduty_plugin import constraints
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
# The keys InsightConnect's v2 format allows on a field and on an action or trigger.
FIELD_KEYS = {
    "title", "description", "type", "required", "default", "enum", "example", "order",
    "placeholder", "tooltip", "excludeProduct",
}
ACTION_KEYS = {"title", "description", "input", "output", "action_type"}
# JSON Schema keywords `python.limits` may set on a field; they constrain input only (outputs stay open).
INPUT_CONSTRAINTS = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "pattern")
TOP_REQUIRED = ("name", "title", "description", "version", "vendor", "connection", "actions", "python")
KINDS = ("actions", "triggers")
# keys that earlier versions of this spec kept on actions and fields, and where they live now
MOVED = {"implementation": "python.implementations", "env": "python.env",
         "constraints": "python.constraints", "aliases": "python.aliases",
         **{k: "python.limits" for k in INPUT_CONSTRAINTS}}


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
        self.schemas = {}  # (kind, action) -> JSON Schema, built once: callers must not change them

    name = property(lambda self: self.raw["name"])
    title = property(lambda self: self.raw["title"])
    description = property(lambda self: self.raw["description"])
    version = property(lambda self: self.raw["version"])
    vendor = property(lambda self: self.raw["vendor"])
    python = property(lambda self: self.raw["python"])

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
        return self.entry("action", self.actions, name)

    def trigger(self, name):
        return self.entry("trigger", self.triggers, name)

    @staticmethod
    def entry(kind, entries, name):
        if name not in entries:
            import difflib

            close = difflib.get_close_matches(str(name), list(entries), n=3)
            hint = f"Did you mean {', '.join(close)}? " if close else ""
            raise PluginError(
                f"Unknown {kind} '{name}'",
                f"{hint}Run `pagerduty-plugin info` to list the {len(entries)} {kind}s.",
                {f"known_{kind}s": sorted(entries)},
            )
        return entries[name]

    def implementation(self, name, kind="actions"):
        """'package.module:Class' of an action (or trigger), from `python.implementations`."""
        return f"{self.python[kind]}.{self.python['implementations'][kind][name]}"

    def env_var(self, field):
        """The environment variable plain mode reads a connection field from (None: none)."""
        return (self.python.get("env") or {}).get(field)

    def sample_input(self, name):
        """The examples of an action's inputs, but for the alternatives `python.sample_omits` names."""
        omitted = set((self.python.get("sample_omits") or {}).get(name) or ())
        return {k: v for k, v in examples(self.action(name).get("input")).items() if k not in omitted}

    def sample_connection(self):
        """The examples of the connection's settings, but for those `python.sample_omits.connection` names."""
        omitted = set((self.python.get("sample_omits") or {}).get("connection") or ())
        return {k: v for k, v in examples(self.connection).items() if k not in omitted}

    @property
    def limits(self):
        return self.python.get("limits") or {}

    def constraints(self, name):
        """The rules between an action's inputs (`python.constraints`), enforced by the runner."""
        return (self.python.get("constraints") or {}).get(name) or []

    def connection_constraints(self):
        """The rules between the connection's fields (`python.connection_constraints`)."""
        return self.python.get("connection_constraints") or []

    def scopes(self, names, kind="actions"):
        """The sorted union of the scoped-OAuth permissions (`python.scopes`) the named actions
        (or triggers) may need; an unknown name is the usual unknown-action error."""
        declared = (self.python.get("scopes") or {}).get(kind) or {}
        found = set()
        for name in names:
            self.entry(kind[:-1], self.raw.get(kind) or {}, name)
            found.update(declared.get(name) or ())
        return sorted(found)

    def scopes_by_path(self):
        """The actions whose scopes are those of the path each step gives them (api_request)."""
        return (self.python.get("scopes") or {}).get("any_path") or []

    def aliases(self, name):
        """{field: [its earlier names]} of an action's inputs (`python.aliases`)."""
        return (self.python.get("aliases") or {}).get(name) or {}

    def input_schema(self, name):
        return self.schema("actions", name, "input")

    def output_schema(self, name):
        return self.schema("actions", name, "output")

    def trigger_input_schema(self, name):
        return self.schema("triggers", name, "input")

    def trigger_output_schema(self, name):
        return self.schema("triggers", name, "output")

    def connection_schema(self):
        return self.schema("connection", None, "input")

    def schema(self, section, name, part):
        """The JSON Schema of an action's or trigger's input or output, or of the connection; built
        once, the same object each time, so the validator compiled for it is found by identity."""
        key = (section, name, part)
        if key not in self.schemas:
            if section == "connection":
                fields, own = self.connection, self.limits.get("connection")
            else:
                fields = self.entry(section[:-1], self.raw.get(section) or {}, name).get(part) or {}
                own = (self.limits.get(section) or {}).get(name) if part == "input" else None
            schema = object_schema(fields, self.types, part, self.limits, own)
            if section == "actions" and part == "input":
                self.add_rules(schema, name)
            if section == "connection" and self.connection_constraints():
                schema["allOf"] = constraints.schema(self.connection_constraints())
            self.schemas[key] = schema
        return self.schemas[key]

    def add_rules(self, schema, name):
        """The action's constraints (allOf) and its fields' earlier names, in its input schema."""
        for field, note in constraints.alias_annotations(self.aliases(name)).items():
            schema["properties"][field].update(note)
        rules = self.constraints(name)
        if rules:
            schema["allOf"] = constraints.schema(rules)

    def secret_fields(self, fields):
        return [n for n, f in (fields or {}).items() if f.get("type") in SECRET_TYPES]


def examples(fields):
    """{field: its example, else its default} for the fields that have one."""
    return {n: f.get("example", f.get("default")) for n, f in (fields or {}).items()
            if "example" in f or "default" in f}


# --- schema building -------------------------------------------------------------------


def object_schema(fields, types, mode, limits=None, own_limits=None):
    """JSON Schema for a set of spec fields. mode "input" is strict (unknown fields refused,
    enums and limits enforced); "output" stays open so PagerDuty may add fields and values.
    limits is the spec's `python.limits` (for custom types' fields); own_limits its entry for
    these fields, {field: {keyword: value}}."""
    builder = SchemaBuilder(types, mode, limits)
    return builder.with_definitions(builder.fields(fields, own_limits))


class SchemaBuilder:
    def __init__(self, types, mode, limits=None):
        self.types, self.mode, self.limits = types, mode, limits or {}
        self.definitions = {}

    def with_definitions(self, schema):
        if self.definitions:
            schema["definitions"] = self.definitions
        return schema

    def fields(self, fields, own_limits=None, top=True):
        own_limits = own_limits or {}
        return {
            "type": "object" if self.mode == "input" or top else ["object", "null"],
            "properties": {n: self.field(f, own_limits.get(n)) for n, f in fields.items()},
            "required": [n for n, f in fields.items() if f.get("required")],
            "additionalProperties": self.mode == "output",
        }

    def field(self, field, limits=None):
        schema = self.type(field["type"])
        if field.get("description"):
            schema["description"] = field["description"]
        if self.mode == "input":
            if "enum" in field and schema.get("type") == "array":  # on []X: the values allowed in the list
                schema["items"] = {**schema["items"], "enum": field["enum"]}
            elif "enum" in field:
                schema["enum"] = field["enum"]
            if "default" in field:
                schema["default"] = field["default"]
            schema.update(limits or {})
            if schema.get("type") == "string" and "maxLength" not in schema:
                schema["maxLength"] = DEFAULT_MAX_LENGTH
            if field["type"] == "date":
                schema["pattern"] = DATE_PATTERN
        elif not field.get("required"):
            schema = nullable(schema)  # PagerDuty sends null for unset fields
        return schema

    def type(self, type_name):
        if type_name.startswith("[]"):
            return {"type": "array", "items": self.type(type_name[2:])}
        if type_name in BUILTIN_TYPES:
            return dict(BUILTIN_TYPES[type_name])
        if type_name not in self.definitions:
            self.definitions[type_name] = {}  # placeholder first: types may refer to themselves
            own = (self.limits.get("types") or {}).get(type_name)
            self.definitions[type_name] = self.fields(self.types[type_name], own, top=False)
        return {"$ref": f"#/definitions/{type_name}"}


def nullable(schema):
    """schema that also accepts null. A type list validates much faster than an anyOf; a custom
    type's definition accepts null itself in output mode, so its $ref needs nothing."""
    if "$ref" in schema:
        return schema
    return {**schema, "type": [schema["type"], "null"]}


# --- lint --------------------------------------------------------------------------------


def lint(raw):
    """Every problem in the spec, as readable strings; an empty list means it is sound."""
    problems = [f"missing top-level '{key}'" for key in TOP_REQUIRED if key not in raw]
    types = raw.get("types") or {}
    python = raw.get("python") if isinstance(raw.get("python"), dict) else {}
    limits = python.get("limits") if isinstance(python.get("limits"), dict) else {}
    problems += lint_python(raw, python)
    for name, fields in types.items():
        problems += lint_fields(f"type {name}", fields, types, limits, section(limits, "types", name))
    problems += lint_fields("connection", raw.get("connection") or {}, types, limits, section(limits, "connection"))
    titles = {}
    for kind in KINDS:
        for name, action in (raw.get(kind) or {}).items():
            problems += lint_action(f"{kind[:-1]} {name}", name, action, types, limits,
                                    section(limits, kind, name))
            title = action.get("title") if isinstance(action, dict) else None
            if title and title in titles:  # help.md finds each action by its title
                problems.append(f"{kind[:-1]} {name}: title {title!r} is also {titles[title]}'s")
            titles.setdefault(title, name)
    return problems


def section(block, *path):
    """block[path...] when every step is a mapping, else {}."""
    for key in path:
        block = block.get(key) if isinstance(block, dict) else None
    return block if isinstance(block, dict) else {}


def lint_python(raw, python):
    """`python.implementations`, `env` and `limits` name only what exists, in the right form."""
    problems = []
    implementations = python.get("implementations") or {}
    for kind in KINDS:
        declared, classes = raw.get(kind) or {}, section(implementations, kind)
        if declared and not isinstance(python.get(kind), str):
            problems.append(f"python.{kind}: missing (the package of the {kind})")
        problems += [f"{kind[:-1]} {n}: missing from python.implementations.{kind}" for n in declared
                     if n not in classes]
        for name, ref in classes.items():
            where = f"python.implementations.{kind}.{name}"
            if name not in declared:
                problems.append(f"{where}: names no {kind[:-1]}")
            elif not isinstance(ref, str) or not re.fullmatch(r"[a-z_][a-z0-9_.]*:[A-Za-z_]\w*", ref):
                problems.append(f"{where}: must read module:Class")
    connection = raw.get("connection") or {}
    for field, variable in (python.get("env") or {}).items():
        if field not in connection:
            problems.append(f"python.env.{field}: names no connection field")
        if not isinstance(variable, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", variable):
            problems.append(f"python.env.{field}: must be an environment variable name (A-Z, 0-9, _)")
    for name, fields in (python.get("sample_omits") or {}).items():
        inputs = (raw.get("connection") if name == "connection"
                  else ((raw.get("actions") or {}).get(name) or {}).get("input")) or {}
        what = "connection field" if name == "connection" else "action input"
        problems += [f"python.sample_omits.{name}: names no {what} {f!r}" for f in fields or [] if f not in inputs]
    problems += constraints.lint(raw.get("actions"), python.get("constraints"), python.get("aliases"))
    for number, rule in enumerate(python.get("connection_constraints") or [], 1):
        problems += constraints.lint_rule(f"python.connection_constraints[{number}]", rule, connection)
    problems += lint_scopes(raw, python.get("scopes") or {})
    return problems + lint_limits(raw, python.get("limits") or {})


def lint_scopes(raw, scopes):
    """`python.scopes.{actions,triggers}`, when given, give every action and trigger a list of scope names."""
    if not scopes:
        return []
    problems = []
    for kind in KINDS:
        declared, listed = raw.get(kind) or {}, section(scopes, kind)
        problems += [f"python.scopes.{kind}.{n}: names no {kind[:-1]}" for n in listed if n not in declared]
        problems += [f"{kind[:-1]} {n}: missing from python.scopes.{kind}" for n in declared if n not in listed]
        problems += [f"python.scopes.any_path: names no action {n!r}" for n in scopes.get("any_path") or []
                     if kind == "actions" and n not in declared]
        problems += [f"python.scopes.{kind}.{n}: must be a list of scopes like incidents.read" for n, s in
                     listed.items() if not isinstance(s, list)
                     or not all(isinstance(x, str) and re.fullmatch(r"[a-z_:]+\.(read|write)", x) for x in s)]
    return problems


def lint_limits(raw, limits):
    problems = []
    places = {"connection": {"": raw.get("connection") or {}}}
    places.update({kind: raw.get(kind) or {} for kind in ("types",)})
    places.update({kind: {n: (a or {}).get("input") or {} for n, a in (raw.get(kind) or {}).items()}
                   for kind in KINDS})
    for kind, entries in limits.items():
        if kind not in places:
            problems.append(f"python.limits.{kind}: expected connection, types, actions or triggers")
            continue
        entries = {"": entries} if kind == "connection" else entries
        for name, fields in (entries or {}).items():
            where = f"python.limits.{kind}" + (f".{name}" if name else "")
            if name not in places[kind]:
                problems.append(f"{where}: names no {kind[:-1]}")
                continue
            for field, rule in (fields or {}).items():
                if field not in places[kind][name]:
                    problems.append(f"{where}.{field}: names no input field")
                elif not isinstance(rule, dict) or set(rule) - set(INPUT_CONSTRAINTS):
                    problems.append(f"{where}.{field}: must map {', '.join(INPUT_CONSTRAINTS)} to values")
    return problems


def lint_action(where, name, action, types, limits, own_limits):
    if not isinstance(action, dict):
        return [f"{where}: must be a mapping"]
    problems = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problems.append(f"{where}: names are lower_snake_case")
    for key in ("title", "description"):
        if not action.get(key):
            problems.append(f"{where}: missing {key}")
    problems += [unknown_key(where, k) for k in sorted(set(action) - ACTION_KEYS)]
    problems += lint_fields(f"{where} input", action.get("input") or {}, types, limits, own_limits)
    problems += lint_fields(f"{where} output", action.get("output") or {}, types, limits, {})
    return problems


def lint_fields(where, fields, types, limits, own_limits):
    if not isinstance(fields, dict):
        return [f"{where}: must be a mapping of fields"]
    problems = []
    for name, field in fields.items():
        at = f"{where}.{name}"
        if not isinstance(field, dict):
            problems.append(f"{at}: must be a mapping")
            continue
        problems += [unknown_key(at, k) for k in sorted(set(field) - FIELD_KEYS)]
        if not field.get("title"):
            problems.append(f"{at}: missing title")
        if not field.get("description"):
            problems.append(f"{at}: missing description")
        type_name = field.get("type")
        if not isinstance(type_name, str) or not known_type(type_name, types):
            problems.append(f"{at}: unknown type {type_name!r}")
            continue
        rule = own_limits.get(name)
        problems += lint_values(at, field, types, limits, rule if isinstance(rule, dict) else None)
    return problems


def unknown_key(where, key):
    moved = f" (it belongs in {MOVED[key]})" if key in MOVED else ""
    return f"{where}: unknown key '{key}'{moved}"


def known_type(type_name, types):
    base = type_name[2:] if type_name.startswith("[]") else type_name
    return base in BUILTIN_TYPES or base in types


def lint_values(at, field, types, limits, rule):
    """The example, default and enum values must each validate against the field itself."""
    import fastjsonschema

    builder = SchemaBuilder(types, "input", limits)
    schema = builder.with_definitions(builder.field({**field, "required": True}, rule))
    try:
        check = fastjsonschema.compile(schema)
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        return [f"{at}: its constraints are not valid JSON Schema ({exc})"]
    problems = []
    values = [("example", field["example"])] if "example" in field else []
    values += [("default", field["default"])] if "default" in field else []
    listed = field["type"].startswith("[]")  # an enum on []X lists the item values
    values += [("enum value", [v] if listed else v) for v in field.get("enum") or []]
    for label, value in values:
        try:
            check(json.loads(json.dumps(value)))
        except fastjsonschema.JsonSchemaValueException as exc:
            problems.append(f"{at}: {label} {value!r} does not validate ({exc.message})")
        except (TypeError, ValueError):
            problems.append(f"{at}: {label} {value!r} is not JSON")
    return problems
