"""Check the sandbox's answers against PagerDuty's published OpenAPI files.

The files live beside the project in ../shared/pagerduty-api (or $PAGERDUTY_API_CONTRACT) and are never
copied into it; without them SKIP_REASON says why and nothing is checked.

For every exchange the test suite provoked (hooks and deliberate faults left out) `check_exchanges` checks:
- the operation exists (REST file; the Events file for /v2/enqueue and /v2/change/enqueue, whose server is .../v2);
- the status is documented for it (exact code, then the `5XX` range, then `default`);
- a JSON body where the contract documents one, validated against its schema; no body on a 204;
- every query parameter sent is documented for the operation; for 2xx answers also its value, the
  required query parameters, the required From header and the JSON request body.

Validation is jsonschema's, with openapi-schema-validator's OpenAPI 3.0 keywords (nullable, readOnly and
writeOnly in `required`). The corrections applied are exactly those that ../shared/pagerduty-api/README.md
lists under "Where the REST file misleads a validator" (see RESPONSE_FIXES, SHARED_FIXES, ARRAY_QUERY_PARAMS,
the request validator and the date-time format), nothing else. Its notes on the servers list and on the
sre_memories_limit default do not apply here: hosts are not compared and the file itself is not validated.
"""
import contextlib
import contextvars
import copy
import itertools
import json
import os
import re
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import pytest
from jsonschema import FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import extend
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator
from openapi_schema_validator import _keywords as oas_keywords
from openapi_schema_validator._format import oas30_format_checker
from referencing import Registry, Resource, Specification

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = {"rest": "rest_openapiv3.json", "events": "events_v2_openapiv3.json"}
MAX_LINES_PER_EXCHANGE = 5


def contract_folder():
    return os.environ.get("PAGERDUTY_API_CONTRACT") or os.path.join(REPO, os.pardir, "shared", "pagerduty-api")


def skip_reason(folder=None):
    """None when the folder holds both OpenAPI files, else why the check cannot run."""
    folder = folder or contract_folder()
    shown = os.path.relpath(folder, REPO) if "PAGERDUTY_API_CONTRACT" not in os.environ else folder
    if not os.path.isdir(folder):
        return (f"{shown} not found: PagerDuty's published OpenAPI files are kept beside the project, not in it "
                f"(their repository has no licence to copy them); put {' and '.join(FILES.values())} (PagerDuty/"
                f"api-schema's reference/REST/openapiv3.json and reference/events-v2/openapiv3.json) in {shown}, "
                "or name their folder in PAGERDUTY_API_CONTRACT")
    missing = [name for name in FILES.values() if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        return f"{shown} lacks {', '.join(missing)}: the published contract is incomplete"
    return None


SKIP_REASON = skip_reason()


# --- the README's corrections ----------------------------------------------------------------
# Each names a schema by JSON pointer; loading fails loudly if the published file moves it.

def _nullable(node, doc):
    if "type" in node:
        return dict(node, nullable=True)
    return {"anyOf": [node, {"enum": [None]}]}


def _one_of_as_any_of(node, doc):
    node = dict(node)
    node["anyOf"] = node.pop("oneOf")
    return node


def _or_type(kind):
    return lambda node, doc: {"anyOf": [node, {"type": kind}]}


def _add_enum(value):
    return lambda node, doc: dict(node, enum=[*node["enum"], value])


def _without(keyword):
    return lambda node, doc: {key: value for key, value in node.items() if key != keyword}


def _contact_method_reference_with_bare_types(node, doc):
    reference = copy.deepcopy(_resolve(doc, node["$ref"]))
    types = reference["allOf"][1]["properties"]["type"]["enum"]
    types += [name[: -len("_reference")] for name in types]
    return reference


def _not_requiring(name):
    def fix(node, doc):
        schema = copy.deepcopy(_deref(doc, node))
        schema["required"] = [field for field in schema.get("required", []) if field != name]
        return schema
    return fix


_FIELD_VALUE = "#/components/schemas/CustomFieldsFieldValue/properties/value"


def _plain_custom_field_values(schemas, doc):
    """The six kinds of a custom field value unwrapped to the value itself and read as anyOf, and every
    oneOf of them (default_value, the editable value by id or by name: six places) read as anyOf too."""
    moved = {f"{_FIELD_VALUE}/oneOf/{n}": f"{_FIELD_VALUE}/anyOf/{n}" for n in range(6)}

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: walk(value) for key, value in node.items()}
        if node.get("$ref") in moved:
            node["$ref"] = moved[node["$ref"]]
        alternatives = node.get("oneOf")
        if alternatives and all(isinstance(a, dict) and a.get("$ref") in moved.values() for a in alternatives):
            node["anyOf"] = node.pop("oneOf")
        return node

    fixed = walk(schemas)
    value = fixed["CustomFieldsFieldValue"]["properties"]["value"]
    value["anyOf"] = [dict(kind["properties"]["value"], title=kind.get("title")) for kind in value.pop("oneOf")]
    editable = fixed["CustomFieldsEditableFieldValue"]
    editable["anyOf"] = editable.pop("oneOf")   # by name or by id: with neither required, both fit
    return fixed
