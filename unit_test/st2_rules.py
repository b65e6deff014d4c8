"""StackStorm's checks of a pack, restated from its source (st2common is not on the package index): read in
github:StackStorm/st2,

- st2common/st2common/util/schema/__init__.py: CustomValidator (draft 4's keywords, draft 3's `properties`,
  which reads a boolean `required` on each property, no `required` keyword of its own, and the meta-schema
  custom.json: draft 4's with `required` a boolean and `secret`, `immutable`, `position` added), validate()
  (jsonschema.validate: the schema is checked against the meta-schema first), modify_schema_allow_default_none
  (an optional property without a default also takes null; without a `type` it becomes [string, null]);
- st2common/st2common/validators/api/reactor.py validate_trigger_payload: a sensor's payload is validated with
  CustomValidator, use_default and allow_default_none (on by default: system.validate_trigger_payload), and a
  payload that fails is logged and not dispatched;
- st2common/st2common/util/pack.py validate_config_against_schema (what st2-validate-pack-config and
  `st2ctl reload --register-configs` run): the config against get_schema_for_resource_parameters(schema) with the
  same validator, then no value holding a Jinja expression with `decrypt_kv` on an attribute marked secret;
  st2common/st2common/util/jinja.py is_jinja_expression (`{{`, `{%` or `{#` in a string).
"""

import copy

import jsonschema
from jsonschema.validators import Draft3Validator, Draft4Validator, create


def meta_schema():
    schema = copy.deepcopy(Draft4Validator.META_SCHEMA)
    schema["properties"].update({
        "required": {"type": "boolean", "default": False}, "secret": {"type": "boolean", "default": False},
        "immutable": {"type": "boolean", "default": False}, "position": {"type": "number", "minimum": 0},
    })
    return schema


CustomValidator = create(
    meta_schema=meta_schema(),
    validators={**{k: v for k, v in Draft4Validator.VALIDATORS.items() if k != "required"},
                "properties": Draft3Validator.VALIDATORS["properties"]},
    version="st2-custom", type_checker=Draft4Validator.TYPE_CHECKER, id_of=Draft4Validator.ID_OF,
)


def nullable(types):
    return any(t == "null" or (isinstance(t, dict) and t.get("type", "string") == "null") for t in types)


def allow_default_none(schema):
    """modify_schema_allow_default_none."""
    schema = copy.deepcopy(schema)
    for name, prop in (schema.get("properties") or {}).items():
        optional, default = not prop.get("required", False), prop.get("default")
        if ("default" in prop or optional) and default is None:
            if "anyOf" in prop and not nullable(prop["anyOf"]):
                prop["anyOf"].append({"type": "null"})
            elif "oneOf" in prop and not nullable(prop["oneOf"]):
                prop["oneOf"].append({"type": "null"})
            elif isinstance(prop.get("type"), list) and "null" not in prop["type"]:
                prop["type"].append("null")
            elif "anyOf" not in prop and "oneOf" not in prop and not isinstance(prop.get("type"), list) \
                    and prop.get("type", "string") != "null":
                prop["type"] = [prop.get("type", "string"), "null"]
        kind = prop.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        items = prop.get("items") or {}
        if "array" in kinds and isinstance(items, dict) and items.get("properties"):
            prop["items"] = allow_default_none(items)
        if "object" in kinds and prop.get("properties"):
            schema["properties"][name] = allow_default_none(prop)
    return schema


def validate(instance, schema):
    """st2's util.schema.validate with use_default and allow_default_none: the schema is checked first
    (SchemaError), then the instance (ValidationError). Defaults are not filled in: the exported schemas
    declare none."""
    schema = allow_default_none(schema)
    jsonschema.validate(instance=instance, schema=schema, cls=CustomValidator)


def trigger_payload_errors(payload, payload_schema):
    """What validate_trigger_payload refuses (a payload with any is dropped), as messages."""
    try:
        validate(payload, payload_schema)
    except (jsonschema.SchemaError, jsonschema.ValidationError) as exc:
        return [exc.message]
    return []


def is_jinja_expression(value):
    return isinstance(value, str) and any(marker in value for marker in ("{{", "{%", "{#"))


def config_errors(config_schema, config):
    """validate_config_against_schema, as st2-validate-pack-config runs it."""
    schema = {"type": "object", "properties": {k: v or {} for k, v in config_schema.items()},
              "additionalProperties": True}
    try:
        validate(config, schema)
    except (jsonschema.SchemaError, jsonschema.ValidationError) as exc:
        return [exc.message]
    return [f"{key}: decrypt_kv is not allowed on a secret: true value (st2 decrypts those itself)"
            for key, value in config.items()
            if is_jinja_expression(value) and "decrypt_kv" in value and (config_schema.get(key) or {}).get("secret")]
