"""The invocation contract of DESIGN §4: modes, envelopes, exit codes, one JSON document."""

import json

import pytest
from conftest import invoke, run_command, start_message


def test_message_mode_in_a_real_process(sandbox, connection):
    message = start_message("send_trigger_event", {"description": "disk full"}, connection, meta={"step": 3})
    result = run_command(["run"], json.dumps(message))
    assert result.code == 0, result.stderr
    assert result.doc["version"] == "v1" and result.doc["type"] == "action_event"
    body = result.body
    assert body["status"] == "ok" and body["meta"] == {"step": 3}
    assert len(body["output"]["dedup_key"]) == 32 and isinstance(body["log"], str)


def test_message_mode_bad_input_in_a_real_process(sandbox, connection):
    message = start_message("send_trigger_event", {"description": 42}, connection)
    result = run_command(["run"], json.dumps(message))
    assert result.code == 1
    body = result.body
    assert body["status"] == "error" and "must be a string" in body["error"]
    assert body["exception"]["cause"] and body["exception"]["assistance"]
    assert "Traceback" not in result.stdout + result.stderr
    cause, assistance = body["exception"]["cause"], body["exception"]["assistance"]
    assert not cause.endswith(".")  # the text ends the cause as a sentence before the advice
    assert body["error"] == f"An error occurred during plugin execution! {cause}. {assistance}"


def test_plain_mode_with_environment(sandbox):
    env = {"PAGERDUTY_ROUTING_KEY": sandbox.info["routing_key"], "PAGERDUTY_EVENTS_URL": sandbox.info["events_url"]}
    result = run_command(["run", "send_trigger_event"], '{"description":"disk full"}', env=env)
    assert result.code == 0, result.stdout + result.stderr
    assert result.doc["status"] == "success" and result.doc["dedup_key"]


def test_plain_mode_empty_stdin_means_empty_input(sandbox):
    env = {"PAGERDUTY_ROUTING_KEY": sandbox.info["routing_key"], "PAGERDUTY_EVENTS_URL": sandbox.info["events_url"]}
    result = run_command(["run", "send_trigger_event"], "", env=env)
    assert result.code == 1 and "'description' is missing" in result.doc["error"]["cause"]


def test_bad_environment_value_is_explained(sandbox):
    result = run_command(["run", "send_trigger_event"], '{"description":"x"}', env={"PAGERDUTY_TIMEOUT": "soon"})
    assert result.code == 1 and "PAGERDUTY_TIMEOUT" in result.doc["error"]["cause"]


@pytest.mark.parametrize("argv", [["bogus"], ["run", "--bogus-flag"], ["spec", "--nope"], []])
def test_a_wrong_command_line_exits_2_with_one_json_document(argv):
    result = invoke(argv)
    assert result.code == 2
    assert result.doc["error"]["cause"] and result.doc["error"]["assistance"]


def test_unknown_action_exits_1_in_both_modes(connection, journal):
    plain = invoke(["run", "send_trigger_evnt"], {"description": "x"})
    assert plain.code == 1 and "Did you mean send_trigger_event" in plain.error["assistance"]
    message = invoke(["run"], start_message("nope", {"description": "x"}, connection))
    assert message.code == 1 and message.error["cause"] == "Unknown action 'nope'"
    assert message.error["assistance"] and message.body["status"] == "error"
    assert journal() == []


