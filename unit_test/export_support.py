"""Shared by the export tests: exporting through the CLI, and the platforms' published schemas."""

import functools
import glob
import os
import subprocess
import sys
import tempfile

import pytest
import yaml

from conftest import ROOT, invoke

DATA = os.path.join(ROOT, "unit_test", "data")


def export(platform, directory, *extra):
    if platform == "stackstorm" and "--wheel" not in extra:
        extra = (*extra, "--wheel", plugin_wheel())
    result = invoke(["export", platform, str(directory), *extra])
    assert result.code == 0, result.stdout
    return result.doc


@functools.lru_cache(maxsize=None)
def plugin_wheel():
    """The plugin's wheel, built once per test session as the README says: `pip wheel --no-deps -w dist .`."""
    out = tempfile.mkdtemp(prefix="pagerduty-plugin-wheel-")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, ROOT],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"pip wheel of the repository failed:\n{done.stderr[-3000:]}")
    return glob.glob(os.path.join(out, "pagerduty_plugin-*.whl"))[0]


def data_file(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def tree_bytes(directory):
    """{relative path: bytes} of every file under directory."""
    found = {}
    for here, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(here, name)
            with open(path, "rb") as fh:
                found[os.path.relpath(path, directory)] = fh.read()
    return found


def connection_of(sandbox):
    info = sandbox.info
    return {"api_key": info["api_key"], "routing_key": info["routing_key"], "from_email": info["from_email"],
            "api_url": info["api_url"], "events_url": info["events_url"], "timeout": 5, "max_retries": 3}
