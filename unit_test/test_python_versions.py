"""The suite's core on the oldest and the newest supported Python (3.8 and 3.13): the runner, the REST client, the
command line and its contract, the spec, bad input, events and incidents against the sandbox. Each
runs in a venv of that Python holding requirements.txt's pins for it and the test tools
(cached_env: built once, keyed by the pins), both at once. On 3.13 the package is the wheel built the standard
way and installed beside the pins with --no-deps, as the Docker image installs it (PYTHONSAFEPATH keeps the
tree off sys.path, for pytest and for the CLI processes the tests start); 3.8, which has no PYTHONSAFEPATH,
runs this tree's package from its path."""

import os
import subprocess
import sys

import cached_env
import pytest
from conftest import ROOT
from test_packaging import build, pinned_requirements, reachable_or_skip, source_copy

VERSIONS = {  # the test tools' last releases for each Python
    "3.8": ["pytest==8.3.5", "openapi-core==0.19.5"],
    "3.13": ["pytest==9.2.0", "openapi-core==0.23.1"],
}
INSTALLED = {"3.13"}  # Pythons (3.11+) whose run uses the installed wheel rather than the tree
CORE = ["test_runner.py", "test_cli_contract.py", "test_command_lines.py", "test_spec.py", "test_bad_input.py",
        "test_constraints.py", "test_events.py", "test_incidents_core.py", "test_prebuilt.py", "test_rest_client.py"]


def wheel(workdir):
    """The package's wheel, built as a user builds it (isolated, from the files git tracks)."""
    code, output = build(source_copy(workdir / "source"), workdir / "dist", "--wheel")
    if code:
        reachable_or_skip(sys.executable, output)
    assert code == 0, output[-3000:]
    (built,) = (workdir / "dist").glob("*.whl")
    return built


def start(version, workdir, built):
    """The core's pytest on `version`, started: (process, None, the package it imports), or (None, why it
    cannot run, None)."""
    try:
        python = cached_env.venv(f"core-{version}", [str(r) for r in pinned_requirements()] + VERSIONS[version],
                                 python=version)
    except pytest.skip.Exception as exc:
        return None, str(exc), None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT  # this tree's package, as the rest of the suite runs it
    if version in INSTALLED:
        site = workdir / f"site-{version}"
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(built)],
                       check=True, capture_output=True, timeout=300)
        env.update(PYTHONPATH=str(site), PYTHONSAFEPATH="1")
    package = subprocess.run([python, "-c", "import pagerduty_plugin; print(pagerduty_plugin.__file__)"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    command = [python, "-m", "pytest", *(os.path.join("unit_test", name) for name in CORE), "-q", "-x",
               "-p", "no:cacheprovider", "-m", "not slow"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return process, None, package


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both Pythons' runs started together (two cores: about the time of one)."""
    pytest.importorskip("build", reason="the `build` package is a test dependency (pip install '.[test]')")
    workdir = tmp_path_factory.mktemp("core")
    built = wheel(workdir)
    started = {version: start(version, workdir, built) for version in VERSIONS}
    yield started
    for process, _, _ in started.values():
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_core_of_the_suite_passes_on(version, runs):
    process, why_not, package = runs[version]
    if process is None:
        pytest.skip(why_not)
    installed = version in INSTALLED
    assert package and package.startswith(ROOT) != installed, f"Python {version} imports {package!r}"
    output, _ = process.communicate(timeout=900)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"Python {version}:\n{text[-6000:]}"
    assert " passed" in text.splitlines()[-1]
