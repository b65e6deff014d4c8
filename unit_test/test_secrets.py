"""Canary secrets never appear on stdout, stderr or in the envelope's log, on any path."""

import pytest
from conftest import invoke, run_command, start_message


def canaries(sandbox):
    return [sandbox.info["api_key"], sandbox.info["routing_key"]]


def assert_clean(result, secrets):
    text = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in text, "a secret leaked"


def debug_run(message):
    return invoke(["run", "--debug"], message)


PATHS = {
    "success": lambda s, c: ("send_trigger_event", {"description": "x"}, c),
    "bad input": lambda s, c: ("send_trigger_event", {"description": 5}, c),
    "unknown field": lambda s, c: ("send_trigger_event", {"description": "x", "bogus": c["api_key"]}, c),
    "PagerDuty 400": lambda s, c: ("send_trigger_event", {"description": "x"},
                                   {**c, "routing_key": "0123456789abcdef0123456789abcdef"}),
    "network failure": lambda s, c: ("send_trigger_event", {"description": "x"},
                                     {**c, "events_url": "http://127.0.0.1:9/v2", "max_retries": 0}),
    "bad connection": lambda s, c: ("send_trigger_event", {"description": "x"}, {**c, "timeout": "x"}),
    "secret as service_key": lambda s, c: ("send_trigger_event",
                                           {"description": "x", "service_key": s.info["routing_key"]}, c),
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("debug", [False, True])
def test_canaries_never_printed(path, debug, sandbox, connection):
    action, values, conn = PATHS[path](sandbox, connection)
    message = start_message(action, values, conn)
    result = debug_run(message) if debug else invoke(["run"], message)
    assert_clean(result, canaries(sandbox))


@pytest.mark.no_conformance
def test_canaries_on_retry_and_malformed_paths(sandbox, connection):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=1, status=503)
    sandbox.add_fault(method="POST", path="/v2/*", count=1, malformed=True)
    for _ in range(2):
        result = debug_run(start_message("send_trigger_event", {"description": "x"}, connection))
        assert_clean(result, canaries(sandbox))


def test_canaries_in_plain_mode_and_connection_test(sandbox, connection):
    env = {"PAGERDUTY_ROUTING_KEY": sandbox.info["routing_key"], "PAGERDUTY_API_KEY": sandbox.info["api_key"],
           "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:9/v2", "PAGERDUTY_MAX_RETRIES": "0"}
    assert_clean(run_command(["run", "send_trigger_event", "--debug"], '{"description":"x"}', env=env),
                 canaries(sandbox))
    bad = {**connection, "api_url": "http://127.0.0.1:9", "max_retries": 0}
    result = invoke(["test", "--debug"], {"version": "v1", "type": "connection_test", "body": {"connection": bad}})
    assert result.code == 1
    assert_clean(result, canaries(sandbox))


def test_a_secret_echoed_back_by_pagerduty_is_masked(sandbox, connection):
    # whatever the source of the text, the configured secrets are masked on the way out
    values = {"description": f"key is {sandbox.info['api_key']}"}
    result = invoke(["run"], start_message("send_trigger_event", values, connection))
    assert_clean(result, canaries(sandbox))
    assert result.code == 0


FAULTS = {
    "429 until retries run out": ({"method": "POST", "path": "/v2/enqueue", "count": 10, "status": 429,
                                   "headers": False}, "send_trigger_event", {"description": "x"}),
    "timeout": ({"method": "POST", "path": "/v2/enqueue", "count": 10, "delay": 1.2}, "send_trigger_event",
                {"description": "x"}),
    "REST 5xx": ({"method": "GET", "path": "/priorities", "count": 10, "status": 503}, "list_priorities", {}),
    "REST dropped connection": ({"method": "GET", "path": "/priorities", "count": 10, "drop": True},
                                "list_priorities", {}),
}


@pytest.mark.no_conformance
@pytest.mark.parametrize("case", sorted(FAULTS))
def test_canaries_on_fault_paths(case, sandbox, connection):
    fault, action, values = FAULTS[case]
    sandbox.add_fault(**fault)
    settings = {**connection, "max_retries": 1, "timeout": 1}
    result = debug_run(start_message(action, values, settings))
    assert result.code == 1
    assert_clean(result, canaries(sandbox))


@pytest.mark.parametrize("stdin", [b"not json at all", b'{"version": "v1", "type": "action_start", "body": '
                                   b'{"action": "nope", "input": {}, "connection": {"api_key": "CANARY-KEY-123"}}}'])
def test_canaries_on_unreadable_or_unknown_steps(stdin):
    result = invoke(["run", "--debug"], stdin)
    assert result.code == 1 and "CANARY-KEY-123" not in result.stdout + result.stderr
