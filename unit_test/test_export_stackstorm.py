"""`export stackstorm DIR`: the pack, checked against StackStorm's published schemas, walked against
the spec, and its action module run the way st2's python runner runs it, against the sandbox."""

import importlib.util
import json
import os
import sys
import types

import jsonschema
import pytest
import yaml

from conftest import invoke
import st2_rules
from export_support import connection_of, data_file, export, plugin_wheel, tree_bytes
from test_triggers import SECRET, deliver, webhook_body
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.exports import json_type
from pagerduty_plugin.exports.stackstorm_action import ACTION_PARAMETER
from pagerduty_plugin.exports.stackstorm_sensor import inert_json
from pagerduty_plugin.spec import SECRET_TYPES

SCHEMAS = data_file("stackstorm_schemas.yaml")
CANARY = "canary-secret-3f9a1c"


def st2_validator(name):
    """st2's metadata validator: draft-4 keywords, draft 3's `properties` (required: true on a
    property), `$ref: parameter` naming the parameter meta-schema (see the data file's header)."""
    kind = jsonschema.validators.extend(
        jsonschema.Draft4Validator,
        {"properties": jsonschema.Draft3Validator.VALIDATORS["properties"], "required": None})
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resource("parameter", Resource(SCHEMAS["parameter"], DRAFT4))
    return kind(SCHEMAS[name], registry=registry)


def assert_valid(name, document):
    errors = sorted(st2_validator(name).iter_errors(document), key=str)
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    directory = tmp_path_factory.mktemp("st2") / "pagerduty_plugin"
    summary = export("stackstorm", directory)
    return directory, summary


def read_yaml(path):
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_every_action_is_exported_and_two_runs_give_the_same_bytes(pack, tmp_path):
    directory, summary = pack
    spec = speclib.load()
    assert summary["pack"] == "pagerduty_plugin" and summary["actions"] == len(spec.actions) >= 65
    assert {f"actions/{name}.yaml" for name in spec.actions} <= set(summary["files"])
    export("stackstorm", tmp_path / "again")
    assert tree_bytes(tmp_path / "again") == tree_bytes(directory)
    assert sorted(tree_bytes(directory)) == sorted(summary["files"])


