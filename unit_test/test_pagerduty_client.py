"""Acceptance: PagerDuty's own Python client (`pagerduty` on PyPI, which refuses any http:// base URL) works
against `pagerduty-plugin sandbox --tls` with nothing but the ready line and the CA file; the change event it
sends is then listed by this plugin's list_change_events. The client is installed into a venv of cached_env.py
(built once, under a lock: reruns and parallel runs are quick); the test skips, saying why, when it cannot be had."""
import json
import os
import subprocess
import sys

import cached_env
import pytest

from conftest import ROOT, invoke, start_message

pytestmark = pytest.mark.slow
HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = "pagerduty==7.2.0"  # PagerDuty's own client, as pip finds it for this Python


@pytest.fixture(scope="module")
def tls_sandbox():
    proc = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "sandbox", "--tls"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise AssertionError("the sandbox printed no ready line: " + proc.stderr.read())
    yield json.loads(line)
    proc.terminate()
    proc.communicate(timeout=10)


def test_pagerduty_client_against_the_tls_sandbox(tls_sandbox):
    python = cached_env.venv("pagerduty-client", [CLIENT])
    ready = tls_sandbox
    assert ready["api_url"].startswith("https://") and os.path.isfile(ready["ca_file"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "REQUESTS_", "SSL_CERT"))}
    env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"] = ready["ca_file"]   # requests, httpx (pagerduty 7.2)
    done = subprocess.run([python, os.path.join(HERE, "pagerduty_client_script.py"), json.dumps(ready)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert results["incidents"] >= 1 and results["rget_self"] is True
    assert results["find"] == ready["from_email"]
    assert results["persist"] == [True, "Pat Persisted", "Pat Renamed"]
    assert results["persisted_read_back"] == "Pat Renamed"
    dedup, acknowledged, resolved = results["events"]
    assert len(dedup) == 32 and acknowledged == ["acknowledged"] and resolved == ["resolved"]
    assert results["change_event_sent"] is True

    connection = {"api_key": {"secretKey": ready["api_key"]}, "from_email": ready["from_email"],
                  "api_url": ready["api_url"], "ca_file": ready["ca_file"], "timeout": 10}
    listed = invoke(["run"], start_message("list_change_events", {}, connection))
    assert listed.code == 0, listed.stdout
    assert [c["summary"] for c in listed.output["change_events"]] == ["Acceptance: deployed db-9 schema 42"]
    assert listed.output["change_events"][0]["custom_details"] == {"schema": 42}


def test_the_readmes_block_for_other_clients_runs_as_written(tmp_path):
    """It imported `pagerduty` without installing it, and read the ready line after a fixed `sleep 1`."""
    from test_first_hour import readme_block

    python = cached_env.venv("pagerduty-client", [CLIENT])
    script = readme_block("| `api_key`, `routing_key`, `from_email` |")
    assert script.startswith("pip install 'pagerduty>=7.2'")
    script = script.split("\n", 1)[1]  # the client is in the cached venv already: no registry in a test
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "REQUESTS_", "SSL_CERT"))}
    env["PATH"] = os.pathsep.join([os.path.dirname(python), os.path.dirname(sys.executable), env.get("PATH", "")])
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and int(done.stdout.strip()) >= 1, done.stdout + done.stderr[-2000:]
