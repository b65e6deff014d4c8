"""Every class of bad input: exit 1, a structured error that says what to fix, no request sent."""

import json

import pytest
from conftest import invoke, start_message

BAD_INPUTS = {
    "wrong type": {"description": ["a", "list"]},
    "blank required": {"description": ""},
    "whitespace required": {"description": "   "},
    "null required": {"description": None},
    "missing required": {"severity": "critical"},
    "unknown field": {"description": "x", "descripton": "typo"},
    "bad enum": {"description": "x", "severity": "fatal"},
    "1 MB string": {"description": "x" * 1_000_000},
    "1 MB string in an open object": {"description": "x", "details": {"blob": "x" * 1_000_000}},
    "too long key": {"description": "x", "incident_key": "k" * 256},
    "bad date": {"description": "x", "timestamp": "yesterday"},
    "nested wrong type": {"description": "x", "links": [{"href": 5}]},
    "nested unknown field": {"description": "x", "links": [{"href": "https://x", "url": "y"}]},
    "context without type": {"description": "x", "contexts": [{"href": "https://x"}]},
    "number for object": {"description": "x", "details": 5},
    "input not an object": ["description"],
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_in_message_mode(case, act, connection, journal):
    result = invoke(["run"], start_message("send_trigger_event", BAD_INPUTS[case], connection))
    assert result.code == 1, result.stdout
    error = result.error
    assert error["cause"] and error["assistance"], error
    assert result.body["status"] == "error"
    assert journal() == [], "bad input must send no request"


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_in_plain_mode(case, act, journal):
    result = act.plain("send_trigger_event", BAD_INPUTS[case])
    assert result.code == 1 and set(result.doc) == {"error"}
    assert result.error["cause"] and result.error["assistance"]
    assert journal() == []


def test_error_names_the_field_and_the_fix(act):
    error = act("send_trigger_event", description="x", severity="fatal").error
    assert error["cause"] == ("The input field 'severity' must be one of critical, error, warning, info; "
                              "got 'fatal'")
    error = act("send_trigger_event", description="x", links=[{"href": 5}]).error
    assert "links[0].href" in error["cause"]
    error = act("send_trigger_event", description="x", descripton="typo").error
    assert "'descripton'" in error["cause"] and "description" in error["assistance"]


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00garbage", b"{\"description\": \"\xe9\"}", b"{", b"x" * (1024 * 1024 + 10)])
def test_unreadable_stdin_in_plain_mode(raw, act, journal):
    result = invoke(["run", "send_trigger_event"], raw)
    assert result.code == 1 and result.error["cause"] and journal() == []


def test_bad_connection_settings(act, connection, journal):
    for bad in ({"timeout": "soon"}, {"region": "mars"}, {"max_retries": -1}, {"auth_type": "basic"},
                {"verify_tls": "maybe"}):
        result = act("send_trigger_event", _connection={**connection, **bad}, description="x")
        assert result.code == 1 and "connection field" in result.error["cause"], bad
    assert journal() == []


def test_connection_not_an_object(act, journal):
    result = act("send_trigger_event", _connection="a string", description="x")
    assert result.code == 1 and "must be a JSON object" in result.error["cause"]


def test_no_traceback_for_any_of_them(act, connection):
    for values in BAD_INPUTS.values():
        result = invoke(["run"], start_message("send_trigger_event", values, connection))
        assert "Traceback" not in result.stdout + result.stderr
        json.loads(result.stdout)