INCIDENT = "#/components/schemas/Incident/allOf/1/properties"
ONCALL = "#/components/schemas/Oncall/properties"

# Answers only: values PagerDuty returns that the file does not allow.
RESPONSE_FIXES = [
    (f"{INCIDENT}/resolved_at", _nullable),                      # null in practice, not nullable
    (f"{INCIDENT}/alert_grouping/properties/ended_at", _nullable),
    (f"{INCIDENT}/resolve_reason", _nullable),
    (f"{INCIDENT}/priority", _nullable),
    (f"{ONCALL}/schedule", _nullable),                          # a permanent on-call
    (f"{ONCALL}/start", _nullable),
    (f"{ONCALL}/end", _nullable),
    ("#/components/schemas/Channel", _one_of_as_any_of),          # ambiguous oneOfs
    ("#/components/schemas/Service/allOf/1/properties/alert_grouping_parameters", _one_of_as_any_of),
    # an invocation's metadata.agent: two of its four oneOf alternatives are the same free {id, type}, so no
    # agent can match exactly one. Not yet in the README: issue 20 asks for it.
    ("#/components/schemas/AutomationActionsInvocation/allOf/1/properties/metadata/properties/agent",
     _one_of_as_any_of),
    # the schema says acknowledgement_log_entry; real entries are acknowledge_log_entry
    ("#/components/schemas/AcknowledgeLogEntry/allOf/1/properties/type", _add_enum("acknowledge_log_entry")),
]

# Requests and answers: shapes PagerDuty documents elsewhere or sends itself.
SHARED_FIXES = [
    ("#/components/schemas/IncidentBody/properties/details", _or_type("string")),
    ("#/components/schemas/EscalationRule/properties/escalation_rule_assignment_strategy", _or_type("object")),
    ("#/components/schemas/NotificationRule/allOf/1/properties/contact_method",
     _contact_method_reference_with_bare_types),
    # the change events' since/until carry the placeholder "YYYY-MM-DDThh:mm:ssZ" as their `pattern`: no real
    # date-time matches it (their format, date-time, still applies). Not yet in the README: issue 13 adds it.
    ("#/components/parameters/change_since/schema", _without("pattern")),
    ("#/components/parameters/change_until/schema", _without("pattern")),
    # A custom field's value: the file wraps each kind once more ({"value": {"value": "production"}}) where its own
    # examples, and PagerDuty, send the value itself ({"value": "production"}); and its oneOfs cannot hold (a
    # string is a String, a Datetime and a Url alike; null fits every kind; a value named by neither id nor name
    # fits both of the editable value's forms). Not yet in the README: issue 20 asks for it.
    ("#/components/schemas", _plain_custom_field_values),
    # a field option's data: its discriminator maps to a path the file does not have (the deprecated
    # /incidents/custom_fields answer, since reshaped). Not yet in the README: issue 20 asks for it.
    ("#/components/schemas/CustomFieldsEditableFieldOption/properties/data", _without("discriminator")),
    # a new post's first updates: the schema requires their `post`, which does not exist yet; PagerDuty's own
    # example of the request leaves it out. Not yet in the README: issue 20 asks for it.
    ("#/components/schemas/StatusPagePostPostRequest/properties/updates/items", _not_requiring("post")),
]

