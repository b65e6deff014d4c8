"""A new user's first hour: the README's first commands work as written, `sample` runs as it comes, the
checkout's entry point says what to do under a Python without the dependencies, pipes close quietly."""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, invoke, sandbox_env, start_message

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib

VENV_BIN = os.path.dirname(sys.executable)


def readme_block(after):
    """The first ```sh block of the README after the line that starts with `after`."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    rest = text[text.index(after):]
    return re.search(r"```sh\n(.*?)```", rest, re.S).group(1)


def run_block(script, cwd, env, timeout):
    """(exit code, stdout, stderr) of a README block run by bash -e; what it started in the background
    (a sandbox, a server) is stopped with it, should the block's own `kill %1` not have run."""
    shell = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = shell.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(shell.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    return shell.returncode, out, err


def test_the_readme_points_the_plugin_at_the_sandbox_as_written(tmp_path):
    if not os.path.exists(os.path.join(VENV_BIN, "pagerduty-plugin")):
        pytest.skip("the README's commands run the installed pagerduty-plugin command (make install)")
    script = readme_block("The ready line is a connection file")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    code, out, err = run_block(script, tmp_path, env, timeout=60)
    assert code == 0, out + err
    listed = json.loads(out.splitlines()[0])
    assert listed["count"] >= 1 and all(i["status"] == "triggered" for i in listed["incidents"])
    assert "WARNING" not in err and "Unknown connection field" not in out + err
    ready = json.loads((tmp_path / "sandbox.json").read_text().splitlines()[0])
    assert {"events_host", "served_url"} <= set(ready)  # the ready line as it is, other clients' fields too


@pytest.mark.full_answers
def test_the_readme_serves_over_http_as_written(tmp_path, sandbox):
    """The block used a token.txt nobody had made (the server refused to start) and a $URL nobody had set."""
    if not os.path.exists(os.path.join(VENV_BIN, "pagerduty-plugin")):
        pytest.skip("the README's commands run the installed pagerduty-plugin command (make install)")
    missing = [tool for tool in ("openssl", "jq", "curl") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"the README's block uses {', '.join(missing)} (apt-get install openssl jq curl)")
    script = readme_block("### As a warm HTTP server")
    os.symlink(os.path.join(ROOT, "examples"), tmp_path / "examples")  # --runbooks examples/runbooks as written
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(sandbox_env(sandbox), PATH=VENV_BIN + os.pathsep + env.get("PATH", ""), XDG_STATE_HOME=str(tmp_path))
    code, out, err = run_block(script, tmp_path, env, timeout=90)
    assert code == 0, out + err
    answer = json.loads(out.splitlines()[-1])  # past the token: the sandbox answered the step
    assert answer["error"]["cause"].startswith("Incident PABC123 was not found"), out
    assert "readable by other users" not in err and "Traceback" not in err


def test_a_ready_line_is_read_as_a_connection_file_only_when_it_is_one(tmp_path, sandbox):
    ready = dict(sandbox.info, events_host=sandbox.info["api_url"], served_url=sandbox.info["api_url"])
    path = tmp_path / "ready.json"
    path.write_text(json.dumps(ready))
    path.chmod(0o600)
    result = invoke(["run", "list_priorities", "--connection", str(path)])
    assert result.code == 0 and result.doc["priorities"], result.stdout
    oauth_app = ("identity_url", "client_id", "client_secret", "subdomain")  # the ready line's alternative to api_key
    plain = {k: v for k, v in ready.items() if k != "served_url" and k not in oauth_app}
    path.write_text(json.dumps(plain))  # not a ready line: a plain typo stays refused
    result = invoke(["run", "list_priorities", "--connection", str(path)])
    assert result.code == 1 and result.doc["error"]["cause"] == "Unknown connection field 'events_host'"


@pytest.mark.parametrize("action", sorted(speclib.load().actions))
def test_every_sample_runs_as_it_comes(action):
    """Its input passes every check the runner makes before a request, and its connection opens."""
    result = invoke(["sample", action])
    body = result.doc["body"]
    spec = speclib.load()
    runner.checked_input(spec, action, body["input"])
    connection = runner.open_connection(spec, body["connection"], logging.getLogger("sample"))
    connection.close()
    assert "outbox" not in body["connection"] and "ca_file" not in body["connection"]


def test_spec_check_refuses_a_sample_omission_that_names_no_connection_field():
    raw = speclib.load().raw
    raw = dict(raw, python=dict(raw["python"], sample_omits={**raw["python"]["sample_omits"], "connection": ["nope"]}))
    assert speclib.lint(raw) == ["python.sample_omits.connection: names no connection field 'nope'"]


def test_a_sample_pointed_at_the_sandbox_runs(sandbox, journal):
    body = invoke(["sample", "list_priorities"]).doc["body"]
    message = start_message("list_priorities", body["input"],
                            {**body["connection"], "api_key": sandbox.info["api_key"], "api_url": sandbox.info["api_url"]})
    result = invoke(["run"], message)
    assert result.code == 0 and result.body["status"] == "ok", result.stdout
    assert [entry["path"] for entry in journal()] == ["/priorities"]


def test_the_checkout_entry_point_under_a_python_without_the_dependencies_says_what_to_do():
    # -S: no site-packages, as under a system Python that never had `make install`
    done = subprocess.run([sys.executable, "-I", "-S", os.path.join(ROOT, "bin", "pagerduty-plugin"), "info"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["cause"].startswith(f"This Python ({sys.executable}) lacks ")
    assert "make install" in error["assistance"] and ".venv/bin/pagerduty-plugin" in error["assistance"]


@pytest.mark.parametrize("command", ["info", "spec", "sample list_incidents"])
def test_a_reader_that_takes_what_it_wants_gets_no_warning(command):
    done = subprocess.run(f"{sys.executable} -m pagerduty_plugin {command} | head -c 10", shell=True,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and len(done.stdout) == 10 and done.stderr == ""


def test_a_path_that_is_no_collection_is_named_as_it_is(act):
    result = act("api_request", method="GET", path="/audit/records")
    assert result.code == 1 and result.error["cause"].startswith("/audit/records was not found"), result.error
