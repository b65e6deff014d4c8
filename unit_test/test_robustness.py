"""Inputs and settings that once broke the contract: every one is a clear error, exit 1,
one JSON document, no request (or, for writes, no harmful repeat)."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT, invoke, run_command, start_message


def test_non_ascii_output_survives_any_console_encoding(sandbox, connection):
    message = start_message("create_incident", {"title": "Störung 李 \ud800", "service": "Platform Web"}, connection)
    result = run_command(["run"], json.dumps(message), env={"PYTHONIOENCODING": "cp1252"})
    assert result.code == 0, result.stdout + result.stderr
    assert result.body["output"]["incident"]["title"] == "Störung 李 \ud800"
    assert result.stdout.isascii()
    assert len([e for e in sandbox.journal() if e["method"] == "POST"]) == 1


@pytest.mark.parametrize("raw", [b'{"description": "x", "details": {"a": NaN}}',
                                 b'{"description": "x", "details": {"a": Infinity}}',
                                 b"[" * 200000])
def test_not_quite_json_is_refused(raw, act, journal):
    result = invoke(["run", "send_trigger_event"], raw)
    assert result.code == 1 and result.error["cause"] and journal() == []


@pytest.mark.parametrize("secret", ['"quoted"', "back\\slash\\", 'true,"x":null', "12345678"])
def test_masking_never_breaks_the_json(secret, sandbox, connection):
    settings = {**connection, "routing_key": secret}
    result = invoke(["run"], start_message("list_priorities", {}, settings))
    assert result.code == 0, result.stdout
    json.loads(result.stdout)


def test_a_secret_inside_output_strings_is_masked(sandbox, connection):
    key = sandbox.info["api_key"]
    result = invoke(["run"], start_message("create_incident", {"title": f"leak {key}", "service": "Platform Web"},
                                           connection))
    assert key not in result.stdout and "leak ********" in result.stdout


@pytest.mark.parametrize("bad, words", [
    ({"api_url": "localhost:34021"}, "api_url is not an http(s) URL"),
    ({"api_url": "http://[::1"}, "api_url is not an http(s) URL"),
    ({"events_url": "ftp://x"}, "events_url is not an http(s) URL"),
    ({"api_key": "key-with-newline\n"}, "API key has spaces"),
    ({"api_key": "ключ-ключ-ключ"}, "API key has spaces"),
    ({"from_email": "李@example.com"}, "From address has spaces"),
])
def test_settings_that_cannot_work_are_refused_before_any_request(bad, words, act, connection, journal):
    result = act("list_priorities", _connection={**connection, **bad})
    assert result.code == 1 and words in result.error["cause"], result.error
    assert journal() == []


def test_nan_timeout_from_the_environment_is_refused():
    result = run_command(["run", "list_priorities"], "{}", env={"PAGERDUTY_TIMEOUT": "nan"})
    assert result.code == 1 and "PAGERDUTY_TIMEOUT" in result.doc["error"]["cause"]


def test_bad_date_is_refused(act, journal):
    result = act("send_trigger_event", description="x", timestamp="2024-99-01T00:00:00Z")
    assert result.code == 1 and "date-time" in result.error["cause"] and journal() == []


def test_closed_stdin_is_an_empty_input():
    done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", "run"], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=ROOT, text=True)
    closed = subprocess.run(f"{sys.executable} -m pagerduty_plugin run <&-", shell=True, capture_output=True,
                            cwd=ROOT, text=True)
    for result in (done, closed):
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert json.loads(result.stdout)["body"]["exception"]["cause"] == "No message on stdin"


def test_a_reader_that_goes_away_gets_no_traceback(sandbox):
    env = f"PAGERDUTY_API_KEY='{sandbox.info['api_key']}' PAGERDUTY_API_URL={sandbox.info['api_url']}"
    done = subprocess.run(f"echo '{{}}' | {env} {sys.executable} -m pagerduty_plugin run list_users | head -c 10",
                          shell=True, capture_output=True, cwd=ROOT, text=True)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_unsupported_message_version(connection):
    message = {**start_message("send_trigger_event", {"description": "x"}, connection), "version": "v2"}
    result = invoke(["run"], message)
    assert result.code == 1 and "Unsupported message version" in result.body["error"]


def test_connection_test_without_any_key_says_so():
    result = invoke(["test"], {"version": "v1", "type": "connection_test", "body": {"connection": {}}})
    assert result.code == 1 and "neither an api_key" in result.body["error"]


@pytest.mark.no_conformance
def test_a_delete_whose_first_try_timed_out_is_not_reported_as_missing(act, sandbox, connection, journal):
    user = sandbox.seed_ids["users"]["observer"] if isinstance(sandbox.seed_ids.get("users"), dict) else None
    if user is None:
        pytest.skip("seed has no observer id")
    # the first try is carried out after 1.05 s, past the 1 s timeout; the repeat comes later
    sandbox.add_fault(method="DELETE", path="/users/*", count=1, delay=1.05)
    result = act("delete_user_by_id", _connection={**connection, "timeout": 1}, id=user)
    assert result.code == 0, result.stdout
    assert "taken as deleted" in result.body["log"]


@pytest.mark.parametrize("content, words", [(b'{"timeout": NaN}', "NaN is not a JSON value"),
                                            (b"{", "is not valid JSON"), (b"\xff", "Cannot read")])
def test_a_broken_connection_file_is_explained(tmp_path, content, words):
    path = tmp_path / "connection.json"
    path.write_bytes(content)
    result = invoke(["run", "list_priorities", "--connection", str(path)], "{}")
    assert result.code == 1 and words in result.error["cause"] and str(path) in result.error["cause"]
