"""`export rundeck DIR`: a Rundeck script plugin with one WorkflowStep provider per action.

The zip (`pagerduty-plugin.zip`, Rundeck's `<name>-plugin.zip` layout with a top directory of
the same name) holds plugin.yaml, the step script and steps.json, the input types it converts
RD_CONFIG_* values with. Every property comes from the spec: each action input, then the
connection (prefixed `connection_`, as inputs such as from_email share its names); secrets are
Key Storage paths that Rundeck reads into the step (STORAGE_PATH_AUTOMATIC_READ). A property
left blank on the step falls back to project.plugin.WorkflowStep.<provider>.<property> (scope
Instance resolves the step, then the project, then the framework).
"""

import io
import json
import os
import zipfile

from pagerduty_plugin.exports import dump_yaml, env_variable, json_type, write_file
from pagerduty_plugin.spec import SECRET_TYPES

PLUGIN_NAME = "pagerduty-plugin"  # Rundeck loads a zip only when its name ends in -plugin.zip
ZIP_NAME = f"{PLUGIN_NAME}.zip"
SCRIPT = "pagerduty_step.py"
TABLE = "steps.json"
PROVIDER_PREFIX = "pagerduty_"
CONNECTION_PREFIX = "connection_"
COMMAND_PROPERTY = "pagerduty_command"  # not a spec field: where the plugin is installed
EXTRA_PROPERTIES = (COMMAND_PROPERTY,)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same spec gives the same bytes
# rundeckPluginVersion 2.0 makes both required (rundeck/rundeck core PluginMetadataValidator): 4.x loads on
# Rundeck 4 and 5 (a later major than the one named is accepted); the step is a python3 script, tried on unix
COMPATIBILITY = {"rundeckCompatibilityVersion": "4.x", "targetHostCompatibility": "unix"}
STORAGE = {"selectionAccessor": "STORAGE_PATH", "storage-path-root": "keys",
           "valueConversion": "STORAGE_PATH_AUTOMATIC_READ", "valueConversionFailure": "remove"}
KIND_HINTS = {"json": " (JSON)", "list": " (one item per line, or a JSON array)"}


def provider_name(action):
    return PROVIDER_PREFIX + action


def value_kind(property_schema):
    """How the step script converts the property's text: text, integer, number, boolean, json, list."""
    kind = json_type(property_schema)
    if kind == "array":
        return "list" if json_type(property_schema.get("items") or {}) == "string" else "json"
    if kind == "object":
        return "json"
    if kind in ("integer", "number", "boolean"):
        return kind
    return "text"


def rundeck_type(field, kind):
    if field.get("enum"):
        return "Options" if kind == "list" else "Select"  # Options: several of the values
    return {"integer": "Integer", "boolean": "Boolean"}.get(kind, "String")


def rundeck_text(value):
    """A default or choice as Rundeck keeps it: text, with JSON's spelling for the rest."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def config_property(name, field, property_schema):
    """A step property for an action input: its type, title, description, default and choices."""
    kind = value_kind(property_schema)
    prop = {"name": name, "title": field["title"], "type": rundeck_type(field, kind),
            "description": field["description"] + KIND_HINTS.get(kind, ""),
            "required": bool(field.get("required")), "scope": "Instance"}
    if field.get("enum"):
        prop["values"] = ",".join(rundeck_text(v) for v in field["enum"])
    if "default" in field:
        prop["default"] = rundeck_text(field["default"])
    if field.get("type") in SECRET_TYPES:
        prop["renderingOptions"] = dict(STORAGE)
    elif kind in ("json", "list") and prop["type"] != "Options":
        prop["renderingOptions"] = {"displayType": "MULTI_LINE"}
    return prop, kind


def connection_property(name, field, property_schema):
    """A connection field on every step. It has no Rundeck default: a form saves its defaults into
    the step, which would hide the project's setting (a blank field falls back to the project, then
    the framework, then the plugin's own default). A yes/no is a true/false choice, as an
    unticked Rundeck checkbox would read as false (verify_tls off)."""
    prop, kind = config_property(CONNECTION_PREFIX + name, field, property_schema)
    prop["title"] += " (connection)"
    if "default" in prop:
        prop["description"] += f". Default: {prop.pop('default')}"
    if kind == "boolean":
        prop.update(type="Select", values="true,false")
    return prop


def connection_properties(spec):
    schema = spec.connection_schema()["properties"]
    return [connection_property(name, field, schema[name]) for name, field in spec.connection.items()]


def command_property():
    return {"name": COMMAND_PROPERTY, "title": "pagerduty-plugin command", "type": "String",
            "description": "The command that runs the plugin on the Rundeck server, e.g. "
                           "/opt/pagerduty/bin/pagerduty-plugin (default: pagerduty-plugin on the PATH)",
            "required": False, "default": "pagerduty-plugin", "scope": "Project"}


def provider(spec, action_name, shared):
    action = spec.action(action_name)
    schema = spec.input_schema(action_name)["properties"]
    inputs = [config_property(name, field, schema[name]) for name, field in (action.get("input") or {}).items()]
    return {
        "name": provider_name(action_name), "service": "WorkflowStep", "title": f"PagerDuty: {action['title']}",
        "description": action["description"], "plugin-type": "script", "script-interpreter": "python3",
        "script-file": SCRIPT, "script-args": action_name,
        "config": [prop for prop, _ in inputs] + shared,
    }, {prop["name"]: kind for prop, kind in inputs}


def plugin_files(spec):
    """{path inside the zip: bytes} for the whole plugin."""
    shared = connection_properties(spec) + [command_property()]
    providers, table = [], {}
    for name in spec.actions:
        entry, kinds = provider(spec, name, shared)
        providers.append(entry)
        table[name] = {"inputs": kinds}
    metadata = {
        "name": PLUGIN_NAME, "version": spec.version, "rundeckPluginVersion": "2.0", **COMPATIBILITY,
        "author": spec.vendor,
        "description": spec.description, "url": (spec.raw.get("resources") or {}).get("source_url", ""),
        "tags": ["pagerduty", "WorkflowStep", "script"], "providers": providers,
    }
    steps = {
        "command": {"property": COMMAND_PROPERTY, "default": "pagerduty-plugin"},
        "connection": {CONNECTION_PREFIX + name: env_variable(spec, name) for name in spec.connection},
        "actions": table,
    }
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "rundeck_step.py"), "rb") as fh:
        script = fh.read()
    return {
        "plugin.yaml": dump_yaml(metadata).encode("utf-8"),
        f"contents/{SCRIPT}": script,
        f"contents/{TABLE}": (json.dumps(steps, indent=1, sort_keys=True) + "\n").encode("utf-8"),
    }


def zip_bytes(files):
    """A deterministic zip: sorted entries under one top directory, fixed times and modes."""
    buffer = io.BytesIO()
    names = sorted(files)
    directories = sorted({f"{PLUGIN_NAME}/"} | {f"{PLUGIN_NAME}/{os.path.dirname(n)}/" for n in names if "/" in n})
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory in directories:
            info = zipfile.ZipInfo(directory, ZIP_TIME)
            info.create_system = 3  # unix, wherever the export runs
            info.external_attr = (0o40755 << 16) | 0x10
            archive.writestr(info, b"")
        for name in names:
            info = zipfile.ZipInfo(f"{PLUGIN_NAME}/{name}", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100755 if name.endswith(".py") else 0o100644) << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def export(spec, directory):
    """Write the plugin zip into directory; returns what was written."""
    write_file(directory, ZIP_NAME, zip_bytes(plugin_files(spec)))
    return {"files": [ZIP_NAME], "providers": len(spec.actions)}