# An object that include[] puts where the file types a reference carries its own type (`team`, not
# `team_reference`), as PagerDuty answers it: while an answer to a request with include[] is checked, a type
# X is accepted wherever X_reference is. Not yet in the README: issue 13 adds it.
_INCLUDED = contextvars.ContextVar("include_answer", default=False)


def _enum_with_own_types(validator, enums, instance, schema):
    if _INCLUDED.get() and isinstance(instance, str) and isinstance(enums, list) and instance + "_reference" in enums:
        return
    yield from _ENUM(validator, enums, instance, schema)


_ENUM = OAS30ReadValidator.VALIDATORS["enum"]

# Declared as single strings with explode; they are repeated `key[]=value` arrays.
ARRAY_QUERY_PARAMS = {"statuses[]", "urgencies[]", "include[]"}


# --- validators --------------------------------------------------------------------------------

_TYPE_VALUES = {}   # id(schema) -> (schema, the `type` values it admits or None); the schema kept alive


def _type_values(validator, schema):
    """The `type` property values `schema` admits (through $ref and allOf), or None when unconstrained."""
    known = _TYPE_VALUES.get(id(schema))
    if known is not None:
        return known[1]
    target = schema
    while "$ref" in target:
        target = validator._resolver.lookup(target["$ref"]).contents
    admitted = None
    kind = target.get("properties", {}).get("type")
    if isinstance(kind, dict) and "$ref" not in kind and "enum" in kind and not kind.get("nullable"):
        admitted = frozenset(kind["enum"])
    for part in target.get("allOf", ()):
        more = _type_values(validator, part)
        if more is not None:
            admitted = more if admitted is None else admitted & more
    _TYPE_VALUES[id(schema)] = (schema, admitted)
    return admitted


def _admits(validator, alternative, kind):
    admitted = _type_values(validator, alternative)
    return admitted is None or kind in admitted


def _typed_alternatives(keyword):
    """oneOf/anyOf that skips the alternatives whose `type` enum refuses the object's `type`: they cannot
    match, and evaluating them all (17 log entry kinds, each a full LogEntry) dominated the cost."""
    def check(validator, alternatives, instance, schema):
        kind = instance.get("type") if isinstance(instance, dict) else None
        if isinstance(kind, str) and "discriminator" not in schema:
            kept = [alternative for alternative in alternatives if _admits(validator, alternative, kind)]
            if not kept and _INCLUDED.get():   # an include[]d object where only a reference is declared
                kept = [alternative for alternative in alternatives
                        if _admits(validator, alternative, kind + "_reference")]
            if not kept:
                yield ValidationError(f"type {kind!r} is the type of none of the alternatives")
                return
            alternatives = kept
        yield from keyword(validator, alternatives, instance, schema)
    return check


_RESOLVED = {}   # (base URI, $ref) -> referencing's Resolved: the documents never change once loaded


def _cached_ref(validator, ref, instance, schema):
    """$ref without walking the 2.7 MB document's JSON pointer again on every use."""
    key = (validator._resolver._base_uri, ref)
    resolved = _RESOLVED.get(key)
    if resolved is None:
        resolved = _RESOLVED[key] = validator._resolver.lookup(ref)
    yield from validator.descend(instance, resolved.contents, resolver=resolved.resolver)


_FAST = {"oneOf": _typed_alternatives(oas_keywords.oneOf), "anyOf": _typed_alternatives(oas_keywords.anyOf),
         "$ref": _cached_ref}
