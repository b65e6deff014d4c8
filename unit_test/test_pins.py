"""requirements.txt's pins are what users deploy with (the Docker image installs them, then the package with
--no-deps), so they are checked as a whole: in the venvs where test_python_versions.py runs the suite's core on
them (3.8 and 3.13, one per branch of the pins' markers), the plugin's dependencies, followed through every
package's own requirements, are exactly the pinned packages at exactly the pinned versions: nothing the plugin
needs floats, nothing pinned is unneeded, and the test tools installed beside them moved none.
(That each pin lies inside pyproject.toml's range is test_packaging.py's check.)"""

import json
import subprocess

import cached_env
import pytest
from packaging.utils import canonicalize_name
from test_packaging import pins_for, pinned_requirements, read, tomllib
from test_python_versions import VERSIONS

# Run inside the pinned venv: the installed distributions the given requirements need, transitively.
CLOSURE = r"""
import json, sys
from importlib.metadata import distribution
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

found, todo = {}, [(Requirement(r), "") for r in json.loads(sys.argv[1])]
while todo:
    requirement, extra = todo.pop()
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
        continue
    name = canonicalize_name(requirement.name)
    extras = sorted(requirement.extras)
    if (name, tuple(extras)) in found:
        continue
    found[(name, tuple(extras))] = dist = distribution(requirement.name)
    for wanted in extras or [""]:
        todo += [(Requirement(r), wanted) for r in dist.requires or []]
print(json.dumps({name: dist.version for (name, _), dist in found.items()}))
"""


def runtime_requirements():
    """pyproject.toml's dependencies and the `server` extra's (gunicorn): what requirements.txt pins."""
    project = tomllib.loads(read("pyproject.toml"))["project"]
    return project["dependencies"] + project["optional-dependencies"]["server"]


@pytest.mark.slow
@pytest.mark.skipif(tomllib is None, reason="reads pyproject.toml with tomllib (Python 3.11+)")
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_pins_are_exactly_what_the_plugin_needs_installed_as_pinned(version):
    python = cached_env.venv(f"core-{version}", [str(r) for r in pinned_requirements()] + VERSIONS[version],
                             python=version)  # test_python_versions.py's venv: built once for both
    installed = closure(python, runtime_requirements())
    pinned = {canonicalize_name(name): pin for name, pin in pins_for(version).items()}
    assert installed == pinned


def closure(python, requirements):
    done = subprocess.run([python, "-c", CLOSURE, json.dumps(requirements)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_the_walk_follows_requirements_and_leaves_out_unasked_extras_and_other_pythons():
    """The control, in this test run's own environment: requests brings urllib3, idna, certifi and
    charset-normalizer, not its `socks` extra's PySocks; a marker for another Python brings nothing."""
    import sys

    found = closure(sys.executable, ["requests", 'backports.zoneinfo>=0.2.1; python_version < "3.0"'])
    assert set(found) == {"requests", "urllib3", "idna", "certifi", "charset-normalizer"}
