"""Runbooks started by events: matching, at most one run per event, even across a kill -9."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from runbook_support import EXAMPLES, write_runbook

from pagerduty_plugin import runbooks
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.state.runs import RunStore

BOOK = """
    name: on-event
    on:
      trigger: incident_event
      event_types: [incident.triggered]
    inputs:
      incident_id: {type: string, required: true, default: "${{ event.data.id }}"}
    steps:
      - id: incident
        action: get_incident
        input: {incident_id: "${{ inputs.incident_id }}"}
    """


def settings(connection):
    return {**connection, "api_key": connection["api_key"]["secretKey"], "max_retries": 0}


def event_for(incident, event_id="01EVENTONE"):
    return {"id": event_id, "event_type": "incident.triggered", "resource_type": "incident",
            "occurred_at": "2026-11-26T07:00:00Z", "agent": None, "client": None,
            "data": {"id": incident, "type": "incident"}}


def test_a_redelivered_event_runs_the_runbook_once(tmp_path, connection, sandbox, journal):
    book = runbooks.load(write_runbook(tmp_path, BOOK))
    store = RunStore(str(tmp_path / "state"))
    event = event_for(sandbox.seed_ids["incidents"]["triggered"][0])
    first = runbooks.run_for_event(book, "incident_event", event, settings(connection), store)
    assert first and first[1]["status"] == "ok"
    assert runbooks.run_for_event(book, "incident_event", event, settings(connection), store) is None
    restarted = RunStore(str(tmp_path / "state"))
    assert runbooks.run_for_event(book, "incident_event", event, settings(connection), restarted) is None
    assert len(journal()) == 1
    assert restarted.for_event("on-event", "01EVENTONE")["status"] == "ok"
    other = event_for(event["data"]["id"], "01EVENTTWO")
    assert runbooks.run_for_event(book, "incident_event", other, settings(connection), restarted)
    assert runbooks.run_for_event(book, "new_incident", event_for("X", "01THREE"), settings(connection),
                                  restarted) is None  # another trigger: not this runbook's


def test_load_dir_keeps_the_runbooks_that_pass_and_reports_the_others(tmp_path):
    write_runbook(tmp_path, BOOK, "good.yaml")
    write_runbook(tmp_path, "name: bad\nsteps: [{id: a, action: nope}]", "bad.yml")
    books, problems = runbooks.load_dir(str(tmp_path), speclib.load())
    assert [b.name for b in books] == ["on-event"]
    assert problems[0]["file"].endswith("bad.yml") and problems[0]["step"] == "a"
    examples, none = runbooks.load_dir(EXAMPLES, speclib.load())
    assert len(examples) == 5 and none == []


@pytest.mark.parametrize("command", [["runbook", "serve"], ["http", "--port", "0", "--runbooks"]],
                         ids=["serve", "http"])
def test_a_runbooks_directory_that_is_missing_empty_or_a_file_is_named_as_it_is(tmp_path, command):
    """It was 'No runbook in DIR has an on: block' for all three. A [ in the name is no glob pattern."""
    (tmp_path / "a file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "odd[1]").mkdir()
    write_runbook(tmp_path / "odd[1]", BOOK, "book.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    for folder, cause in [("missing", "does not exist"), ("a file", "is not a directory"),
                          ("empty", "holds no runbook (*.yaml or *.yml)")]:
        done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", *command, str(tmp_path / folder)], env=env,
                              capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert json.loads(done.stdout)["error"]["cause"].endswith(f"{tmp_path / folder} {cause}"), done.stdout
    books, problems = runbooks.load_dir(str(tmp_path / "odd[1]"), speclib.load())
    assert [book.name for book in books] == ["on-event"] and problems == []


def claimed(state):
    if not os.path.exists(os.path.join(state, "runs.sqlite")):
        return False
    return RunStore(state).for_event("on-event", "01EVENTONE") is not None


@pytest.mark.no_conformance
def test_a_run_killed_mid_step_is_not_run_again_for_the_same_event(tmp_path, connection, sandbox, journal):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    sandbox.add_fault(method="GET", path=f"/incidents/{incident}", delay=30, count=1)  # the step hangs
    path = write_runbook(tmp_path, BOOK)
    state = str(tmp_path / "state")
    script = ("import json, sys; from pagerduty_plugin import runbooks; from pagerduty_plugin.state.runs import RunStore; "
              "book = runbooks.load(sys.argv[1]); "
              "runbooks.run_for_event(book, 'incident_event', json.loads(sys.argv[2]), json.loads(sys.argv[3]), "
              "RunStore(sys.argv[4]))")
    slow = {**settings(connection), "timeout": 60}
    child = subprocess.Popen([sys.executable, "-c", script, path, json.dumps(event_for(incident)),
                              json.dumps(slow), state], cwd=ROOT,
                             env={k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")})
    try:
        deadline = time.monotonic() + 20
        while not claimed(state):  # the claim is committed before the first step starts
            assert time.monotonic() < deadline and child.poll() is None, "the run was never claimed"
            time.sleep(0.05)
        while sandbox.faults.listing():  # until the step is inside: the sandbox holds its answer for 30 s
            assert time.monotonic() < deadline and child.poll() is None, "the step never reached the sandbox"
            time.sleep(0.05)
        assert child.poll() is None
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    store = RunStore(state)
    assert store.for_event("on-event", "01EVENTONE")["status"] == "running"
    book = runbooks.load(path)
    assert runbooks.run_for_event(book, "incident_event", event_for(incident), settings(connection), store) is None


@pytest.mark.full_answers
def test_serve_whose_stdout_reader_went_away_runs_each_event_once_and_says_so_once(tmp_path, sandbox):
    """Each line lost to a closed pipe was taken for a store failure: a warning per event ('Broken pipe;
    the events not taken are tried again') and each event handed over a second time."""
    from conftest import sandbox_env
    from test_consumers import add_events

    state = str(tmp_path / "state")
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    ids = add_events(state, 3, incident_id=incident)
    (tmp_path / "books").mkdir()
    write_runbook(tmp_path / "books", BOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(sandbox_env(sandbox), PAGERDUTY_MAX_RETRIES="0")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "runbook", "serve", str(tmp_path / "books"),
                                "--state", state, "--replay"], stdout=write_end, stderr=subprocess.PIPE, env=env,
                               cwd=ROOT)
    os.close(write_end)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(RunStore(state).for_event("on-event", i) for i in ids):
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        err = process.communicate(timeout=30)[1].decode()
    assert [RunStore(state).for_event("on-event", i)["status"] for i in ids] == ["ok"] * 3, err
    assert err.count("stdout cannot be written (Broken pipe)") == 1 and "`pagerduty-plugin runbook runs`" in err
    assert "tried again" not in err and "Traceback" not in err, err