# Requests may carry readOnly fields (PagerDuty ignores them, README), which OpenAPI 3.0 does not require there.
RequestValidator = extend(OAS30Validator, {**_FAST, "required": oas_keywords.write_required})
ResponseValidator = extend(OAS30ReadValidator, {**_FAST, "enum": _enum_with_own_types})


# --- formats -----------------------------------------------------------------------------------

FORMATS = FormatChecker(())
for _name in ("int32", "int64", "float", "double"):
    FORMATS.checkers[_name] = oas30_format_checker.checkers[_name]

_DATE_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)\Z", re.IGNORECASE)


@FORMATS.checks("date-time")
def _is_date_time(value):
    """RFC 3339, and the `+0000` offsets of PagerDuty's own examples (README)."""
    if not isinstance(value, str):
        return True
    found = _DATE_TIME.match(value)
    if not found:
        return False
    stamp, fraction, offset = found.groups()
    offset = "+00:00" if offset.upper() == "Z" else offset[:3] + ":" + offset[-2:]
    try:
        datetime.fromisoformat(stamp.upper() + (fraction or "")[:7] + offset)
    except ValueError:
        return False
    return True


@FORMATS.checks("email")
def _is_email(value):
    return not isinstance(value, str) or re.fullmatch(r"[^@\s]+@[^@\s]+", value) is not None


@FORMATS.checks("uri")
def _is_uri(value):
    return not isinstance(value, str) or bool(urlsplit(value).scheme)


@FORMATS.checks("url")
def _is_url(value):
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@FORMATS.checks("uuid", ValueError)
def _is_uuid(value):
    return not isinstance(value, str) or bool(uuid.UUID(value))


# --- documents ---------------------------------------------------------------------------------

def _unescape(segment):
    return segment.replace("~1", "/").replace("~0", "~")


def _escape(segment):
    return str(segment).replace("~", "~0").replace("/", "~1")


def _resolve(doc, ref):
    node = doc
    for segment in ref.lstrip("#").split("/")[1:]:
        node = node[int(segment)] if isinstance(node, list) else node[_unescape(segment)]
    return node


def _deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve(doc, node["$ref"])
    return node


def _patch(doc, pointer, fix):
    parent_pointer, _, key = pointer.rpartition("/")
    parent = _resolve(doc, parent_pointer)
    key = _unescape(key)
    if key not in parent:
        raise KeyError(f"the README's correction names {pointer}, which the published file lacks")
    parent[key] = fix(parent[key], doc)


def _relaxed(doc, node):
    """`node` without `required` at its own level (through $ref and allOf/anyOf/oneOf), properties untouched."""
    node = _deref(doc, node)
    relaxed = {key: value for key, value in node.items() if key != "required"}
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in relaxed:
            relaxed[keyword] = [_relaxed(doc, part) for part in relaxed[keyword]]
    return relaxed


class Document:
    """One published file, as two corrected copies registered for jsonschema: answers and requests."""

    def __init__(self, name, text, serial, corrected=True):
        self.name = name
        self.response_doc = json.loads(text)
        self.request_doc = json.loads(text)
        # unique per load: the $ref cache is keyed by URI, and a test loads an uncorrected copy too
        self.response_uri = f"https://contract.invalid/{serial}/{name}/responses.json"
        self.request_uri = f"https://contract.invalid/{serial}/{name}/requests.json"
        if name == "rest" and corrected:
            for pointer, fix in RESPONSE_FIXES + SHARED_FIXES:
                _patch(self.response_doc, pointer, fix)
            for pointer, fix in SHARED_FIXES:
                _patch(self.request_doc, pointer, fix)
        self.request_doc["x-conformance"] = {}
        server = self.response_doc.get("servers", [{}])[0].get("url", "")
        self.prefix = urlsplit(server).path.rstrip("/")     # "/v2" for events, "" for REST

    def resources(self):
        return [(self.response_uri, Resource(self.response_doc, Specification.OPAQUE)),
                (self.request_uri, Resource(self.request_doc, Specification.OPAQUE))]

    def put_body_schema(self, key, schema):
        """A PUT body's schema with `required` relaxed inside its wrapper objects (partial updates)."""
        schema = _deref(self.request_doc, schema)
        properties = {
            name: _relaxed(self.request_doc, prop) if _is_object_schema(self.request_doc, prop) else prop
            for name, prop in schema.get("properties", {}).items()}
        self.request_doc["x-conformance"][key] = dict(schema, properties=properties)
        return f"#/x-conformance/{_escape(key)}"


