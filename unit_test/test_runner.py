"""The runner's own contract, with stand-in actions: output checks, streamed item checks."""

import pytest
import yaml

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.errors import PluginError

FIELD = {"title": "T", "description": "D"}
ITEM = {"id": {**FIELD, "type": "string", "required": True}}
SPEC = {
    "name": "t", "title": "T", "description": "d", "version": "1.0.0", "vendor": "v",
    "python": {"actions": "stand_in_actions", "connection": "stand_in_actions.doubles:Connection",
               "implementations": {"actions": {"bad_output": "doubles:BadOutput", "streamed": "doubles:Streamed"}}},
    "connection": {}, "types": {"item": ITEM},
    "actions": {
        name: {"title": name.title(), "description": "D",
               "input": {"last": {**FIELD, "type": "integer", "required": False}},
               "output": {"items": {**FIELD, "type": "[]item", "required": True}}}
        for name in ("bad_output", "streamed")},
}


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGERDUTY_PLUGIN_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "plugin.spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return speclib.load(str(path))


def test_output_that_breaks_the_spec_says_the_step_ran(spec):
    with pytest.raises(PluginError) as caught:
        runner.run_action(spec, "bad_output", {}, {}, None)
    assert caught.value.cause.startswith("The action bad_output ran, but its output does not match its spec")
    assert "Any change the step asked for was made" in caught.value.assistance


def test_items_checked_while_streaming_are_not_checked_twice_but_still_checked(spec):
    assert runner.run_action(spec, "streamed", {}, {}, None) == {"items": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    with pytest.raises(PluginError) as caught:
        runner.run_action(spec, "streamed", {"last": 7}, {}, None)  # a page with a bad item
    assert "does not match its spec" in caught.value.cause and caught.value.data == {"field": "items"}


def test_the_action_gets_an_explicit_step_context_and_its_connection_is_closed_after(spec):
    from stand_in_actions.doubles import Connection

    for name, values in (("streamed", {}), ("streamed", {"last": 7}), ("bad_output", {})):
        try:
            runner.run_action(spec, name, values, {}, None)
        except PluginError:
            pass  # a failed step closes its connection too
        assert Connection.opened[-1].closed, name
    step = runner.StepContext(Connection({}, None), None, lambda field: None)
    action = runner.load_object(spec.implementation("bad_output"))(step)
    assert action.step is step and not hasattr(action, "output_items")  # nothing set on it from outside
