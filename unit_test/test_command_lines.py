"""No command line ends in a traceback: whatever the arguments, a wrong command line is exit 2 with
the error on stdout (the sandbox: argparse's usage on stderr). `--debug` before `http` or `sandbox`,
as InsightConnect's runtime puts it, used to end in a KeyError traceback."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, invoke

from pagerduty_plugin.cli import COMMANDS

SUBCOMMANDS = sorted([*COMMANDS, "sandbox", "http"])
PREFIXES = ([], ["--debug"], ["--debug", "--debug"])
ODD = [
    [], ["--nope"], ["-x"], ["--debug"], ["--debug", "--debug"], ["--debug", "nope"], ["nope"], ["-"],
    ["--deb", "http"], ["--debug", "--deb", "sandbox"], ["--debug=1", "http"], ["\x00"], ["é"], ["run", "a", "b"],
    ["http", "--port", "x"], ["http", "--port", "70000"], ["http", "--process_workers", "0"],
    ["http", "--threads_per_worker", "x"], ["http", "--process_workers"], ["http", "--workers", "-1"],
    ["http", "--host", "0.0.0.0", "--port", "0"], ["--debug", "http", "--debug=yes"],
    ["http", "--process-workers", "2"],
    ["sandbox", "--port", "-1"], ["sandbox", "--seed", "x"], ["--debug", "sandbox", "--port", "x"],
    ["run", "--state"], ["run", "--connection"], ["trigger"], ["trigger", "x", "--interval", "0.5"],
    ["export"], ["export", "nope", "dir"], ["runbook"], ["runbook", "nope"], ["outbox"], ["outbox", "nope"],
    ["outbox", "list", "--limit", "x"], ["spec", "a", "b"], ["sample"], ["info", "x"], ["test", "x"],
]


def odd_command_lines():
    for prefix in PREFIXES:
        for command in SUBCOMMANDS:
            yield [*prefix, command, "--no-such-flag"]
            yield [*prefix, command, "--no-such-flag=1", "extra"]
    yield from ODD


@pytest.mark.parametrize("argv", list(odd_command_lines()), ids=repr)
def test_an_odd_command_line_is_exit_2_without_a_traceback(argv, capsys):
    result = invoke(argv)  # an exception escaping cli.main is the traceback a user would see
    captured = capsys.readouterr()  # the sandbox's own parser writes its usage to the real stderr
    assert result.code == 2, (result.stdout, result.stderr, captured.err)
    assert "Traceback" not in result.stdout + result.stderr + captured.out + captured.err


def ready_line(argv, tmp_path):
    """Start `pagerduty-plugin ARGV`, read its first line, stop it: (the line as JSON, its stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT, env={**env, "XDG_STATE_HOME": str(tmp_path)})
    try:
        line = process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=40)
    assert line, err.decode()[-2000:]
    return json.loads(line), err.decode()


def test_debug_before_sandbox_starts_it_verbose(tmp_path):
    """This was a KeyError traceback: --debug made `sandbox` go through the main parser."""
    ready, err = ready_line(["--debug", "sandbox", "--port", "0"], tmp_path)
    assert ready["api_url"].startswith("http://127.0.0.1:") and "Traceback" not in err


def test_debug_before_http_starts_it(tmp_path):
    ready, err = ready_line(["--debug", "--debug", "http", "--port", "0", "--process_workers", "1"], tmp_path)
    assert ready["url"].startswith("http://127.0.0.1:") and "Traceback" not in err
