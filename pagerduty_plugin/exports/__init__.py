"""Native packages for other platforms (Rundeck, StackStorm, XSOAR), generated from the spec.

Everything a generator needs is read through pagerduty_plugin.spec; nothing here keeps a list
of fields. Each export is deterministic: the same spec gives the same bytes.
"""

import os

EXPORTERS = {
    "rundeck": "pagerduty_plugin.exports.rundeck:export",
    "stackstorm": "pagerduty_plugin.exports.stackstorm:export",
    "xsoar": "pagerduty_plugin.exports.xsoar:export",
}


def env_variable(spec, name):
    """The plain-mode environment variable of connection field `name` (PAGERDUTY_API_KEY …).
    The one place exports read it: when `env:` moves to a top-level block, only this changes."""
    return spec.env_var(name)


def json_type(property_schema):
    """The JSON type of one property of a schema built by spec.py (a custom type is an object)."""
    if "$ref" in property_schema:
        return "object"
    kind = property_schema.get("type")
    return kind[0] if isinstance(kind, list) else kind


def flat_schema(property_schema):
    """A property schema with every $ref to a custom type replaced by a plain object: platforms
    that read one parameter at a time have no `definitions` to resolve (the runner still checks
    the full schema)."""
    if not isinstance(property_schema, dict):
        return property_schema
    if "$ref" in property_schema:
        return {"type": "object", **{k: v for k, v in property_schema.items() if k != "$ref"}}
    return {k: flat_schema(v) if k == "items" else v for k, v in property_schema.items()}


def dump_yaml(document):
    """Stable YAML: keys in the order given, block style, long lines kept whole, and a value
    shared by several entries (the connection's properties) written out each time, not aliased."""
    import yaml  # only when exporting: never on the cold path of `run`

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump(document, Dumper=Dumper, sort_keys=False, default_flow_style=False, allow_unicode=False,
                     width=1 << 16)


def write_file(directory, relative, content, mode=0o644):
    """Write one generated file (bytes or text) under directory; returns its relative path."""
    path = os.path.join(directory, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary = path + ".tmp"
    with open(temporary, "wb") as fh:
        fh.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
    return relative
