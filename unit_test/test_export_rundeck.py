"""`export rundeck DIR`: the script-plugin zip, checked against the rules of Rundeck's loader (restated
from its source in rundeck_loader), walked against the spec, and its step script run with the
environment Rundeck gives it (RD_CONFIG_* variables) against the sandbox."""

import json
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

import rundeck_loader
from export_support import connection_of, export
from test_events import incidents_with_key
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.exports import env_variable, json_type
from pagerduty_plugin.exports.rundeck import (
    COMMAND_PROPERTY, CONNECTION_PREFIX, EXTRA_PROPERTIES, PLUGIN_NAME, STORAGE, provider_name, rundeck_text,
)
from pagerduty_plugin.spec import SECRET_TYPES

CANARY = "canary-secret-77b2e0"
COMMAND = f"{sys.executable} -m pagerduty_plugin"  # the installed command, as the step property names it


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    directory = tmp_path_factory.mktemp("rundeck")
    summary = export("rundeck", directory)
    archive = directory / summary["files"][0]
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(directory / "unpacked")
    root = directory / "unpacked" / PLUGIN_NAME
    with open(root / "plugin.yaml", encoding="utf-8") as fh:
        metadata = yaml.safe_load(fh)
    return archive, root, metadata


def test_the_zip_is_complete_deterministic_and_laid_out_as_rundeck_loads_it(plugin, tmp_path):
    archive, root, metadata = plugin
    spec = speclib.load()
    text = (root / "plugin.yaml").read_text()
    assert "&id0" not in text and "*id0" not in text, "each provider spells out its properties"
    assert archive.name.endswith("-plugin.zip") and archive.name[:-4] == PLUGIN_NAME
    assert [p["name"] for p in metadata["providers"]] == [provider_name(a) for a in spec.actions]
    assert len(metadata["providers"]) >= 65
    export("rundeck", tmp_path)
    assert (tmp_path / archive.name).read_bytes() == archive.read_bytes()
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert names == sorted(names) and all(n.startswith(PLUGIN_NAME + "/") for n in names)
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


RUNDECK_VERSIONS = ("4.0.0", "4.17.6", "5.0.0", "5.11.1")  # the majors the plugin claims


def test_rundeck_4_and_5_load_the_zip_as_their_loader_reads_it(plugin):
    """Every rule of Rundeck's loader (restated in rundeck_loader from its source) accepts the zip."""
    archive, root, _ = plugin
    meta, problems = rundeck_loader.load_meta(str(archive))
    assert problems == [] and meta["rundeckPluginVersion"] == "2.0"
    for version in RUNDECK_VERSIONS:
        assert rundeck_loader.validate_plugin_meta(meta, version) == ("VALID", []), version
    for provider in meta["providers"]:
        assert (provider["service"], provider["plugin-type"]) == ("WorkflowStep", "script")
        assert (root / "contents" / provider["script-file"]).is_file()
        for prop in provider["config"]:
            assert rundeck_loader.property_problems(prop) == [], (provider["name"], prop)


BROKEN_METADATA = [  # (what changes in plugin.yaml, the state Rundeck gives it)
    ({"targetHostCompatibility": None}, "INVALID"),       # the finding: both fields were missing
    ({"rundeckCompatibilityVersion": None}, "INVALID"),
    ({"targetHostCompatibility": "linux"}, "INVALID"),
    ({"rundeckCompatibilityVersion": "6.x"}, "INCOMPATIBLE"),
    ({"rundeckPluginVersion": "3.0"}, "INVALID"),
    ({"version": None}, "INVALID"),
]


@pytest.mark.parametrize("change, state", BROKEN_METADATA)
def test_each_loader_rule_refuses_its_broken_control(plugin, change, state):
    _, root, _ = plugin
    meta, _ = rundeck_loader.meta_bean((root / "plugin.yaml").read_text())
    broken = {k: v for k, v in {**meta, **change}.items() if v is not None}
    assert rundeck_loader.validate_plugin_meta(broken, "5.0.0")[0] == state, change


