"""`pagerduty-plugin sandbox --tls` and `--public-url`, and the plugin's connection setting ca_file
(PAGERDUTY_CA_FILE): HTTPS on loopback with a throwaway CA, links that name the public address."""
import json
import os
import signal
import ssl
import subprocess
import sys

import pytest
import requests

from conftest import ROOT, invoke, run_command, start_message
from pagerduty_plugin.sandbox import Sandbox


def _start(*args, env=None):
    proc = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "sandbox", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    return proc, proc.stdout.readline()


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def tls():
    with Sandbox(tls=True) as server:
        yield server


def _users(info, **kw):
    return requests.get(info["api_url"] + "/users", timeout=5, headers={"Authorization": f"Token token={info['api_key']}"},
                        **kw)


def test_cli_tls_ready_line_ca_file_and_clean_stop():
    proc, line = _start("--tls")
    info = json.loads(line)
    try:
        assert info["api_url"].startswith("https://127.0.0.1:") and info["served_url"] == info["api_url"]
        assert info["events_url"] == info["api_url"] + "/v2" and info["events_host"] == info["api_url"]
        with open(info["ca_file"]) as fh:
            assert fh.read().startswith("-----BEGIN CERTIFICATE-----")
        assert _users(info, verify=info["ca_file"]).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            _users(info, verify=True)            # the system's CAs do not know the throwaway one
        event = {"routing_key": info["routing_key"], "event_action": "trigger",
                 "payload": {"summary": "tls", "source": "test", "severity": "info"}}
        answer = requests.post(info["events_host"] + "/v2/enqueue", json=event, verify=info["ca_file"], timeout=5)
        assert answer.status_code == 202
    finally:
        code, out, _err = _stop(proc)
    assert code == 0 and out == ""
    assert not os.path.exists(info["ca_file"])   # the throwaway CA goes with the sandbox


def test_plain_http_to_the_tls_port_is_refused_and_the_server_keeps_serving(tls):
    info = tls.info
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(info["api_url"].replace("https://", "http://") + "/users", timeout=5)
    context = ssl.create_default_context(cafile=info["ca_file"])
    assert context.get_ca_certs()[0]["subject"]   # a CA a standard TLS stack can load
    assert _users(info, verify=info["ca_file"]).status_code == 200


def test_self_links_use_https_and_work_as_urls(tls):
    info = tls.info
    user = _users(info, verify=info["ca_file"]).json()["users"][0]
    assert user["self"].startswith(info["api_url"] + "/users/")
    again = requests.get(user["self"], verify=info["ca_file"], timeout=5,
                         headers={"Authorization": f"Token token={info['api_key']}"})
    assert again.json()["user"]["id"] == user["id"]


def test_public_url_goes_into_links_and_the_ready_line():
    proc, line = _start("--public-url", "https://pd.example.test:8443/")
    info = json.loads(line)
    try:
        assert info["api_url"] == info["events_host"] == "https://pd.example.test:8443"
        assert info["served_url"].startswith("http://127.0.0.1:")
        served = dict(info, api_url=info["served_url"])
        user = _users(served).json()["users"][0]
        assert user["self"] == f"https://pd.example.test:8443/users/{user['id']}"
        assert user["html_url"] == f"https://pd.example.test:8443/#users/{user['id']}"
    finally:
        assert _stop(proc)[0] == 0


@pytest.mark.parametrize("url", ["ftp://x.example", "https://", "http://u:p@host", "https://h/?q=1", "not a url"])
def test_a_bad_public_url_is_a_command_line_error(url):
    proc, line = _start("--public-url", url)
    code, _out, err = proc.wait(10), proc.stdout.read(), proc.stderr.read()
    proc.stdout.close(), proc.stderr.close()
    assert (code, line) == (2, "") and "--public-url" in err


def test_tls_without_trustme_says_what_to_install():
    code = ("import sys; sys.modules['trustme'] = None\n"
            "from pagerduty_plugin.sandbox.command import main; sys.exit(main(['--tls']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 1 and done.stdout == ""
    assert "pip install 'trustme" in done.stderr and "Traceback" not in done.stderr
    assert "pagerduty-plugin[" not in done.stderr  # the plugin is on no package index


# --- the plugin's connection: ca_file ---------------------------------------------------------------

def _connection(info, **more):
    return {"api_key": {"secretKey": info["api_key"]}, "from_email": info["from_email"], "api_url": info["api_url"],
            "routing_key": {"secretKey": info["routing_key"]}, "events_url": info["events_url"], "timeout": 5,
            "max_retries": 0, **more}


def _run(action, values, connection):
    return invoke(["run"], start_message(action, values, connection))


def test_connection_ca_file_trusts_the_sandbox_even_over_the_environment(tls, monkeypatch):
    info = tls.info
    # a bundle in the environment (as on many machines) must not outrank the connection's own setting
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile or "/nonexistent")
    users = _run("list_users", {"max_results": 1}, _connection(info, ca_file=info["ca_file"]))
    assert users.code == 0 and users.output["count"] == 1
    sent = _run("send_trigger_event", {"description": "over tls", "severity": "info", "source": "t"},
                _connection(info, ca_file=info["ca_file"]))
    assert sent.code == 0 and sent.output["status"] == "success"


def test_without_ca_file_the_tls_error_points_at_it(tls):
    refused = _run("list_users", {"max_results": 1}, _connection(tls.info))
    assert refused.code == 1
    assert refused.error["cause"].startswith("TLS error talking to 127.0.0.1:")
    assert "ca_file" in refused.error["assistance"]


def test_verify_tls_false_wins_over_the_environment_too(tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.info["ca_file"].replace("ca.pem", "missing.pem"))
    result = _run("list_users", {"max_results": 1}, _connection(tls.info, verify_tls=False))
    assert result.code == 0 and "TLS certificate verification is off" in result.body["log"]


def test_an_unreadable_ca_file_is_refused_before_any_request(tls):
    before = tls.last_seq
    result = _run("list_users", {}, _connection(tls.info, ca_file="/nonexistent/ca.pem"))
    assert result.code == 1
    assert result.error["cause"] == "The connection's ca_file is not a readable file: '/nonexistent/ca.pem'"
    assert result.error["data"] == {"field": "ca_file"}
    assert tls.exchanges_after(before) == []


def test_plain_mode_reads_pagerduty_ca_file(tls):
    info = tls.info
    env = {"PAGERDUTY_API_KEY": info["api_key"], "PAGERDUTY_API_URL": info["api_url"],
           "PAGERDUTY_CA_FILE": info["ca_file"], "PAGERDUTY_TIMEOUT": "5"}
    done = run_command(["run", "list_change_events"], b"{}", env=env)
    assert done.code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["count"] >= 0
