"""Rundeck's script-plugin loader, restated from its source (Rundeck cannot run here): the rules a plugin zip
passes before Rundeck 4 and 5 load it. Read in github:rundeck/rundeck, core/src/main/java/com/dtolabs/rundeck/:

- core/plugins/ScriptPluginProviderLoader.java: loadMeta (the zip's layout), loadMetadataYaml (plugin.yaml as a
  PluginMeta bean), validatePluginMeta (name, version, rundeckPluginVersion, the 2.0 checks), validateProviderDef
  and validateScriptProviderDef; its test core/src/test/groovy/.../ScriptPluginProviderLoaderTest.groovy has the
  2.0 plugin without targetHostCompatibility and rundeckCompatibilityVersion as INVALID;
- core/plugins/PluginMetadataValidator.java: validateTargetHostCompatibility, validateRundeckCompatibility;
- core/plugins/VersionCompare.java: forString;
- core/plugins/ScriptPluginScanner.java: an INVALID plugin is skipped ("metadata was invalid");
- core/plugins/metadata/PluginMeta.java (its bean properties) and metadata/ProviderDef.java (getString: a value
  that is not a YAML string reads as missing);
- core/plugins/AbstractDescribableScriptPlugin.java createProperties: Property.Type.valueOf(type),
  PropertyScope.valueOf(scope), `values` split on commas and trimmed, plugins/util/PropertyBuilder.java build()
  (type and name required); core/plugins/configuration/Property.java (Type) and PropertyScope.java;
- core/dispatcher/DataContextUtils.java generateEnvVarName: the variable a config property reaches a script in.

Each function returns the messages Rundeck would give (an empty list: accepted).
"""

import os
import re
import zipfile

import yaml

SUPPORTED_PLUGIN_VERSIONS = ("1.0", "1.1", "1.2", "2.0")
HOST_TYPES = ("all", "unix", "windows")
PLUGIN_META_PROPERTIES = {  # PluginMeta's bean properties: SnakeYAML refuses any other key
    "name", "author", "date", "version", "rundeckPluginVersion", "url", "resourcesList", "resourcesDir", "providers",
    "pluginDefs", "id", "description", "rundeckCompatibilityVersion", "license", "tags", "thirdPartyDependencies",
    "sourceLink", "docsLink", "targetHostCompatibility", "display",
}
LIST_PROPERTIES = {"resourcesList", "providers", "pluginDefs", "tags"}
PROPERTY_TYPES = ("String", "Boolean", "Integer", "Long", "Select", "FreeSelect", "Options", "AutogenInstanceId")
PROPERTY_SCOPES = ("Framework", "ProjectOnly", "Project", "InstanceOnly", "Instance", "Unspecified", "FeatureFlag")


def load_meta(zip_path):
    """(PluginMeta as {property: value}, messages): loadMeta's layout checks and loadMetadataYaml."""
    base = os.path.basename(zip_path)
    base = base[:base.rindex(".")] if "." in base else base
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        text = archive.read(f"{base}/plugin.yaml") if f"{base}/plugin.yaml" in names else None
    messages = []
    if text is None:
        messages.append(f"Found no {base}/plugin.yaml")
    if not any(n.startswith(base + "/contents/") or n == base + "/contents" for n in names):
        messages.append(f"Found no {base}/contents dir")
    meta = None
    if text is not None:
        meta, problem = meta_bean(text)
        if problem:
            messages.append(problem)
    return meta, messages


def meta_bean(text):
    """plugin.yaml read as SnakeYAML reads it into PluginMeta: unknown keys refused, String properties take
    the scalar's text as written (2.0 stays "2.0"), lists and maps as YAML gives them."""
    node = yaml.compose(text)
    if not isinstance(node, yaml.MappingNode):
        return None, "plugin.yaml is not a mapping"
    meta = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in PLUGIN_META_PROPERTIES:
            return None, f"Unable to find property '{key}' on class: PluginMeta"
        if key in LIST_PROPERTIES:
            meta[key] = yaml.safe_load(yaml.serialize(value_node))
        elif isinstance(value_node, yaml.ScalarNode):
            meta[key] = None if value_node.tag.endswith(":null") else value_node.value
        else:
            return None, f"property '{key}' of PluginMeta is a String"
    return meta, None


def version_parts(value):
    """VersionCompare.forString: (maj, min, patch) as text and as numbers (None where not a number)."""
    text = (value or "").split("-", 1)[0]
    parts = text.split(".", 2) if value else []
    strings = parts + [None] * (3 - len(parts))
    numbers = [int(p) if p is not None and re.fullmatch(r"[+-]?\d+", p) else None for p in strings]
    return strings, numbers


