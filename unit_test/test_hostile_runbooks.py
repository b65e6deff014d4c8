"""Runbook files against a hostile author (issue 19): aliases, nesting, unclosed and deep expressions,
keys YAML misreads, wrong-typed defaults, secret inputs off the command line, export paths, stored-run
size. Through `pagerduty-plugin runbook …`; the timings are measured in bench/runbook.py."""

import json
import os

import pytest

from runbook_support import connection_file, problems, run_book, runbook, write_runbook

from pagerduty_plugin.state.runs import RunStore

BOMB = """
name: bomb
a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
steps: [*g]
"""
STEP = "steps:\n  - id: a\n    action: list_priorities\n"


def messages_of(tmp_path, text):
    return [p["message"] for p in problems(runbook(tmp_path, "check", write_runbook(tmp_path, text)))]


def test_aliases_and_anchors_are_refused(tmp_path):
    (message,) = messages_of(tmp_path, BOMB)
    assert message == "line 3: YAML anchors (&a) are not allowed in a runbook: write the value out"


def test_nesting_and_size_are_bounded(tmp_path):
    deep = "name: deep\n" + STEP + "outputs:\n  x: " + "[" * 40 + "]" * 40 + "\n"
    assert messages_of(tmp_path, deep) == ["line 6: nested deeper than 32 mappings and lists"]
    big = "name: big\n" + STEP + "description: " + "x" * (300 * 1024) + "\n"
    assert "larger than 256 KiB" in messages_of(tmp_path, big)[0]


def test_an_unclosed_or_deep_expression_is_a_check_error(tmp_path):
    unclosed = "name: u\n" + STEP + "outputs:\n  x: '${{ " + "a" * 8192 + "'\n"
    assert messages_of(tmp_path, unclosed) == ["the expression does not parse: '${{' is not closed by '}}'"]
    deep = "name: d\n" + STEP + "outputs:\n  x: '${{ " + "!" * 400 + "a }}'\n"
    assert messages_of(tmp_path, deep) == ["the expression does not parse: the expression is nested deeper than 48 "
                                           "levels"]
    tangled = "name: t\n" + STEP + "outputs:\n  x: '${{ [" + "}}" * 4000 + "'\n"  # 4,000 places it might end
    (message,) = messages_of(tmp_path, tangled)
    assert message.startswith("the expression does not parse: ")
    nested = "name: n\n" + STEP + "outputs:\n  x: \"${{ {a: {b: 'x}}y'}} }}\"\n"
    assert runbook(tmp_path, "check", write_runbook(tmp_path, nested)).code == 0


def test_keys_yaml_would_misread_are_refused(tmp_path):
    assert messages_of(tmp_path, "name: k\n1: {trigger: incident_event}\n" + STEP) == [
        "line 2: the key '1' is not text: quote it (\"1\":) or rename it"]
    assert messages_of(tmp_path, "name: k\nname: again\n" + STEP) == [
        "line 2: the key 'name' appears twice in the same mapping: keep one"]
    assert runbook(tmp_path, "check", write_runbook(tmp_path, "name: k\non: {trigger: incident_event}\n" + STEP)).code \
        == 0


def test_a_wrong_typed_default_is_a_check_error(tmp_path):
    text = "name: d\ninputs:\n  hours: {type: integer, default: four}\n  days: {type: integer, default: 2}\n" + STEP
    (problem,) = problems(runbook(tmp_path, "check", write_runbook(tmp_path, text)))
    assert problem["field"] == "inputs.hours.default" and problem["message"] == "the default 'four' is not integer"


SECRET_BOOK = """
name: secret
inputs:
  token: {type: password, required: true}
steps:
  - id: a
    action: list_priorities
outputs:
  echoed: "${{ inputs.token }}"
"""


@pytest.mark.full_answers
def test_password_inputs_from_a_file_stdin_or_the_environment(tmp_path, connection, sandbox, monkeypatch):
    canary = "pw-canary-0123456789"
    secrets = tmp_path / "inputs.json"
    secrets.write_text(json.dumps({"token": canary}))
    monkeypatch.setenv("HOSTILE_TEST_TOKEN", canary)
    for extra, stdin in ((["--input-file", str(secrets)], b""), (["--input-file", "-"], json.dumps({"token": canary})),
                         (["--input-env", "token=HOSTILE_TEST_TOKEN"], b"")):
        path = write_runbook(tmp_path, SECRET_BOOK)
        result = runbook(tmp_path, "run", path, "--connection", connection_file(tmp_path, connection), *extra,
                         stdin=stdin.encode() if isinstance(stdin, str) else stdin)
        assert result.code == 0, result.stdout
        assert result.doc["outputs"]["echoed"] == "********" and canary not in result.stdout + result.stderr
    on_line = run_book(tmp_path, connection, SECRET_BOOK, "--input", json.dumps({"token": canary}))
    assert on_line.code == 0 and "--input-file or --input-env" in on_line.stderr


def test_export_writes_only_under_the_folder_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    for name in ("../../escaped", "/tmp/escaped"):
        path = write_runbook(tmp_path, f"name: '{name}'\n" + STEP)
        result = runbook(tmp_path, "export", "--to", "orquesta", path)
        assert result.code == 0, result.stdout
        written = os.path.realpath(result.doc["written"])
        assert written.startswith(str(tmp_path) + os.sep) and os.path.isfile(written)
        inside = runbook(tmp_path, "export", "--to", "orquesta", path, "--out", "out")
        assert os.path.realpath(inside.doc["written"]).startswith(str(tmp_path / "out") + os.sep)


def test_a_stored_run_is_capped_and_says_what_was_cut(tmp_path):
    store = RunStore(str(tmp_path / "state"))
    run_id = store.claim("big")
    steps = [{"id": "each", "status": "ok", "output": [{"x": "y" * 200}] * 2000, "attempts": 1}]
    store.finish(run_id, {"status": "ok", "steps": steps, "outputs": {"n": 1}})
    answer = store.get(run_id)["answer"]
    assert answer["truncated"]["removed"] == ["steps[].output"] and answer["truncated"]["bytes"] > 256 * 1024
    assert answer["steps"] == [{"id": "each", "status": "ok", "attempts": 1}] and answer["outputs"] == {"n": 1}
    listed = runbook(tmp_path, "runs")
    assert listed.doc["runs"][0]["answer"]["truncated"]["limit"] == 256 * 1024