def _is_object_schema(doc, node):
    node = _deref(doc, node)
    if node.get("type") == "object" or "properties" in node:
        return True
    return any(_is_object_schema(doc, part) for keyword in ("allOf", "anyOf", "oneOf")
               for part in node.get(keyword, ()))


class Operation:
    def __init__(self, document, method, template, item, spec):
        self.document = document
        self.method = method
        self.template = document.prefix + template
        self.pointer = f"#/paths/{_escape(template)}/{method.lower()}"
        self.spec = spec
        self.name = spec.get("operationId", f"{method} {template}")
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.template))
        self.regex = re.compile(pattern + r"\Z")
        doc = document.request_doc
        params = [_deref(doc, p) for p in item.get("parameters", []) + spec.get("parameters", [])]
        self.query = {p["name"]: p for p in params if p.get("in") == "query"}
        self._query_schemas = {}
        self.from_required = any(p.get("in") == "header" and p["name"].lower() == "from" and p.get("required")
                                 for p in params)
        body = _deref(doc, spec.get("requestBody"))
        self.body_required = bool(body and body.get("required"))
        self.body_pointer = None
        if body and "schema" in body.get("content", {}).get("application/json", {}):
            self.body_pointer = f"{self.pointer}/requestBody/content/application~1json/schema"
            if "$ref" in spec["requestBody"]:
                self.body_pointer = spec["requestBody"]["$ref"] + "/content/application~1json/schema"
            if method == "PUT":
                schema = _resolve(doc, self.body_pointer)
                self.body_pointer = document.put_body_schema(f"{method} {template}", schema)

    def query_schema(self, name):
        """(is an array, schema of one value, pointer of the whole value's schema) for a query parameter."""
        if name in self._query_schemas:
            return self._query_schemas[name]
        doc = self.document.request_doc
        schema = _deref(doc, self.query[name].get("schema", {}))
        declared_array = schema.get("type") == "array"
        item = _deref(doc, schema.get("items", {})) if declared_array else schema
        if name in ARRAY_QUERY_PARAMS and not declared_array:
            schema = {"type": "array", "items": schema}
        key = f"query {self.method} {self.template} {name}"
        doc["x-conformance"][key] = schema
        found = self._query_schemas[name] = (schema.get("type") == "array", item, f"#/x-conformance/{_escape(key)}")
        return found

    def literal_segments(self):
        return sum(1 for part in self.template.split("/") if part and "{" not in part)

    def response_for(self, status):
        """(status key, response object) documented for `status`, or (None, None)."""
        responses = self.spec.get("responses", {})
        for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default"):
            if key in responses:
                return key, _deref(self.document.response_doc, responses[key])
        return None, None

    def documented_statuses(self):
        return ", ".join(self.spec.get("responses", {}))


_LOADS = itertools.count(1)


