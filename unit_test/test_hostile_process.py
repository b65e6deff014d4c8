"""The process around a step: signals while it runs, stdout and stderr that cannot be written,
connection files that are not files, JSON nested deeper than Python can walk. The installed
command runs in a subprocess, over real HTTP on 127.0.0.1."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, invoke, run_command, start_message
from hostile_server import HostileServer, Reply, connection_to


def command_env(url):
    settings = connection_to(url)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")},
            "PAGERDUTY_API_KEY": settings["api_key"], "PAGERDUTY_API_URL": url, "PAGERDUTY_TIMEOUT": "20",
            "PAGERDUTY_FROM": settings["from_email"]}


def start(args, env, stdin=b"{}", **streams):
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", *args], cwd=ROOT, env=env,
                               stdin=subprocess.PIPE, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
                                                         **streams})
    process.stdin.write(stdin)
    process.stdin.close()
    return process


def finish(process, timeout=30):
    """(stdout, stderr) of a started process, once it has ended (stdin is already closed)."""
    process.stdin = None
    return process.communicate(timeout=timeout)


def wait_for_request(server, seconds=20):
    ended = time.monotonic() + seconds
    while not server.requests and time.monotonic() < ended:
        time.sleep(0.02)
    assert server.requests, "the step never reached the server"


def slow(request):
    time.sleep(8)
    return Reply(200, {"priorities": [], "more": False})


# --- 13. signals during run ----------------------------------------------------------------------------


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_during_a_read_answers_one_json_error(signal_name):
    with HostileServer(slow) as api:
        process = start(["run", "list_priorities"], command_env(api.url))
        wait_for_request(api)
        process.send_signal(getattr(signal, signal_name))
        out, err = finish(process)
    assert process.returncode == 1
    (line,) = out.decode().splitlines()
    error = json.loads(line)["error"]
    assert error["cause"] == f"Interrupted by {signal_name} before any change was sent to PagerDuty"
    assert error["data"] == {"signal": signal_name, "writes_sent": []}
    assert b"Traceback" not in err


def test_a_signal_during_a_write_says_it_may_have_been_carried_out():
    with HostileServer(slow) as api:
        message = start_message("api_request", {"method": "POST", "path": "/incidents/PABC123/notes",
                                                "body": {"note": {"content": "x"}}}, connection_to(api.url))
        process = start(["run"], command_env(api.url), stdin=json.dumps(message).encode())
        wait_for_request(api)
        process.send_signal(signal.SIGTERM)
        out, err = finish(process)
    assert process.returncode == 1
    body = json.loads(out)["body"]
    assert body["status"] == "error"
    assert body["exception"]["cause"] == ("Interrupted by SIGTERM after sending POST /incidents/PABC123/notes: "
                                          "that change may have been carried out")
    assert "Check PagerDuty" in body["exception"]["assistance"] and b"Traceback" not in err


# --- 13. stdout and stderr that cannot be written ------------------------------------------------------


def priorities_server():
    return HostileServer(lambda r: Reply(200, {"priorities": [{"id": "PPRI001", "name": "P1"}], "more": False}))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_full_output_device_never_fails_a_done_step(stream):
    answers = iter([Reply(503, {"error": {"code": 2000}}), Reply(200, {"priorities": [], "more": False})])
    with HostileServer(lambda r: next(answers)) as api, open("/dev/full", "wb") as full:
        env = {**command_env(api.url), "PAGERDUTY_MAX_RETRIES": "1"}
        process = start(["run", "list_priorities"], env, **{stream: full})
        out, err = finish(process)
    assert process.returncode == 0, (out, err)
    assert len(api.requests) == 2  # the retry was logged to the full stderr, and the step went on
    if stream == "stdout":
        assert b"Traceback" not in err and b"could not be written to stdout (No space left on device)" in err
    else:
        assert json.loads(out)["count"] == 0


def test_a_reader_that_went_away_never_fails_a_done_step():
    with priorities_server() as api:
        process = start(["run", "list_priorities"], command_env(api.url))
        process.stdout.close()  # the reader is gone before the answer is written
        process.wait(timeout=30)
        err = process.stderr.read()
    assert process.returncode == 0 and b"Traceback" not in err


def test_a_closed_stdout_never_fails_a_done_step():
    with priorities_server() as api:
        done = subprocess.run(["sh", "-c", 'exec "$0" -m pagerduty_plugin run list_priorities >&- <&-',
                               sys.executable], cwd=ROOT, env=command_env(api.url), capture_output=False,
                              stderr=subprocess.PIPE, timeout=30)
    assert done.returncode == 0 and b"Traceback" not in done.stderr
    assert len(api.requests) == 1


# --- 14. --connection and deep JSON --------------------------------------------------------------------


def test_an_empty_connection_path_is_an_error_not_the_environment():
    with priorities_server() as api:
        result = run_command(["run", "list_priorities", "--connection", ""], b"{}", env=command_env(api.url))
    assert result.code == 1 and result.error["cause"] == "--connection names no file (the path is empty)"
    assert api.requests == []


def test_connection_in_message_mode_is_a_usage_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{}")
    result = invoke(["run", "--connection", str(path)], start_message("list_priorities", {}, {}))
    assert result.code == 2 and result.error["cause"].startswith("--connection is for plain mode")


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_connection_file_that_is_not_a_file_is_refused_at_once(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif kind == "device":
        path = "/dev/zero"
    else:
        path = tmp_path
    result = run_command(["run", "list_priorities", "--connection", str(path)], b"{}", timeout=20)
    assert result.code == 1
    cause = result.error["cause"]
    assert cause == f"The connection file {path} is not a regular file" or "Is a directory" in cause


def test_a_connection_file_others_can_read_gets_a_warning(tmp_path):
    with priorities_server() as api:
        path = tmp_path / "connection.json"
        path.write_text(json.dumps(connection_to(api.url)))
        path.chmod(0o644)
        result = invoke(["run", "list_priorities", "--connection", str(path)], "{}")
        path.chmod(0o600)
        private = invoke(["run", "list_priorities", "--connection", str(path)], "{}")
    assert result.code == 0 and "can be read by other users (mode 644); it holds the API key" in result.stderr
    assert private.code == 0 and "other users" not in private.stderr


@pytest.mark.parametrize("depth", [101, 985, 5000])
@pytest.mark.parametrize("mode", ["plain", "message"])
def test_json_nested_too_deep_is_an_input_error(depth, mode, tmp_path):
    nested = "[" * depth + "]" * depth
    if mode == "plain":
        raw = '{"description": "x", "details": {"a": %s}}' % nested
        result = run_command(["run", "send_trigger_event"], raw)
    else:
        raw = ('{"version": "v1", "type": "action_start", "body": {"action": "send_trigger_event", '
               '"input": {"description": "x", "details": %s}, "connection": {}}}') % nested
        result = run_command(["run"], raw)
    assert result.code == 1
    assert "nested too deeply" in result.error["cause"] and "Internal error" not in result.stdout
