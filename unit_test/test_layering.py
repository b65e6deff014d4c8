"""DESIGN §2's layering, checked on the imports themselves."""

import ast
import os
import subprocess

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "pagerduty_plugin")
GENERIC = ("spec", "constraints", "runner", "errors", "cli", "validate", "cache", "logs", "helpdoc", "messages",
           "trigger_loop", "trigger_message", "command_io", "connection_settings", "consumer_group")
ENTRY_POINTS = ("__main__.py",)  # what may import the command line: `python -m pagerduty_plugin` (and bin/, setup)


def imports_of(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: stays inside its own folder
                base = f".{base}"
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def names(imported, part):
    """True when imported is the package part `part` or something inside it."""
    target = f"pagerduty_plugin.{part}"
    return imported == target or imported.startswith(target + ".")


def modules_under(folder):
    for here, _, files in os.walk(folder):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(here, name)


def test_generic_modules_do_not_import_pagerduty_parts_by_name():
    for name in GENERIC:
        for imported in imports_of(os.path.join(PACKAGE, f"{name}.py")):
            for part in ("actions", "client", "sandbox", "connection"):
                assert not names(imported, part), (name, imported)


def test_nothing_imports_the_command_line_but_its_entry_point():
    """cli.py sits on top: what it runs takes shared helpers from below it (command_io, connection_settings),
    so the command line and what it dispatches to never form a circle."""
    for path in modules_under(PACKAGE):
        if os.path.relpath(path, PACKAGE) in ENTRY_POINTS:
            continue
        for imported in imports_of(path):
            assert not names(imported, "cli"), (path, imported)


def test_client_knows_nothing_of_actions_runner_or_spec():
    for path in modules_under(os.path.join(PACKAGE, "client")):
        for imported in imports_of(path):
            for part in ("actions", "runner", "spec", "cli", "sandbox", "connection"):
                assert not names(imported, part), (path, imported)


def test_sandbox_imports_nothing_from_the_rest_of_the_package():
    for path in modules_under(os.path.join(PACKAGE, "sandbox")):
        for imported in imports_of(path):
            assert not imported.startswith("pagerduty_plugin"), (path, imported)


def test_actions_use_the_client_and_errors_not_the_runner():
    for path in modules_under(os.path.join(PACKAGE, "actions")):
        for imported in imports_of(path):
            for part in ("runner", "cli", "spec", "sandbox"):
                assert not names(imported, part), (path, imported)


def test_runbooks_run_actions_only_through_the_runner():
    for path in modules_under(os.path.join(PACKAGE, "runbooks")):
        for imported in imports_of(path):
            for part in ("actions", "client", "sandbox", "connection", "triggers", "server"):
                assert not names(imported, part), (path, imported)


def test_the_server_runs_steps_only_through_the_runner():
    for path in modules_under(os.path.join(PACKAGE, "server")):
        for imported in imports_of(path):
            for part in ("actions", "client", "sandbox", "connection", "triggers"):
                assert not names(imported, part), (path, imported)


def test_jmespath_stays_off_the_path_of_run_action():
    import subprocess
    import sys

    code = ("import io, sys; from pagerduty_plugin import cli; "
            "cli.main(['run', 'list_teams'], stdin=io.BytesIO(b'{}'), stdout=io.StringIO(), stderr=io.StringIO()); "
            "cli.build_parser().parse_args(['runbook', 'run', 'x.yaml']); "
            "print('jmespath' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.stdout.strip() == "False", done.stdout + done.stderr


# --- the suite's own fixtures ------------------------------------------------------------------------


def fixtures_in(path):
    """{name: scope} of the pytest fixtures a test file defines."""
    found = {}
    for node in ast.parse(open(path, encoding="utf-8").read()).body:
        for decorator in getattr(node, "decorator_list", ()):
            call = decorator if isinstance(decorator, ast.Call) else None
            target = call.func if call else decorator
            if isinstance(target, ast.Attribute) and target.attr == "fixture":
                scopes = [k.value.value for k in (call.keywords if call else ()) if k.arg == "scope"]
                found[node.name] = scopes[0] if scopes else "function"
    return found


def test_a_fixture_name_means_one_lifetime_and_no_test_imports_a_fixture():
    folder = os.path.join(ROOT, "unit_test")
    files = {name[:-3]: os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py")}
    fixtures = {module: fixtures_in(path) for module, path in files.items()}
    scopes = {}
    for module, found in fixtures.items():
        for name, scope in found.items():
            scopes.setdefault(name, set()).add(scope)
    assert {name: s for name, s in scopes.items() if len(s) > 1} == {}
    for module, path in files.items():
        for imported in imports_of(path):
            source, _, name = imported.rpartition(".")
            assert name not in fixtures.get(source, {}), f"{module} imports the fixture {name} from {source}"


def test_no_file_is_named_like_an_insightconnect_schema_file():
    """Rapid7's OutputValidator (icon_validator/rules/plugin_validators/output_validator.py) reads every file
    of the plugin's tree whose name contains `schema.py` as a generated per-action schema, tests included,
    and fails on anything else."""
    named = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert [path for path in named if "schema.py" in os.path.basename(path)] == []