class Checker:
    def __init__(self, folder, corrected=True):
        """`corrected=False`: the published schemas alone (the tests use it to show each correction matters)."""
        self.documents = []
        for name, filename in FILES.items():
            with open(os.path.join(folder, filename), encoding="utf-8") as fh:
                self.documents.append(Document(name, fh.read(), next(_LOADS), corrected))
        self.registry = Registry().with_resources(
            [pair for document in self.documents for pair in document.resources()])
        self.operations = {}          # method -> [Operation], most literal first
        self.templates = []           # every Operation (to tell "wrong method" from "unknown path")
        for document in self.documents:
            for template, item in document.response_doc["paths"].items():
                for method, spec in item.items():
                    if method in ("get", "put", "post", "delete", "patch") and isinstance(spec, dict):
                        op = Operation(document, method.upper(), template, item, spec)
                        self.operations.setdefault(op.method, []).append(op)
                        self.templates.append(op)
        for ops in self.operations.values():
            ops.sort(key=lambda op: -op.literal_segments())
        self._validators = {}

    # lookups ----------------------------------------------------------------------------------
    def find(self, method, path):
        for op in self.operations.get(method, ()):
            if op.regex.match(path):
                return op
        return None

    def validator(self, kind, uri, pointer):
        key = (kind, uri, pointer)
        found = self._validators.get(key)
        if found is None:
            cls = RequestValidator if kind == "request" else ResponseValidator
            found = cls({"$ref": uri + pointer}, registry=self.registry, format_checker=FORMATS)
            self._validators[key] = found
        return found

    # checks -----------------------------------------------------------------------------------
    def check(self, exchange):
        if exchange.get("hook") or exchange.get("fault") or exchange.get("bodies_dropped"):
            return []
        method, path, status = exchange["method"], exchange["path"], exchange["status"]
        head = f"{method} {path} -> {status}"
        if status is None:
            return [f"{head}: no answer (the connection was dropped without a fault)"]
        op = self.find(method, path)
        if op is None:
            known = any(candidate.regex.match(path) for candidate in self.templates)
            return [f"{head}: " + ("the contract has no " + method + " for this path" if known
                                   else "no operation in the contract matches this path")]
        head = f"{method} {path} [{op.name}] -> {status}"
        problems = self.check_query(op, exchange, status)
        if 200 <= status < 300:
            problems += self.check_request(op, exchange)
        problems += self.check_response(op, exchange)
        if len(problems) > MAX_LINES_PER_EXCHANGE:
            problems = problems[:MAX_LINES_PER_EXCHANGE] + [f"... and {len(problems) - MAX_LINES_PER_EXCHANGE} more"]
        return [f"{head}: {problem}" for problem in problems]

    def check_response(self, op, exchange):
        status = exchange["status"]
        key, response = op.response_for(status)
        if response is None:
            return [f"status {status} is not documented (documented: {op.documented_statuses()})"]
        body = exchange.get("response_json")
        media = response.get("content", {}).get("application/json")
        if media is None or "schema" not in media:
            if status == 204 and body is not None:
                return ["a 204 answer carries a body"]
            return []
        if body is None:
            return [f"the contract documents a JSON body for {key}, the answer has none (or not JSON)"]
        content_type = _header(exchange.get("response_headers"), "content-type") or ""
        problems = [] if content_type.startswith("application/json") else [
            f"Content-Type {content_type!r} for a JSON body"]
        pointer = f"{op.pointer}/responses/{_escape(key)}/content/application~1json/schema"
        if "$ref" in op.spec["responses"][key]:
            pointer = op.spec["responses"][key]["$ref"] + "/content/application~1json/schema"
        validator = self.validator("response", op.document.response_uri, pointer)
        token = _INCLUDED.set(bool((exchange.get("query") or {}).get("include[]")))
        try:
            return problems + _errors(validator, body, "response body")
        finally:
            _INCLUDED.reset(token)

    def check_request(self, op, exchange):
        problems = []
        if op.from_required and not (_header(exchange.get("request_headers"), "from") or "").strip():
            problems.append("a 2xx answer to a request without the required From header")
        if op.body_pointer is None:
            return problems
        body = exchange.get("request_json")
        if body is None:
            if op.body_required:
                problems.append("a 2xx answer to a request without the required JSON body")
            return problems
        validator = self.validator("request", op.document.request_uri, op.body_pointer)
        return problems + _errors(validator, body, "request body")

    def check_query(self, op, exchange, status):
        problems = []
        query = exchange.get("query") or {}
        for name, values in query.items():
            if name not in op.query:
                problems.append(f"query parameter {name!r} is not documented for this operation")
            elif 200 <= status < 300:
                problems += self.check_query_value(op, name, values)
        if 200 <= status < 300:
            problems += [f"a 2xx answer without the required query parameter {name!r}"
                         for name, param in op.query.items() if param.get("required") and name not in query]
        return problems

    def check_query_value(self, op, name, values):
        is_array, item_schema, pointer = op.query_schema(name)
        if not is_array and len(values) > 1:
            return [f"query parameter {name!r} is single-valued but was sent {len(values)} times"]
        try:
            typed = [_coerce(item_schema, value) for value in values]
        except ValueError as exc:
            return [f"query parameter {name}: {exc}"]
        validator = self.validator("request", op.document.request_uri, pointer)
        return _errors(validator, typed if is_array else typed[0], f"query parameter {name}")