@pytest.mark.parametrize("stdin, words", [
    (b"", "No message"),
    (b"not json", "not valid JSON"),
    (b'["a list"]', "not a platform message"),
    (b'{"version":"v1","type":"task_start","body":{}}', "Unexpected message type"),
    (b'{"version":"v1","type":"action_start","body":{"input":{}}}', "names no action"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_broken_messages(stdin, words):
    result = invoke(["run"], stdin)
    assert result.code == 1 and words in result.body["error"]
    assert result.body["status"] == "error" and result.doc["type"] == "action_event"


def test_info_sample_and_spec():
    info = invoke(["info"]).doc
    assert info["name"] == "pagerduty" and "send_trigger_event" in info["actions"]
    assert info["connection"]["api_key"]["env"] == "PAGERDUTY_API_KEY"
    sample = invoke(["sample", "send_trigger_event"]).doc
    assert sample["type"] == "action_start" and sample["body"]["input"]["description"]
    one = invoke(["spec", "send_trigger_event"]).doc
    assert one["input"]["required"] == ["description"] and one["input"]["additionalProperties"] is False
    everything = invoke(["spec"]).doc
    assert set(everything) == {"connection", "actions"} and "send_change_event" in everything["actions"]
    assert invoke(["spec", "nope"]).code == 1
    assert invoke(["sample", "nope"]).code == 1


def test_every_sample_message_passes_input_validation():
    from pagerduty_plugin import spec as speclib
    from pagerduty_plugin import validate
    from pagerduty_plugin.runner import prepare

    spec = speclib.load()
    for name, action in spec.actions.items():
        body = invoke(["sample", name]).body
        values = prepare(spec, action.get("input") or {}, body["input"], "input")
        missing = [f for f, d in (action.get("input") or {}).items() if d.get("required") and f not in values]
        if not missing:  # required ids without an example are left for the user to fill in
            validate.check_against_schema(spec.input_schema(name), values, "input", name)


def test_connection_test(sandbox, connection):
    ok = invoke(["test"], {"version": "v1", "type": "connection_test", "body": {"connection": connection}})
    assert ok.code == 0 and ok.doc["type"] == "connection_test"
    assert ok.body["status"] == "ok" and ok.body["output"]["success"] is True
    bad = {**connection, "api_key": "wrong-key-wrong-key-"}
    failed = invoke(["test"], {"version": "v1", "type": "connection_test", "body": {"connection": bad}})
    assert failed.code == 1 and "output" not in failed.body
    assert "did not accept the API key" in failed.body["error"]
    events_only = {"routing_key": connection["routing_key"]}
    as_action = invoke(["test"], start_message("send_trigger_event", {}, events_only))
    assert as_action.code == 0 and as_action.doc["type"] == "action_event"  # the runtime's answer type


def test_blank_optional_values_are_absent(act, sandbox):
    result = act("send_trigger_event", description="x", incident_key="", details={}, links=[], source=None,
                 images=None, client="   ")
    assert result.code == 0
    event = [e for e in sandbox.exchanges if e["path"] == "/v2/enqueue"][0]["request_json"]
    assert "links" not in event and "client" not in event and "custom_details" not in event["payload"]


def test_secrets_accepted_as_string_or_secret_key(act, connection, sandbox):
    plain = {**connection, "routing_key": sandbox.info["routing_key"], "api_key": sandbox.info["api_key"]}
    assert act("send_trigger_event", _connection=plain, description="x").code == 0
    assert act("send_trigger_event", description="x").code == 0


def test_help_exits_0():
    assert invoke(["--version"]).code == 0


def test_a_list_of_strings_may_come_as_comma_separated_text(act, journal):
    result = act("list_incidents", statuses="triggered, acknowledged", max_results=5)
    assert result.code == 0, result.stdout
    assert journal()[0]["query"]["statuses[]"] == ["triggered", "acknowledged"]


def test_missing_required_field_quotes_its_description(act, journal):
    error = act("add_note", note="x").error
    assert error["cause"] == "Required input field 'incident_id' is missing"
    assert error["assistance"].startswith("Give 'incident_id': ") and journal() == []


def test_sandbox_subcommand_through_the_plugin_command():
    import signal
    import subprocess
    import sys

    import requests
    from conftest import ROOT

    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "sandbox", "--port", "0", "--seed", "empty"],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        info = json.loads(process.stdout.readline())
        assert set(info) >= {"api_url", "events_url", "api_key", "routing_key", "from_email"}
        answer = requests.get(f"{info['api_url']}/users", timeout=5,
                              headers={"Authorization": f"Token token={info['api_key']}"})
        assert answer.status_code == 200 and len(answer.json()["users"]) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_debug_works_before_the_subcommand_as_the_runtime_takes_it(sandbox, connection):
    message = start_message("send_trigger_event", {"description": "disk full"}, connection)
    for argv in (["--debug", "run"], ["run", "--debug"]):
        result = invoke(argv, message)
        assert result.code == 0 and result.body["status"] == "ok"
        assert "DEBUG" in result.stderr  # urllib3's connection lines, at debug level only
    assert "DEBUG" not in invoke(["run"], message).stderr


def test_run_takes_a_connection_test_message_as_the_runtime_does(sandbox, connection):
    result = invoke(["run"], {"version": "v1", "type": "connection_test", "body": {"meta": {"m": 1},
                                                                                  "connection": connection}})
    assert result.code == 0 and result.doc["type"] == "connection_test"
    assert result.body["output"]["success"] is True and result.body["meta"] == {"m": 1}
