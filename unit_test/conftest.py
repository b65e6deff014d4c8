"""Shared fixtures: a fresh sandbox per test, and the plugin run through its real CLI.

Actions run through the runner (cli.main in-process, or the installed command in a
subprocess) over real HTTP on 127.0.0.1 against the embedded sandbox. Every answer the
sandbox gives during a test is checked against PagerDuty's published OpenAPI files when
../shared/pagerduty-api is present (see openapi_conformance.py).
"""

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from pagerduty_plugin import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def doc(self):
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must hold exactly one JSON line, got {self.stdout!r}"
        return json.loads(lines[0])

    @property
    def body(self):
        return self.doc["body"]

    @property
    def output(self):
        """The action's output, in either mode."""
        doc = self.doc
        if "body" in doc:
            assert doc["body"]["status"] == "ok", doc["body"]
            return doc["body"]["output"]
        assert "error" not in doc, doc
        return doc

    @property
    def error(self):
        """The {cause, assistance, data} of a failure, in either mode."""
        doc = self.doc
        if "body" in doc:
            assert doc["body"]["status"] == "error", doc["body"]
            return doc["body"]["exception"]
        return doc["error"]


def invoke(argv, stdin=b""):
    """cli.main in-process with the given argv and stdin (bytes, str or a JSON value)."""
    if not isinstance(stdin, (bytes, str)):
        stdin = json.dumps(stdin)
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


def start_message(action, values, connection, meta=None):
    return {"version": "v1", "type": "action_start",
            "body": {"action": action, "meta": meta or {}, "input": values, "connection": connection}}


def run_command(args, stdin=b"", env=None, timeout=60):
    """The installed `pagerduty-plugin` in a subprocess (the contract a platform sees)."""
    command = [sys.executable, "-m", "pagerduty_plugin", *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    full_env.update(env or {})
    done = subprocess.run(command, input=stdin if isinstance(stdin, bytes) else stdin.encode(),
                          capture_output=True, env=full_env, timeout=timeout, cwd=ROOT)
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


# --- the sandbox ---------------------------------------------------------------------------


def _conformance():
    try:
        import openapi_conformance
    except ImportError:
        return None
    return openapi_conformance


def pytest_generate_tests(metafunc):
    """Every test of the plugin that uses the sandbox runs twice: against its full answers
    ("published") and with the sandbox in strict-contract mode ("documented": answers cut down to
    what PagerDuty's OpenAPI files promise). The sandbox's own tests, and tests that read fields
    the contract does not promise (marked full_answers), run against the full answers only."""
    if "sandbox" not in metafunc.fixturenames or metafunc.module.__name__.startswith("test_sandbox"):
        return
    if metafunc.definition.get_closest_marker("full_answers") is None:
        metafunc.parametrize("sandbox", ["published", "documented"], indirect=True)


@pytest.fixture
def sandbox(request):
    from pagerduty_plugin.sandbox import Sandbox

    contract = None
    if getattr(request, "param", "published") == "documented":
        checker = _conformance()
        if checker is None or checker.SKIP_REASON is not None:
            pytest.skip(f"strict-contract mode needs PagerDuty's OpenAPI files: "
                        f"{checker.SKIP_REASON if checker else 'openapi_conformance unavailable'}")
        contract = checker.contract_folder()
    server = Sandbox(seed="demo", contract=contract).start()
    yield server
    server.stop()
    checker = _conformance()
    if checker is not None and checker.SKIP_REASON is None and "no_conformance" not in request.keywords:
        problems = checker.check_exchanges(server.exchanges)
        if problems:
            pytest.fail("sandbox answers that break the published contract:\n" + "\n".join(problems[:20]))


@pytest.fixture
def connection(sandbox):
    """Connection settings for the sandbox (full-access key), as a platform would send them."""
    info = sandbox.info
    return {"api_key": {"secretKey": info["api_key"]}, "routing_key": {"secretKey": info["routing_key"]},
            "from_email": info["from_email"], "api_url": info["api_url"], "events_url": info["events_url"],
            "timeout": 5, "max_retries": 3}


@pytest.fixture
def act(connection):
    """act(action, **input) -> Result: one step in platform message mode against the sandbox.
    act.plain(action, values) runs `run ACTION` with the same connection from a file."""

    def run(action, _connection=None, **values):
        return invoke(["run"], start_message(action, values, _connection or connection))

    def plain(action, values, connection_settings=None, tmp=None):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(connection_settings or connection, fh)
        try:
            return invoke(["run", action, "--connection", fh.name], values)
        finally:
            os.unlink(fh.name)

    run.plain = plain
    return run


@pytest.fixture
def journal(sandbox):
    """journal() -> the API requests the sandbox received so far (test hooks left out)."""

    def requests_made():
        return [entry for entry in sandbox.journal() if not entry["path"].startswith("/_sandbox")]

    return requests_made
