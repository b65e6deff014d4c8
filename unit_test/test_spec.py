"""The spec: lint, the JSON cache, schemas built from it, and every action's implementation."""

import os

import pytest
import yaml
from conftest import ROOT, run_command

from pagerduty_plugin import spec as speclib
from pagerduty_plugin.runner import load_object

GOOD_FIELD = {"title": "T", "description": "D", "type": "string", "required": True}


def minimal(limits=None, **actions):
    python = {"actions": "m", "implementations": {"actions": {n: "m:C" for n in actions}}}
    if limits:
        python["limits"] = limits
    return {"name": "x", "title": "X", "description": "d", "version": "1.0.0", "vendor": "v",
            "connection": {}, "actions": actions, "python": python}


def action(**fields):
    return {"title": "A", "description": "D", "input": fields, "output": {}}


def test_the_real_spec_is_clean():
    with open(os.path.join(ROOT, "plugin.spec.yaml"), "rb") as fh:
        assert speclib.lint(speclib.parse_yaml(fh.read())) == []


@pytest.mark.parametrize("field, problem", [
    ({**GOOD_FIELD, "type": "strnig"}, "unknown type 'strnig'"),
    ({k: v for k, v in GOOD_FIELD.items() if k != "title"}, "missing title"),
    ({**GOOD_FIELD, "example": 5}, "example 5 does not validate"),
    ({**GOOD_FIELD, "enum": ["a"], "default": "b"}, "default 'b' does not validate"),
    ({**GOOD_FIELD, "type": "[]nothing"}, "unknown type '[]nothing'"),
    ({**GOOD_FIELD, "maxLenght": 3}, "unknown key 'maxLenght'"),
    ({**GOOD_FIELD, "maxLength": 3}, "unknown key 'maxLength' (it belongs in python.limits)"),
    ({**GOOD_FIELD, "env": "X"}, "unknown key 'env' (it belongs in python.env)"),
    ({**GOOD_FIELD, "type": "date", "example": "tomorrow"}, "example 'tomorrow' does not validate"),
])
def test_lint_refuses(field, problem):
    problems = speclib.lint(minimal(a=action(f=field)))
    assert any(problem in p for p in problems), problems


def test_lint_checks_actions_and_top_level():
    assert "missing top-level 'actions'" in speclib.lint({"name": "x"})
    problems = speclib.lint(minimal(bad_action={"title": "A", "implementation": "m:C"}))
    assert any("missing description" in p for p in problems)
    assert "action bad_action: unknown key 'implementation' (it belongs in python.implementations)" in problems
    assert "action b: title 'A' is also a's" in speclib.lint(minimal(a=action(), b=action()))


def test_lint_checks_the_python_block():
    spec = minimal(a=action(), b=action())
    spec["python"]["implementations"]["actions"].pop("b")
    spec["python"]["implementations"]["actions"]["gone"] = "m:C"
    spec["python"]["implementations"]["actions"]["a"] = "no colon"
    spec["python"]["env"] = {"nothing": "X", "api_key": "lower"}
    spec["connection"] = {"api_key": GOOD_FIELD}
    spec["python"]["sample_omits"] = {"a": ["nope"]}
    problems = speclib.lint(spec)
    for problem in ("action b: missing from python.implementations.actions",
                    "python.implementations.actions.gone: names no action",
                    "python.implementations.actions.a: must read module:Class",
                    "python.env.nothing: names no connection field",
                    "python.env.api_key: must be an environment variable name (A-Z, 0-9, _)",
                    "python.sample_omits.a: names no action input 'nope'"):
        assert problem in problems, problems


@pytest.mark.parametrize("limits, problem", [
    ({"actions": {"a": {"f": {"minimum": 1}}}}, "a input.f: example 0 does not validate"),
    ({"actions": {"a": {"f": {"maxLenght": 1}}}}, "python.limits.actions.a.f: must map minimum"),
    ({"actions": {"a": {"nope": {"minimum": 1}}}}, "python.limits.actions.a.nope: names no input field"),
    ({"actions": {"zz": {"f": {"minimum": 1}}}}, "python.limits.actions.zz: names no action"),
    ({"connection": {"nope": {"minimum": 1}}}, "python.limits.connection.nope: names no input field"),
    ({"outputs": {}}, "python.limits.outputs: expected connection, types, actions or triggers"),
])
def test_lint_checks_limits(limits, problem):
    field = {**GOOD_FIELD, "type": "integer", "example": 0}
    problems = speclib.lint(minimal(limits, a=action(f=field)))
    assert any(problem in p for p in problems), problems