def _coerce(schema, text):
    kind = schema.get("type")
    if kind == "integer":
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(f"{text!r} is not an integer")
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"{text!r} is not true or false")
        return text == "true"
    return text


def _header(headers, name):
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


# --- error lines -------------------------------------------------------------------------------

_SECRET_FIELDS = re.compile(r"(routing|integration|service|api)_key|token|secret|password", re.IGNORECASE)


def _pointer(path):
    return "".join(f"/{_escape(part)}" for part in path) or "/"


def _short(value, limit=80):
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _explain(error):
    path = list(error.absolute_path)
    if path and isinstance(path[-1], str) and _SECRET_FIELDS.search(path[-1]):
        return f"the value (masked) fails its {error.validator!r} check"
    if error.instance is None and error.validator == "type":
        return "null where the contract does not allow null"
    if error.validator == "oneOf" and "is valid under each of" in error.message:
        return f"matches more than one of the {len(error.validator_value)} oneOf alternatives"
    if error.validator in ("oneOf", "anyOf") and error.context:
        closest = _closest(error.context)
        return (f"matches none of the {len(error.validator_value)} {error.validator} alternatives; closest: "
                f"{_pointer(closest.absolute_path)}: {_explain(closest)}")
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 80:
        message = message.replace(shown, _short(error.instance))
    return message if len(message) <= 240 else message[:239] + "…"


def _closest(alternative_errors):
    """The best error of the alternative that came nearest (fewest errors, then deepest)."""
    by_alternative = {}
    for error in alternative_errors:
        by_alternative.setdefault(error.relative_schema_path[0], []).append(error)
    nearest = min(by_alternative.values(), key=lambda errors: (len(errors), -max(len(e.path) for e in errors)))
    return best_match(nearest)


def _errors(validator, instance, where):
    lines = []
    for error in validator.iter_errors(instance):
        line = f"{where} {_pointer(error.absolute_path)}: {_explain(error)}"
        if line not in lines:
            lines.append(line)
    return lines


# --- entry point -------------------------------------------------------------------------------

_CHECKER = None


def checker():
    """The Checker for the contract folder, loaded once per process on first use."""
    global _CHECKER
    if _CHECKER is None:
        reason = skip_reason()
        if reason:
            raise RuntimeError(reason)
        _CHECKER = Checker(contract_folder())
    return _CHECKER


def check_exchanges(exchanges):
    """One readable line per problem in the sandbox's answers (hooks and deliberate faults skipped)."""
    current = checker()
    problems = []
    for exchange in exchanges:
        problems += current.check(exchange)
    return problems


@contextlib.contextmanager
def checking(server, request):
    """Fails the test when the answers `server` gives inside the block break the contract: the per-test
    check for a sandbox that several tests share. A `no_conformance` marker turns it off."""
    mark = server.last_seq
    yield
    if SKIP_REASON is None and "no_conformance" not in request.keywords:
        problems = check_exchanges(server.exchanges_after(mark))
        if problems:
            pytest.fail("sandbox answers that break the published contract:\n" + "\n".join(problems[:20]))
