"""The suite's core on the oldest and the newest supported Python (3.8 and 3.13): the runner, the REST client, the
command line and its contract, the spec, bad input, events and incidents against the sandbox. Each
runs in a venv of that Python holding requirements.txt's pins for it and the test tools
(cached_env: built once, keyed by the pins), with this tree's package on its path, both at once."""

import os
import subprocess

import cached_env
import pytest
from conftest import ROOT
from test_packaging import pinned_requirements

VERSIONS = {  # the test tools' last releases for each Python
    "3.8": ["pytest==8.3.5", "openapi-core==0.19.5"],
    "3.13": ["pytest==9.2.0", "openapi-core==0.23.1"],
}
CORE = ["test_runner.py", "test_cli_contract.py", "test_command_lines.py", "test_spec.py", "test_bad_input.py",
        "test_constraints.py", "test_events.py", "test_incidents_core.py", "test_prebuilt.py", "test_rest_client.py"]


def start(version):
    """The core's pytest on `version`, started: (process, None), or (None, why it cannot run)."""
    try:
        python = cached_env.venv(f"core-{version}", [str(r) for r in pinned_requirements()] + VERSIONS[version],
                                 python=version)
    except pytest.skip.Exception as exc:
        return None, str(exc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT  # this tree's package, as the rest of the suite runs it
    command = [python, "-m", "pytest", *(os.path.join("unit_test", name) for name in CORE), "-q", "-x",
               "-p", "no:cacheprovider", "-m", "not slow"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT), None


@pytest.fixture(scope="module")
def runs():
    """Both Pythons' runs started together (two cores: about the time of one)."""
    started = {version: start(version) for version in VERSIONS}
    yield started
    for process, _ in started.values():
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_core_of_the_suite_passes_on(version, runs):
    process, why_not = runs[version]
    if process is None:
        pytest.skip(why_not)
    output, _ = process.communicate(timeout=900)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"Python {version}:\n{text[-6000:]}"
    assert " passed" in text.splitlines()[-1]
