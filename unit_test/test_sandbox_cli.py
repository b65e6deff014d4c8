"""`pagerduty-plugin sandbox` / `python -m pagerduty_plugin.sandbox`: first line, serving, clean stop."""
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from pagerduty_plugin.sandbox import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin.sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_first_line_then_serves_then_stops_cleanly(sig):
    proc, line = _start("--port", "0", "--seed", "demo")
    try:
        info = json.loads(line)
        assert set(info) == {"api_url", "events_url", "events_host", "api_key", "routing_key", "from_email",
                             "ca_file", "served_url", "identity_url", "client_id", "client_secret", "subdomain"}
        assert info["api_url"].startswith("http://127.0.0.1:") and not info["api_url"].endswith(":0")
        assert info["served_url"] == info["events_host"] == info["api_url"] and info["ca_file"] is None
        r = requests.get(info["api_url"] + "/users", headers={"Authorization": f"Token token={info['api_key']}"},
                         timeout=5)
        assert r.status_code == 200
        event = {"routing_key": info["routing_key"], "event_action": "trigger",
                 "payload": {"summary": "cli", "source": "test", "severity": "info"}}
        assert requests.post(info["events_url"] + "/enqueue", json=event, timeout=5).status_code == 202
    finally:
        proc.send_signal(sig)
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == ""   # nothing after the first line


def _answers_on(address, port):
    try:
        return requests.get(f"http://{address}:{port}/users", timeout=5).status_code == 401
    except requests.ConnectionError:
        return False


def _listening_addresses(port):
    """The IPv4 addresses listening on `port`, from /proc/net/tcp (state 0A is LISTEN)."""
    with open("/proc/net/tcp") as fh:
        rows = [line.split() for line in fh.readlines()[1:]]
    found = set()
    for row in rows:
        address, port_hex = row[1].split(":")
        if row[3] == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/net/tcp and 127.0.0.0/8 on the loopback")
@pytest.mark.parametrize("args,bound", [((), "127.0.0.1"), (("--host", "0.0.0.0"), "0.0.0.0")])
def test_binds_loopback_unless_host_says_otherwise(args, bound):
    proc, line = _start(*args)
    try:
        info = json.loads(line)
        assert info["api_url"].startswith("http://127.0.0.1:")   # a URL a local client can use either way
        port = int(info["api_url"].rsplit(":", 1)[1])
        assert _listening_addresses(port) == {bound}
        assert _answers_on("127.0.0.1", port)
        # 127.0.0.2 is a local address too, but a socket bound to 127.0.0.1 alone does not answer there
        assert _answers_on("127.0.0.2", port) is (bound == "0.0.0.0")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_empty_seed_and_rate_limit_flags():
    proc, line = _start("--seed", "empty", "--rate-limit", "1")
    try:
        info = json.loads(line)
        assert info["routing_key"] is None
        headers = {"Authorization": f"Token token={info['api_key']}"}
        codes = [requests.get(info["api_url"] + "/users", headers=headers, timeout=5).status_code for _ in range(2)]
        assert codes == [200, 429]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_bad_command_lines_exit_2(capsys):
    assert main(["--seed", "huge"]) == 2
    assert main(["--rate-limit", "0"]) == 2
    assert main(["--frobnicate"]) == 2
    assert main(["--help"]) == 0
    assert "pagerduty-plugin sandbox" in capsys.readouterr().out


def test_port_in_use_exits_1(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err
