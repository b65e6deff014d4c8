"""The spec: lint, the JSON cache, schemas built from it, and every action's implementation."""

import os

import pytest
import yaml
from conftest import ROOT, run_command

from pagerduty_plugin import spec as speclib
from pagerduty_plugin.runner import load_object

GOOD_FIELD = {"title": "T", "description": "D", "type": "string", "required": True}


def minimal(**actions):
    return {"name": "x", "title": "X", "description": "d", "version": "1.0.0", "vendor": "v",
            "connection": {}, "actions": actions}


def action(**fields):
    return {"title": "A", "description": "D", "implementation": "m:C", "input": fields, "output": {}}


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
    ({**GOOD_FIELD, "type": "integer", "minimum": 1, "example": 0}, "example 0 does not validate"),
    ({**GOOD_FIELD, "type": "date", "example": "tomorrow"}, "example 'tomorrow' does not validate"),
])
def test_lint_refuses(field, problem):
    problems = speclib.lint(minimal(a=action(f=field)))
    assert any(problem in p for p in problems), problems


def test_lint_checks_actions_and_top_level():
    assert "missing top-level 'actions'" in speclib.lint({"name": "x"})
    problems = speclib.lint(minimal(bad_action={"title": "A", "implementation": "no colon"}))
    assert any("missing description" in p for p in problems)
    assert any("module:Class" in p for p in problems)


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


def test_every_action_has_an_implementation_with_run():
    spec = speclib.load()
    for name, entry in spec.actions.items():
        implementation = load_object(f"{spec.python['actions']}.{entry['implementation']}")
        assert callable(getattr(implementation, "run", None)), name


def test_no_hand_kept_schema_copies():
    """The spec is the only place a field is declared: no JSON Schema files in the package."""
    package = os.path.join(ROOT, "pagerduty_plugin")
    generated = os.path.join(package, "prebuilt")  # made from the spec at build time, never in git
    for folder, _, files in os.walk(package):
        if folder != generated:
            assert not [f for f in files if f.endswith((".json", ".schema"))], folder
    with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as fh:
        assert "pagerduty_plugin/prebuilt/" in fh.read().split()
