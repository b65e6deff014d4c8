"""No command line ends in a traceback: whatever the arguments, a wrong command line is exit 2 with
the error on stdout (the sandbox: argparse's usage on stderr). `--debug` before `http` or `sandbox`,
as InsightConnect's runtime puts it, used to end in a KeyError traceback."""

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT, invoke, sandbox_env

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
    ["runbook", "serve", "examples/runbooks", "--consumer", "a\x00b"], ["trigger", "x", "--consumer", "\x00"],
    ["state", "status", "--state", "\x00"],
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


CANARY = "CanaryPw-3f9e1d"
EXAMPLES = os.path.join(ROOT, "examples", "runbooks")
HOSTILE_VALUES = [  # (argv, the start of the error's cause): each a usage error before anything is opened or sent
    (["state", "status", "--state", ""], "--state is empty"),  # was: the default directory, silently
    (["state", "migrate", "--state", "  "], "--state is empty"),  # was: a directory named "  "
    (["runbook", "runs", "--state", "sqlite:///state"], "--state names a sqlite:// URL"),  # was: a directory sqlite:
    (["runbook", "serve", EXAMPLES, "--state", os.path.join(EXAMPLES, "triage.yaml")],
     f"--state {os.path.join(EXAMPLES, 'triage.yaml')} is a file, not a directory"),  # was: SQLite, "Not a directory"
    (["trigger", "incident_event", "--once", "--state", f"mysql://u:{CANARY}@db/x"], "--state names a mysql:// URL"),
    (["http", "--port", "0", "--state", f"postgresq://u:{CANARY}@db/x"], "--state names a postgresq:// URL"),
    (["runbook", "serve", EXAMPLES, "--consumer", "../x"], '--consumer "../x" is not a consumer name'),
    (["runbook", "serve", EXAMPLES, "--consumer", "a" * 10240], '--consumer "aaaa'),
    (["runbook", "serve", EXAMPLES, "--consumer", "a\x1b[31mb"], '--consumer "a\\u001b[31mb" is not'),
    (["runbook", "serve", EXAMPLES, "--consumer", ""], '--consumer "" is not a consumer name'),
    (["trigger", "incident_event", "--once", "--consumer", "runbooks:incident_event"], "--consumer \"runbooks:"),
    (["dead-letters", "purge", "--consumer", ""], '--consumer "" names no consumer'),  # was: every consumer's
    (["runbook", "serve", EXAMPLES, "--retention-days", "99999999"], "--retention-days 1e+08 is not a number"),
    (["trigger", "incident_event", "--once", "--retention-days", "inf"], "--retention-days inf is not a number"),
    (["runbook", "runs", "--limit", "99999999999999999999"], '--limit "99999999999999999999" is not a number'),
    (["outbox", "list", "--limit", "1e9"], '--limit "1e9" is not a number'),
]


@pytest.mark.full_answers
def test_hostile_values_of_the_newer_flags_are_usage_errors_that_open_and_send_nothing(tmp_path, sandbox, journal):
    """Each was a traceback-class internal error, or quietly a directory named after the value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(sandbox_env(sandbox), XDG_STATE_HOME=str(tmp_path / "home"),
               PAGERDUTY_OUTBOX=f"sqlite:///{tmp_path / 'home' / 'outbox.sqlite'}")
    work = tmp_path / "cwd"
    work.mkdir()
    for argv, cause in HOSTILE_VALUES:
        done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", *argv], input=b"{}", capture_output=True,
                              env=env, cwd=work, timeout=60)
        out, err = done.stdout.decode(), done.stderr.decode()
        assert done.returncode == 2 and err == "" and CANARY not in out, (argv[:6], out, err)
        error = json.loads(out)["error"]
        assert error["cause"].startswith(cause) and error["assistance"], (argv[:6], error)
    assert list(tmp_path.iterdir()) == [work] and list(work.iterdir()) == []  # no store, no directory
    assert journal() == []


HOSTILE_STATES = [("  ", "PAGERDUTY_STATE is empty"), ("sqlite:///state", "PAGERDUTY_STATE names a sqlite:// URL"),
                  (f"mysql://u:{CANARY}@db/x", "PAGERDUTY_STATE names a mysql:// URL"),
                  (os.path.join(EXAMPLES, "triage.yaml"), "PAGERDUTY_STATE " + os.path.join(EXAMPLES, "triage.yaml"))]


@pytest.mark.full_answers
def test_hostile_values_of_pagerduty_state_are_refused_by_the_flags_rule_naming_the_variable(tmp_path, sandbox,
                                                                                            journal):
    """The variable was read unchecked: a directory `./mysql:/u:PW@db/x/` (the password printed), one of spaces."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(sandbox_env(sandbox), XDG_STATE_HOME=str(tmp_path / "home"), PAGERDUTY_OUTBOX="sqlite://")
    work = tmp_path / "cwd"
    work.mkdir()
    for value, cause in HOSTILE_STATES:
        for argv in (["state", "status"], ["state", "migrate"], ["trigger", "incident_event", "--once"],
                     ["runbook", "serve", EXAMPLES, "--once"], ["outbox", "status"], ["http", "--port", "0"]):
            done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", *argv], capture_output=True,
                                  env={**env, "PAGERDUTY_STATE": value}, cwd=work, timeout=60)
            out, err = done.stdout.decode(), done.stderr.decode()
            assert done.returncode == 2 and CANARY not in out + err and "Traceback" not in err, (value, argv, out, err)
            assert json.loads(out)["error"]["cause"].startswith(cause), (value, argv, out)
    assert list(tmp_path.iterdir()) == [work] and list(work.iterdir()) == []  # no store, no directory
    assert journal() == []


def test_the_command_list_names_every_subcommand_of_runbook():
    from pagerduty_plugin.runbooks.command import build_parser

    (choices,) = [action.choices for action in build_parser()._actions if getattr(action, "choices", None)]
    listing = subprocess.run([sys.executable, "-m", "pagerduty_plugin", "--help"], capture_output=True, text=True,
                             cwd=ROOT, timeout=60).stdout
    entry = " ".join(listing[listing.index("    runbook "):listing.index("    outbox ")].split())
    assert [name for name in choices if not re.search(rf"\b{name}\b", entry)] == [], entry
