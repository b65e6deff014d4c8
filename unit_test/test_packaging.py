"""InsightConnect's packaging: requirements.txt pins what setup.py asks for, and the Dockerfile
installs those pins and enters this plugin's own command."""

import os
import re
from importlib import metadata

from conftest import ROOT
from packaging.requirements import Requirement


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as fh:
        return fh.read()


def pins():
    found = {}
    for line in read("requirements.txt").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            found[name.lower()] = version
    return found


def test_every_dependency_is_pinned_inside_the_range_setup_py_allows():
    pinned = pins()
    required = [Requirement(r) for r in metadata.requires("pagerduty-plugin") or [] if "extra ==" not in r]
    assert required
    for requirement in required:
        name = requirement.name.lower()
        assert name in pinned, f"{name} is not pinned in requirements.txt"
        assert requirement.specifier.contains(pinned[name]), f"{name}=={pinned[name]} is outside {requirement}"


def test_the_dockerfile_installs_the_pins_and_enters_the_plugin_command():
    dockerfile = read("Dockerfile")
    assert re.search(r"^FROM (--platform=\S+ )?rapid7/insightconnect-python-3-slim-plugin:\d", dockerfile, re.M)
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "--no-deps ." in dockerfile  # the plugin itself adds nothing unpinned
    assert 'ENTRYPOINT ["/usr/local/bin/pagerduty-plugin"]' in dockerfile
    assert "pagerduty-plugin=pagerduty_plugin.cli:main" in read("setup.py")
