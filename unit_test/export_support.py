"""Shared by the export tests: exporting through the CLI, and the platforms' published schemas."""

import os

import yaml

from conftest import ROOT, invoke

DATA = os.path.join(ROOT, "unit_test", "data")


def export(platform, directory):
    result = invoke(["export", platform, str(directory)])
    assert result.code == 0, result.stdout
    return result.doc


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