def test_limits_reach_the_input_schemas_of_fields_and_types(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGERDUTY_PLUGIN_CACHE", str(tmp_path / "cache"))
    raw = minimal({"actions": {"a": {"f": {"maxItems": 2}}}, "types": {"t": {"n": {"minimum": 1}}}},
                  a=action(f={**GOOD_FIELD, "type": "[]t"}))
    raw["types"] = {"t": {"n": {**GOOD_FIELD, "type": "integer"}}}
    path = tmp_path / "plugin.spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    spec = speclib.load(str(path))
    schema = spec.input_schema("a")
    assert schema["properties"]["f"]["maxItems"] == 2
    assert schema["definitions"]["t"]["properties"]["n"]["minimum"] == 1
    assert "minimum" not in str(spec.output_schema("a"))


def test_spec_check_exits_non_zero_on_a_bad_spec(tmp_path):
    bad = minimal(a=action(f={**GOOD_FIELD, "type": "strnig"}))
    path = tmp_path / "plugin.spec.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = run_command(["spec", "--check"], env={"PAGERDUTY_PLUGIN_SPEC": str(path),
                                                   "PAGERDUTY_PLUGIN_CACHE": str(tmp_path)})
    assert result.code == 1 and not result.doc["ok"]
    assert any("strnig" in p for p in result.doc["problems"])
    # and a step refuses to run on it rather than dropping the field silently
    run = run_command(["run", "a"], "{}", env={"PAGERDUTY_PLUGIN_SPEC": str(path),
                                              "PAGERDUTY_PLUGIN_CACHE": str(tmp_path)})
    assert run.code == 1 and "plugin.spec.yaml is invalid" in run.doc["error"]["cause"]
    assert run_command(["spec", "--check"]).code == 0


def test_cache_follows_the_yaml(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGERDUTY_PLUGIN_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "plugin.spec.yaml"
    path.write_text(yaml.safe_dump(minimal(a=action(f=GOOD_FIELD))))
    assert speclib.load(str(path)).actions["a"]["title"] == "A"
    assert len(os.listdir(tmp_path / "cache")) == 1
    changed = minimal(a={**action(f=GOOD_FIELD), "title": "Changed"})
    path.write_text(yaml.safe_dump(changed))
    assert speclib.load(str(path)).actions["a"]["title"] == "Changed"


def test_cache_dir_not_writable_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PAGERDUTY_PLUGIN_CACHE", str(blocker / "sub"))
    path = tmp_path / "plugin.spec.yaml"
    path.write_text(yaml.safe_dump(minimal(a=action(f=GOOD_FIELD))))
    assert speclib.load(str(path)).actions["a"]["title"] == "A"


def test_input_schemas_are_strict_and_outputs_open():
    spec = speclib.load()
    trigger_in = spec.input_schema("send_trigger_event")
    assert trigger_in["additionalProperties"] is False
    assert trigger_in["properties"]["severity"]["enum"] == ["critical", "error", "warning", "info"]
    assert trigger_in["properties"]["source"]["maxLength"] == speclib.DEFAULT_MAX_LENGTH
    trigger_out = spec.output_schema("send_trigger_event")
    assert trigger_out["additionalProperties"] is True
    assert "enum" not in str(trigger_out)


def test_a_spec_builds_each_schema_once_and_its_validator_is_loaded_once():
    from pagerduty_plugin import validate

    spec = speclib.load()  # a long-lived process (the HTTP server) keeps one per worker
    schema = spec.output_schema("get_incident")
    assert spec.output_schema("get_incident") is schema and spec.connection_schema() is spec.connection_schema()
    assert validate.validator(schema) is validate.validator(schema)
    # an equal copy is found by its content (the prebuilt module), not by identity
    assert validate.validator(dict(schema)) is validate.validator(schema)


def test_every_action_has_an_implementation_with_run():
    spec = speclib.load()
    for name in spec.actions:
        implementation = load_object(spec.implementation(name))
        assert callable(getattr(implementation, "run", None)), name
        # factory-made classes too (GetService = getter(...)) carry their own name, not a shared one
        assert implementation.__name__ == spec.implementation(name).rpartition(":")[2], name


def test_the_spec_object_has_named_properties_not_attribute_magic():
    spec = speclib.load()
    assert "__getattr__" not in vars(speclib.Spec)
    assert (spec.name, spec.version) == (spec.raw["name"], spec.raw["version"])
    with pytest.raises(AttributeError):
        spec.key_features  # noqa: B018 - read spec.raw for keys without a property


def test_no_hand_kept_schema_copies():
    """The spec is the only place a field is declared: no JSON Schema files in the package but the runbook
    language's (runbooks/runbook.schema.json: the keys of a runbook file, which the spec does not declare)."""
    package = os.path.join(ROOT, "pagerduty_plugin")
    generated = os.path.join(package, "prebuilt")  # made from the spec at build time, never in git
    language = os.path.join(package, "runbooks", "runbook.schema.json")
    for folder, _, files in os.walk(package):
        if folder != generated:
            found = [f for f in files if f.endswith((".json", ".schema")) and os.path.join(folder, f) != language]
            assert not found, folder
    with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as fh:
        assert "pagerduty_plugin/prebuilt/" in fh.read().split()


def test_sample_leaves_out_the_alternatives_the_spec_names():
    omitted = speclib.load().python["sample_omits"]["create_incident"]
    sample = run_command(["sample", "create_incident"]).doc["body"]["input"]
    assert "assignees" in sample and omitted and not set(omitted) & set(sample)