def test_the_loader_rules_are_not_vacuous(plugin):
    """Controls for the rules every generated plugin passes: layout, unknown keys, providers, properties."""
    archive, root, metadata = plugin
    text = (root / "plugin.yaml").read_text()
    assert rundeck_loader.meta_bean(text + "homepage: x\n")[0] is None  # not a PluginMeta property
    assert rundeck_loader.validate_plugin_meta(rundeck_loader.meta_bean(text)[0], "3.4.10")[0] == "INCOMPATIBLE"
    assert rundeck_loader.target_host("unix", "Windows Server 2019")[0] == "INCOMPATIBLE"
    assert rundeck_loader.rundeck_compatibility("4.0.0-SNAPSHOT", "3.0.14+")[0] == "VALID"  # Rundeck's own case
    provider = metadata["providers"][0]
    for key in ("plugin-type", "name", "service", "script-file"):
        assert rundeck_loader.provider_problems({**provider, key: None}), key
    assert rundeck_loader.provider_problems({**provider, "name": 7})  # not a string: read as missing
    prop = provider["config"][0]
    assert rundeck_loader.property_problems({**prop, "type": "Text"})
    assert rundeck_loader.property_problems({**prop, "scope": "Step"})
    renamed = zipfile.ZipFile(archive).namelist()
    assert all(n.startswith(archive.stem + "/") for n in renamed)  # basename of the zip = its top directory
    moved = archive.parent / "other-plugin.zip"
    moved.write_bytes(archive.read_bytes())
    assert rundeck_loader.load_meta(str(moved))[1], "a zip whose top directory is not its basename is skipped"


def test_choices_and_variables_are_read_as_rundeck_reads_them(plugin):
    """A Select's values are split on commas (an enum value holding one would break it), and each property
    reaches the step script as DataContextUtils names it."""
    _, root, metadata = plugin
    spec = speclib.load()
    step_source = (root / "contents" / "pagerduty_step.py").read_text()
    assert '"RD_CONFIG_" + name.upper()' in step_source
    for provider, (name, action) in zip(metadata["providers"], spec.actions.items()):
        for prop in provider["config"]:
            assert rundeck_loader.env_var_name(prop["name"]) == "RD_CONFIG_" + prop["name"].upper(), prop["name"]
            field = (action.get("input") or {}).get(prop["name"])
            if field and field.get("enum"):
                assert rundeck_loader.property_values(prop) == [rundeck_text(v) for v in field["enum"]]
    assert rundeck_loader.env_var_name("connection-api.key") == "RD_CONFIG_CONNECTION_API_KEY"  # control
    assert rundeck_loader.property_values({"values": "a, b,c"}) == ["a", "b", "c"]


def property_matches(field, prop, property_schema, connection=False):
    assert prop["title"].startswith(field["title"]) and prop["description"].startswith(field["description"])
    assert prop["required"] is bool(field.get("required"))
    kind = json_type(property_schema)
    if connection:  # no Rundeck default, so a blank step field falls back to the project's setting
        assert "default" not in prop
        if "default" in field:
            assert prop["description"].endswith(f"Default: {rundeck_text(field['default'])}")
    else:
        assert prop.get("default") == (rundeck_text(field["default"]) if "default" in field else None)
    choices = "Options" if kind == "array" else "Select"  # Options: several values of a list
    if field.get("enum"):
        assert prop["type"] == choices and prop["values"].split(",") == [rundeck_text(v) for v in field["enum"]]
    elif connection and kind == "boolean":  # an unticked checkbox would read as false
        assert prop["type"] == "Select" and prop["values"] == "true,false"
    else:
        assert prop["type"] == {"integer": "Integer", "boolean": "Boolean"}.get(kind, "String")
    if field["type"] in SECRET_TYPES:
        assert prop["renderingOptions"] == STORAGE  # a Key Storage path, read by Rundeck
    elif kind in ("object", "array") and prop["type"] != "Options":
        assert prop["renderingOptions"] == {"displayType": "MULTI_LINE"}
    else:
        assert "renderingOptions" not in prop


def expected_kind(property_schema):
    kind = json_type(property_schema)
    if kind == "array":
        return "list" if json_type(property_schema["items"]) == "string" else "json"
    return {"object": "json", "string": "text"}.get(kind, kind)


def test_every_property_matches_its_spec_field(plugin):
    _, root, metadata = plugin
    spec = speclib.load()
    steps = json.loads((root / "contents" / "steps.json").read_text())
    connection_schema = spec.connection_schema()["properties"]
    for provider, (name, action) in zip(metadata["providers"], spec.actions.items()):
        assert provider["script-args"] == name and provider["description"] == action["description"]
        fields = action.get("input") or {}
        props = {p["name"]: p for p in provider["config"]}
        assert list(props) == [*fields, *(CONNECTION_PREFIX + c for c in spec.connection), *EXTRA_PROPERTIES]
        schema = spec.input_schema(name)["properties"]
        for field_name, field in fields.items():
            property_matches(field, props[field_name], schema[field_name])
        for field_name, field in spec.connection.items():
            property_matches(field, props[CONNECTION_PREFIX + field_name], connection_schema[field_name], True)
        kinds = steps["actions"][name]["inputs"]
        assert sorted(kinds) == sorted(fields)
        for field_name, kind in kinds.items():  # how the script converts the text Rundeck gives it
            assert kind == expected_kind(schema[field_name]), (name, field_name)
    assert steps["connection"] == {CONNECTION_PREFIX + n: env_variable(spec, n) for n in spec.connection}


