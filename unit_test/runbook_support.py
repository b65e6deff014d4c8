"""Helpers for the runbook tests: a runbook file, a connection file, and `runbook …` through cli.main."""

import json
import os
import textwrap

from conftest import ROOT, invoke

EXAMPLES = os.path.join(ROOT, "examples", "runbooks")


def write_runbook(tmp_path, text, name="book.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def connection_file(tmp_path, connection, **overrides):
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({**connection, **overrides}))
    return str(path)


def runbook(tmp_path, *argv, stdin=b""):
    """`pagerduty-plugin runbook ARGV…` in process, the state directory inside tmp_path."""
    argv = list(argv)
    if argv[0] in ("run", "runs") and "--state" not in argv:
        argv += ["--state", str(tmp_path / "state")]
    return invoke(["runbook", *argv], stdin)


def run_book(tmp_path, connection, text, *extra, **overrides):
    """Write the runbook, run it against the sandbox connection; the Result."""
    path = write_runbook(tmp_path, text)
    return runbook(tmp_path, "run", path, "--connection", connection_file(tmp_path, connection, **overrides), *extra)


def problems(result):
    doc = result.doc
    assert result.code == 1 and doc["ok"] is False, doc
    return doc["problems"]