def test_every_file_is_valid_against_the_published_schemas(pack):
    directory, summary = pack
    for path in summary["files"]:
        if path.endswith(".whl"):
            continue
        text = (directory / path).read_text()
        assert "&id0" not in text and "*id0" not in text, f"{path}: YAML aliases"
    assert_valid("pack", read_yaml(directory / "pack.yaml"))
    config = read_yaml(directory / "config.schema.yaml")
    for name, attribute in config.items():  # st2 checks each attribute with the parameter schema
        assert_valid("parameter", attribute)
    for path in summary["files"]:
        if path.startswith("actions/") and path.endswith(".yaml"):
            metadata = read_yaml(directory / path)
            assert_valid("action", metadata)
            assert metadata["runner_type"] == "python-script"
            assert (directory / "actions" / metadata["entry_point"]).is_file()
    requirements = [line for line in (directory / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#")]
    version = __import__("pagerduty_plugin").__version__
    assert requirements == ["--find-links wheels", f"pagerduty-plugin=={version}"]
    assert [p for p in summary["files"] if p.startswith("wheels/")] == \
        [f"wheels/pagerduty_plugin-{version}-py3-none-any.whl"]
    compile((directory / "actions" / "pagerduty_action.py").read_text(), "pagerduty_action.py", "exec")


def test_the_published_schemas_do_catch_mistakes():
    """The validator is not vacuous: each kind of mistake is refused."""
    base = {"name": "a", "runner_type": "python-script", "entry_point": "x.py", "parameters": {}}
    for broken in ({**base, "runner_type": None}, {k: v for k, v in base.items() if k != "name"},
                   {**base, "unknown": 1}, {**base, "parameters": {"p": {"type": "text"}}},
                   {**base, "parameters": {"p": {"type": "string", "secret": "yes"}}}):
        assert list(st2_validator("action").iter_errors(broken)), broken
    assert list(st2_validator("pack").iter_errors({"name": "x", "description": "d", "version": "1"}))


def st2_parameter_matches(field, parameter, property_schema):
    assert parameter["type"] == json_type(property_schema)
    assert parameter["title"] == field["title"] and parameter["description"] == field["description"]
    assert parameter["required"] is bool(field.get("required"))
    assert parameter.get("secret", False) is (field["type"] in SECRET_TYPES)
    assert parameter.get("default") == field.get("default")
    listed = field["type"].startswith("[]")  # an enum on []X lists the item values
    assert parameter.get("enum") == (None if listed else field.get("enum"))
    for key in speclib.INPUT_CONSTRAINTS:
        assert parameter.get(key) == property_schema.get(key)
    if listed:
        assert parameter["items"]["type"] == json_type(property_schema["items"])
        assert parameter["items"].get("enum") == field.get("enum")


def test_every_parameter_and_config_attribute_matches_its_spec_field(pack):
    directory, _ = pack
    spec = speclib.load()
    for name, action in spec.actions.items():
        metadata = read_yaml(directory / "actions" / f"{name}.yaml")
        assert (metadata["name"], metadata["pack"]) == (name, "pagerduty_plugin")  # ref pagerduty_plugin.<name>
        assert metadata["description"] == action["description"]
        parameters = metadata["parameters"]
        fields = action.get("input") or {}
        assert list(parameters) == [*fields, ACTION_PARAMETER]
        assert parameters[ACTION_PARAMETER] == {**parameters[ACTION_PARAMETER], "default": name, "immutable": True}
        schema = spec.input_schema(name)["properties"]
        for field_name, field in fields.items():
            st2_parameter_matches(field, parameters[field_name], schema[field_name])
    config = read_yaml(directory / "config.schema.yaml")
    assert list(config) == list(spec.connection)
    schema = spec.connection_schema()["properties"]
    for name, field in spec.connection.items():
        st2_parameter_matches(field, config[name], schema[name])


# --- the action module, run as st2's python runner runs it -----------------------------------


@pytest.fixture
def action_class(pack, monkeypatch):
    """The generated module's Action class. st2common is not installable here (not on the package
    index this machine uses), so a stand-in of its Action base class is registered under its real
    import path: __init__(config=None, action_service=None) keeping self.config, abstract run()."""
    directory, _ = pack
    base_action = types.ModuleType("st2common.runners.base_action")

    class Action:
        def __init__(self, config=None, action_service=None):
            self.config = config or {}
            self.action_service = action_service

        def run(self, **kwargs):
            raise NotImplementedError

    base_action.Action = Action
    for name in ("st2common", "st2common.runners"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "st2common.runners.base_action", base_action)
    location = directory / "actions" / "pagerduty_action.py"
    module_spec = importlib.util.spec_from_file_location("pagerduty_action", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    # st2's loader takes the classes defined in the module itself, each implementing run()
    classes = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]
    assert len(classes) == 1 and issubclass(classes[0], Action) and "run" in vars(classes[0])
    return classes[0]


def st2_parameters(directory, action, given):
    """What st2 passes to run(): the given values over the metadata's defaults."""
    metadata = read_yaml(directory / "actions" / f"{action}.yaml")
    defaults = {k: p["default"] for k, p in metadata["parameters"].items() if "default" in p}
    return {**defaults, **given}


def test_run_reaches_the_sandbox_and_answers_what_run_prints(pack, action_class, sandbox, act, journal):
    directory, _ = pack
    config = connection_of(sandbox)
    given = {"email": sandbox.info["from_email"]}
    status, result = action_class(config=config).run(**st2_parameters(directory, "get_user_by_email", given))
    assert status is True
    assert journal(), "the action made no request"
    plain = act.plain("get_user_by_email", given, config)
    assert plain.code == 0
    assert json.loads(json.dumps(result)) == plain.doc
    assert result["found"] is True


def test_a_failure_is_an_error_result_with_its_cause_and_no_request(pack, action_class, sandbox, journal, capsys):
    directory, _ = pack
    config = {**connection_of(sandbox), "api_key": CANARY}
    status, result = action_class(config=config).run(**st2_parameters(directory, "get_incident", {}))
    assert status is False
    assert "incident_id" in result["error"]["cause"] and set(result["error"]) == {"cause", "assistance", "data"}
    assert journal() == []
    status, result = action_class(config=config).run(**st2_parameters(directory, "list_teams", {}))
    assert status is False and result["error"]["cause"]  # the canary key is refused by the sandbox
    captured = capsys.readouterr()
    assert CANARY not in json.dumps(result) + captured.out + captured.err


def test_an_unknown_config_setting_is_refused_not_ignored(pack, action_class, sandbox):
    directory, _ = pack
    status, result = action_class(config={**connection_of(sandbox), "api_kye": "x"}).run(
        **st2_parameters(directory, "list_teams", {}))
    assert status is False and "api_kye" in json.dumps(result["error"])


# --- sensors, run as st2's sensor container runs them -------------------------------------------


def test_each_trigger_becomes_a_sensor_whose_payload_schema_st2_accepts(pack):
    directory, summary = pack
    spec = speclib.load()
    assert summary["sensors"] == len(spec.triggers) >= 3
    for name in spec.triggers:
        sensor = read_yaml(directory / "sensors" / f"{name}.yaml")
        assert_valid("sensor", sensor)
        trigger_type = sensor["trigger_types"][0]
        assert trigger_type["name"] == name
        schema = trigger_type["payload_schema"]
        st2_rules.CustomValidator.check_schema(st2_rules.allow_default_none(schema))
        assert "$ref" not in json.dumps(schema) and "definitions" not in schema
        assert schema["properties"]["event"]["required"] is True
        assert set(schema["properties"]["event"]["properties"]) == set(spec.types["webhook_event"])


def test_st2_payload_rules_refuse_their_broken_controls(pack):
    """The restated validator is st2's dialect, not plain draft 4: each control is refused."""
    directory, _ = pack
    schema = read_yaml(directory / "sensors" / "new_incident.yaml")["trigger_types"][0]["payload_schema"]
    event = {"id": "E1", "event_type": "incident.triggered", "resource_type": "incident",
             "occurred_at": "2026-11-26T07:00:00Z", "agent": None, "client": None, "data": {"id": "P1"}}
    payload = {"event": event, "event_json": inert_json(event)}
    assert st2_rules.trigger_payload_errors(payload, schema) == []
    listed = {**schema, "required": ["event"]}  # the old export: a draft-4 required list
    assert st2_rules.trigger_payload_errors(payload, listed) == ["['event'] is not of type 'boolean'"]
    untyped = {"type": "object", "properties": {"event": {"description": "no type"}}}  # made [string, null]
    assert st2_rules.trigger_payload_errors(payload, untyped)
    assert st2_rules.trigger_payload_errors({"event_json": "{}"}, schema)  # required: true on the property
    assert st2_rules.trigger_payload_errors({**payload, "event": {**event, "id": 7}}, schema)


@pytest.fixture
def sensor_classes(pack, monkeypatch):
    """The generated sensor classes, on a stand-in of st2's PollingSensor (st2reactor is not
    installable here): __init__(sensor_service, config=None, poll_interval=5) keeping both."""
    directory, _ = pack
    base = types.ModuleType("st2reactor.sensor.base")

    class PollingSensor:
        def __init__(self, sensor_service, config=None, poll_interval=5):
            self.sensor_service, self.config, self.poll_interval = sensor_service, config or {}, poll_interval

    base.PollingSensor = PollingSensor
    for name in ("st2reactor", "st2reactor.sensor"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "st2reactor.sensor.base", base)
    location = directory / "sensors" / "pagerduty_sensor.py"
    module_spec = importlib.util.spec_from_file_location("pagerduty_sensor", location)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return {name: getattr(module, read_yaml(directory / "sensors" / f"{name}.yaml")["class_name"])
            for name in speclib.load().triggers}


class SensorService:
    """st2's sensor service as far as dispatch goes: each payload is validated against its trigger type's
    payload_schema as validate_trigger_payload does, and one that fails is dropped."""

    def __init__(self, directory):
        self.schemas = {f"pagerduty_plugin.{name}": read_yaml(directory / "sensors" / f"{name}.yaml")
                        ["trigger_types"][0]["payload_schema"] for name in speclib.load().triggers}
        self.dispatched, self.dropped = [], []

    def dispatch(self, trigger, payload=None, trace_tag=None):
        errors = st2_rules.trigger_payload_errors(payload, self.schemas[trigger])
        (self.dropped if errors else self.dispatched).append((trigger, payload, errors))


def test_a_sensor_dispatches_each_new_incident_once(sensor_classes, pack, sandbox, act, tmp_path):
    service = SensorService(pack[0])
    config = {**connection_of(sandbox), "state_dir": str(tmp_path),
              "sensors": {"new_incident": {"services": [sandbox.seed_ids["services"][0]]}}}
    sensor = sensor_classes["new_incident"](service, config)
    sensor.setup()
    incident = act("create_incident", title="for st2", service="Platform Web").output["incident"]["id"]
    sensor.poll()
    sensor.poll()  # nothing new: nothing dispatched twice
    assert [(ref, payload["event"]["data"]["id"]) for ref, payload, _ in service.dispatched] == \
        [("pagerduty_plugin.new_incident", incident)]


def test_every_event_the_three_sensors_produce_passes_st2s_payload_validation(
        sensor_classes, pack, sandbox, act, plugin_server, tmp_path):
    """Each sensor driven as st2's container drives it, against the sandbox (polled) and a real webhook
    receiver (incident_event): every payload passes validate_trigger_payload; none is dropped."""
    state = str(tmp_path / "state")
    receiver = plugin_server(["--state", state], env={"PAGERDUTY_WEBHOOK_SECRETS": SECRET})
    service = SensorService(pack[0])
    config = {**connection_of(sandbox), "state_dir": state,
              "sensors": {"incident_changed": {"event_types": ["incident.acknowledged", "incident.resolved"]}}}
    sensors = {name: cls(service, config) for name, cls in sensor_classes.items()}
    for sensor in sensors.values():
        sensor.setup()
    for sensor in sensors.values():  # what happened before; a new consumer of the inbox starts at its newest
        sensor.poll()
    service.dispatched.clear()
    created = [act("create_incident", title=f"st2 {n}", service="Platform Web").output["incident"]["id"]
               for n in range(3)]
    for incident in created:
        assert act("update_status", incident_id=incident, status="acknowledged").code == 0
        assert act("update_status", incident_id=incident, status="resolved").code == 0
    for n in range(3):
        assert deliver(receiver, webhook_body(incident_id=f"PINC00{n}")).status_code == 202
    for sensor in sensors.values():
        sensor.poll()
    assert service.dropped == []
    kinds = sorted(ref.rsplit(".", 1)[1] for ref, _, _ in service.dispatched)
    assert kinds.count("incident_event") == 3 and kinds.count("incident_changed") == 6
    assert kinds.count("new_incident") >= 3


def test_a_bad_platform_is_a_usage_error_and_an_unwritable_directory_a_failure(tmp_path):
    result = invoke(["export", "jenkins", str(tmp_path)])
    assert result.code == 2 and "jenkins" in result.doc["error"]["cause"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke(["export", "stackstorm", str(blocker / "pack"), "--wheel", plugin_wheel()])
    assert result.code == 1 and "Cannot write" in result.doc["error"]["cause"]
    assert os.listdir(tmp_path) == ["file"]


def test_the_pack_needs_this_versions_wheel(tmp_path):
    for extra, cause in (([], "--wheel FILE is missing"), (["--wheel", str(tmp_path / "x.whl")], "not a wheel of"),
                         (["--wheel", str(tmp_path / "pagerduty_plugin-0.1-py3-none-any.whl")], "not a wheel of")):
        result = invoke(["export", "stackstorm", str(tmp_path / "pack"), *extra])
        assert result.code == 1 and cause in result.doc["error"]["cause"], result.stdout
        assert "pip wheel --no-deps -w dist ." in result.doc["error"]["assistance"]
    result = invoke(["export", "rundeck", str(tmp_path / "rd"), "--wheel", plugin_wheel()])
    assert result.code == 2
    assert not (tmp_path / "pack").exists() and not (tmp_path / "rd").exists()