# --- the step script, run as Rundeck runs it --------------------------------------------------------


def rd_environment(sandbox, **config):
    """The environment Rundeck gives a step: RD_CONFIG_<PROPERTY> per configured property, Key
    Storage secrets already read into theirs."""
    connection = {CONNECTION_PREFIX + k: v for k, v in connection_of(sandbox).items()}
    values = {**connection, COMMAND_PROPERTY: COMMAND, **config}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "RD_"))}
    env.update({f"RD_CONFIG_{k.upper()}": str(v) for k, v in values.items() if v is not None})
    return env


def run_step(root, action, env):
    done = subprocess.run(["python3", str(root / "contents" / "pagerduty_step.py"), action],
                          capture_output=True, env=env, timeout=60)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def test_a_step_reaches_the_sandbox_and_prints_what_run_prints(plugin, sandbox, act, journal):
    _, root, _ = plugin
    email = sandbox.info["from_email"]
    code, out, err = run_step(root, "get_user_by_email", rd_environment(sandbox, email=email))
    assert code == 0, err
    assert journal(), "the step made no request"
    lines = out.splitlines()
    plain = act.plain("get_user_by_email", {"email": email}, connection_of(sandbox))
    assert json.loads(lines[0]) == plain.doc
    assert lines[1:] == ["RUNDECK:DATA:found=true"]  # the top-level scalars; the user object is not one


def test_two_steps_chain_through_rundeck_data(plugin, sandbox):
    _, root, _ = plugin
    code, out, err = run_step(root, "send_trigger_event", rd_environment(
        sandbox, description="disk full on db-01", severity="critical", details='{"free": "1%"}'))
    assert code == 0, err
    data = dict(line[len("RUNDECK:DATA:"):].split("=", 1) for line in out.splitlines()[1:])
    assert data["dedup_key"] == json.loads(out.splitlines()[0])["dedup_key"]
    # the next step's form says ${data.dedup_key}; Rundeck puts the value into its RD_CONFIG_ variable
    code, out, err = run_step(root, "send_resolve_event", rd_environment(sandbox, incident_key=data["dedup_key"]))
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["dedup_key"] == data["dedup_key"]
    assert incidents_with_key(sandbox, data["dedup_key"])[0]["status"] == "resolved"


def test_a_failed_step_exits_non_zero_with_the_cause_and_sends_nothing(plugin, sandbox, journal):
    _, root, _ = plugin
    code, out, err = run_step(root, "create_incident", rd_environment(sandbox, title="x"))
    assert code == 1
    assert "PagerDuty step failed:" in err and json.loads(out.splitlines()[0])["error"]["cause"] in err
    code, out, err = run_step(root, "send_trigger_event", rd_environment(sandbox, description="d", details="{not json"))
    assert code == 1 and "details" in json.loads(out)["error"]["cause"]
    assert journal() == []


def test_secrets_travel_in_the_environment_never_on_a_command_line(plugin, sandbox, tmp_path):
    """A wrapper in place of the command records its argv, then runs the real command."""
    _, root, _ = plugin
    record = tmp_path / "argv.json"
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text("import json, os, sys\n"
                       f"json.dump(sys.argv, open({str(record)!r}, 'w'))\n"
                       "os.execv(sys.executable, [sys.executable, '-m', 'pagerduty_plugin', *sys.argv[1:]])\n")
    env = rd_environment(sandbox, **{COMMAND_PROPERTY: f"{sys.executable} {wrapper}", "connection_api_key": CANARY,
                                     "service_key": CANARY})
    env["PAGERDUTY_API_KEY"] = sandbox.info["api_key"]  # a server-wide variable never overrides the step's
    code, out, err = run_step(root, "list_teams", env)
    assert code == 1, out  # the canary key is refused
    assert json.loads(record.read_text())[1:] == ["run", "list_teams"]
    assert CANARY not in out + err


def test_the_step_script_needs_only_the_standard_library():
    """Rundeck's python3 need not have this package: the script imports nothing from it."""
    from test_layering import imports_of
    from pagerduty_plugin.exports import rundeck_step

    imported = imports_of(rundeck_step.__file__)
    assert not [name for name in imported if name.startswith("pagerduty_plugin")]
