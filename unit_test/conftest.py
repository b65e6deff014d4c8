"""Shared fixtures: a fresh sandbox per test (`sandbox`; one per module is sandbox_fixtures.py's
`module_sandbox`), and the plugin run through its real CLI.

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

# Fixtures of other lifetimes live in fixtures modules, registered here so that no test imports a fixture.
pytest_plugins = ["sandbox_fixtures"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")


def skip_reasons(reports):
    """[(count, reason)] of skipped test reports, most frequent first."""
    counts = {}
    for report in reports:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
        counts[reason] = counts.get(reason, 0) + 1
    return sorted(((n, r) for r, n in counts.items()), key=lambda item: (-item[0], item[1]))


def pytest_terminal_summary(terminalreporter):
    """The run ends with why tests were skipped, grouped and counted (a fresh clone lacks ../shared)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if getattr(r, "longrepr", None)]
    if skipped:
        terminalreporter.section(f"{len(skipped)} skipped, by reason")
        for count, reason in skip_reasons(skipped):
            terminalreporter.write_line(f"{count:6d}  {reason}")


def pytest_configure(config):
    """make test's workers (pytest-xdist, --dist loadfile) take whole files in the order of
    pytest_collection_modifyitems, not xdist's (most tests first: a 2-test file of 3 minutes would start last)."""
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist 3.8 and later
        config.option.loadscopereorder = False


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """In a parallel run, the files with the most slow tests go first, then the files with the most tests: the
    longest waits start at once and short files fill the end. Each file keeps its order. A run in one process
    keeps the plain order."""
    if not hasattr(config, "workerinput"):  # the controller does not collect; a run in one process keeps its order
        return
    files = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)

    def weight(tests):
        return -sum(1 for item in tests if item.get_closest_marker("slow")), -len(tests)

    items[:] = [item for tests in sorted(files.values(), key=weight) for item in tests]


def _envelope_checker(kind):
    """The InsightConnect runtime's own message schema (draft-04) of kind "input" or "output",
    when ../shared has it."""
    path = os.path.join(SHARED, "insightconnect", f"{kind}_message_schema.json")
    if not os.path.exists(path):
        return None
    import fastjsonschema

    with open(path, encoding="utf-8") as fh:
        return fastjsonschema.compile(json.load(fh))


ENVELOPE_CHECKS = {"input": _envelope_checker("input"), "output": _envelope_checker("output")}


def check_envelope(doc):
    """Every platform message the suite sees must satisfy the runtime's schema: a start message
    (`sample`) its input schema, every answer its output schema."""
    if isinstance(doc, dict) and "body" in doc and "version" in doc:
        check = ENVELOPE_CHECKS["input" if doc.get("type") in ("action_start", "trigger_start") else "output"]
        if check is not None:
            check(doc)
    return doc


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def doc(self):
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must hold exactly one JSON line, got {self.stdout!r}"
        return check_envelope(json.loads(lines[0]))

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
    the contract does not promise (marked full_answers) or do not depend on its answers (any_sandbox),
    run against the full answers only."""
    if "sandbox" not in metafunc.fixturenames or metafunc.module.__name__.startswith("test_sandbox"):
        return
    if not any(metafunc.definition.get_closest_marker(name) for name in ("full_answers", "any_sandbox")):
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


def connection_for(server):
    """Connection settings for a sandbox (full-access key), as a platform would send them."""
    info = server.info
    return {"api_key": {"secretKey": info["api_key"]}, "routing_key": {"secretKey": info["routing_key"]},
            "from_email": info["from_email"], "api_url": info["api_url"], "events_url": info["events_url"],
            "timeout": 5, "max_retries": 3}


@pytest.fixture
def connection(sandbox):
    """Connection settings for the test's sandbox (a module may point it at another of its own)."""
    return connection_for(sandbox)


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
def step(act, journal):
    """step(action, **input) -> (result, the API requests that this step made)."""
    def run(action, **values):
        before = len(journal())
        result = act(action, **values)
        return result, journal()[before:]
    return run


@pytest.fixture
def readonly(connection, sandbox):
    """The connection with a read-only API key."""
    return {**connection, "api_key": {"secretKey": sandbox.readonly_api_key}}


def seed_objects(sandbox, collection):
    """The sandbox's objects of a collection, read straight from it (test setup, not journaled by the plugin)."""
    import requests

    info = sandbox.info
    headers = {"Authorization": f"Token token={info['api_key']}", "Accept": "application/vnd.pagerduty+json;version=2"}
    return requests.get(f"{info['api_url']}/{collection}", headers=headers, timeout=5).json()[collection]


@pytest.fixture
def users(sandbox):
    return seed_objects(sandbox, "users")


@pytest.fixture
def service(sandbox):
    return seed_objects(sandbox, "services")[0]


@pytest.fixture
def policy(sandbox):
    return seed_objects(sandbox, "escalation_policies")[0]


def journal_of(server):
    """journal() -> the API requests the sandbox received so far (test hooks left out)."""

    def requests_made():
        return [entry for entry in server.journal() if not entry["path"].startswith("/_sandbox")]

    return requests_made


@pytest.fixture
def journal(sandbox):
    return journal_of(sandbox)


# --- the HTTP server ---------------------------------------------------------------------


class PluginServer:
    """`pagerduty-plugin http --port 0` in a subprocess, started as a user would."""

    def __init__(self, args=(), env=None):
        import selectors

        import tempfile

        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
        self.home = tempfile.TemporaryDirectory()  # a state directory of its own unless --state is given
        full_env["XDG_STATE_HOME"] = self.home.name
        full_env.update(env or {})
        self.process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "http", "--port", "0", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=ROOT)
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=30):
            self.stop()
            raise AssertionError("pagerduty-plugin http printed no ready line in 30 s")
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(5)
            raise AssertionError(f"pagerduty-plugin http exited: {self.process.stderr.read().decode()}")
        self.ready = json.loads(line)
        self.url = self.ready["url"]

    def stop(self, sig=None):
        import signal

        if self.process.poll() is None:
            self.process.send_signal(sig or signal.SIGTERM)
        try:
            return self.process.wait(40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)


@pytest.fixture
def plugin_server():
    """plugin_server(args, env) -> a running PluginServer; every one is stopped after the test."""
    started = []

    def start(args=(), env=None):
        server = PluginServer(args, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        server.process.stdout.close()
        server.process.stderr.close()
        server.home.cleanup()


def sandbox_env(sandbox, api_key=None):
    """PAGERDUTY_* variables pointing a plain-mode process at the sandbox."""
    info = sandbox.info
    return {"PAGERDUTY_API_KEY": api_key or info["api_key"], "PAGERDUTY_ROUTING_KEY": info["routing_key"],
            "PAGERDUTY_FROM": info["from_email"], "PAGERDUTY_API_URL": info["api_url"],
            "PAGERDUTY_EVENTS_URL": info["events_url"], "PAGERDUTY_TIMEOUT": "5"}