def check_version(rundeck, wanted):
    """PluginMetadataValidator.checkVer."""
    if wanted is None:
        return False
    if "x" in wanted:
        return True
    number = int(wanted.replace("+", ""))
    return ("+" in wanted and rundeck is not None and rundeck >= number) or number == rundeck


def rundeck_compatibility(rundeck_version, compatibility):
    """validateRundeckCompatibility: (state, messages)."""
    if compatibility is None:
        return "INVALID", ["rundeckCompatibilityVersion cannot be null in metadata"]
    refused = ("INCOMPATIBLE", [f"Plugin is not compatible with this version of Rundeck. (Current: "
                                f"{rundeck_version}, Plugin Compatibility: {compatibility})"])
    (_, _, _), (r_maj, r_min, r_patch) = version_parts(rundeck_version)
    (c_maj, c_min, c_patch), _ = version_parts(compatibility)
    if not check_version(r_maj, c_maj + "+"):
        return refused
    if r_maj > int(c_maj.replace("+", "")):
        return "VALID", []
    if c_min == "x":
        return "VALID", []
    if r_min > int(c_min.replace("+", "")):
        return "VALID", []
    if not check_version(r_min, c_min):
        return refused
    if c_patch is None:
        return "VALID", []
    return ("VALID", []) if check_version(r_patch, c_patch) else refused


def target_host(compatibility, os_name="linux"):
    """validateTargetHostCompatibility on a Rundeck server whose os.name is os_name."""
    if compatibility is None:
        return "INVALID", ["No targetHostCompatibility property specified in metadata"]
    if compatibility == "all":
        return "VALID", []
    if compatibility not in HOST_TYPES:
        return "INVALID", [f"Unknown target host type specified: {compatibility}"]
    windows = os_name.lower().startswith("windows")
    if (compatibility == "unix") == windows:
        return "INCOMPATIBLE", [f"Plugin target host({compatibility}) is incompatible with this Rundeck instance"]
    return "VALID", []


def validate_plugin_meta(meta, rundeck_version, os_name="linux"):
    """validatePluginMeta: (state, messages); ScriptPluginScanner skips the zip when the state is INVALID and
    an upload is refused unless VALID."""
    states, messages = [], []
    for key in ("name", "version", "rundeckPluginVersion"):
        if meta.get(key) is None:
            states.append("INVALID")
            messages.append(f"'{key}' not found in metadata")
    version = meta.get("rundeckPluginVersion")
    if version is not None and version not in SUPPORTED_PLUGIN_VERSIONS:
        states.append("INVALID")
        messages.append(f"'rundeckPluginVersion': \"{version}\" is not supported")
    if version == "2.0":
        for state, found in (target_host(meta.get("targetHostCompatibility"), os_name),
                             rundeck_compatibility(rundeck_version, meta.get("rundeckCompatibilityVersion"))):
            states.append(state)
            messages += found
    for provider in meta.get("providers") or []:
        messages += provider_problems(provider)
        states += ["INVALID"] if provider_problems(provider) else []
    order = ("INVALID", "INCOMPATIBLE")
    return next((s for s in order if s in states), "VALID"), messages


def text(provider, key):
    """ProviderDef.getString: a value that is not a string reads as null."""
    value = provider.get(key)
    return value if isinstance(value, str) else None


def provider_problems(provider):
    """validateProviderDef and validateScriptProviderDef."""
    kind = text(provider, "plugin-type")
    if not kind:
        return ["Script plugin missing plugin-type"]
    if kind != "script":
        return [] if kind == "ui" else [f"Script plugin has invalid plugin-type: {kind}"]
    for key, label in (("name", "name"), ("service", "service"), ("script-file", "script-file")):
        if not text(provider, key):
            return [f"Script plugin missing {label}"]
    return []


def property_problems(prop):
    """createProperties and PropertyBuilder.build for one config entry (a ConfigurationException each)."""
    if not isinstance(prop, dict):
        return []  # not a Map: skipped
    problems = []
    if prop.get("type") not in PROPERTY_TYPES:
        problems.append(f"Invalid property type: {prop.get('type')}")
    if not isinstance(prop.get("name"), str):
        problems.append("name is required")
    scope = prop.get("scope")
    if isinstance(scope, str) and scope.strip() not in PROPERTY_SCOPES:
        problems.append(f"Invalid property scope: {scope}")
    return problems


def property_values(prop):
    """The choices Rundeck reads: `values` as a comma-separated string, split and trimmed (or a YAML list)."""
    values = prop.get("values")
    if isinstance(values, str):
        return [v.strip() for v in values.split(",")]
    return [v.strip() for v in values] if isinstance(values, list) else None


def env_var_name(prop_name):
    """DataContextUtils.generateEnvVarName of the context key config.<name>: RD_CONFIG_<NAME>."""
    return "RD_" + re.sub(r"[^a-zA-Z0-9_]", "_", f"config.{prop_name}".upper())
