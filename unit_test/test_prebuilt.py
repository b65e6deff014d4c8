"""The spec and its validators are prebuilt at install time: a first step with an empty HOME
parses no YAML and compiles nothing, and no code is ever loaded from a user-writable cache."""

import hashlib
import json
import marshal
import os
import subprocess
import sys

import fastjsonschema
import pytest
from conftest import ROOT

from pagerduty_plugin import spec as speclib

BAD_INPUT = b'{"description": "x", "severity": "fatal"}'


def fresh_env(home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PAGERDUTY_") and k not in ("XDG_CACHE_HOME", "HOME")}
    return {**env, "HOME": str(home), **extra}


def plugin(args, env, stdin=b"{}", python_flags=()):
    return subprocess.run([sys.executable, *python_flags, "-m", "pagerduty_plugin", *args], input=stdin,
                          capture_output=True, env=env, cwd=ROOT, timeout=60)


def test_a_first_step_with_an_empty_home_parses_no_yaml(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    done = plugin(["run", "send_trigger_event"], fresh_env(home), BAD_INPUT, python_flags=("-X", "importtime"))
    assert done.returncode == 1 and b"must be one of critical" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines() if "|" in line}
    assert "yaml" not in imported
    assert list(home.iterdir()) == [], "nothing was written to the empty HOME"


def old_cache_path(cache, schema):
    """Where the plugin before the prebuilt validators read a marshalled validator from."""
    key = hashlib.sha256(json.dumps([fastjsonschema.VERSION, schema], sort_keys=True).encode()).hexdigest()[:24]
    return cache / "validators" / f"v_{key}.{sys.implementation.cache_tag}.bin"


def test_a_validator_planted_in_the_cache_never_runs(tmp_path):
    cache, canary = tmp_path / "cache", tmp_path / "planted-code-ran"
    schema = speclib.load().input_schema("send_trigger_event")
    planted = compile(f"def validate(data, **kw):\n    open({str(canary)!r}, 'w').close()\n    return data\n",
                      "<planted>", "exec")
    path = old_cache_path(cache, schema)
    path.parent.mkdir(parents=True)
    path.write_bytes(marshal.dumps(planted))
    done = plugin(["run", "send_trigger_event"], fresh_env(tmp_path, PAGERDUTY_PLUGIN_CACHE=str(cache)), BAD_INPUT)
    assert done.returncode == 1 and b"must be one of critical" in done.stdout
    assert not canary.exists()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file ownership is a POSIX notion")
def test_a_parsed_spec_in_a_cache_others_can_write_is_not_trusted(tmp_path):
    with open(speclib.spec_path(), "rb") as fh:
        edited = fh.read() + b"\n# edited after the build\n"
    yaml_path = tmp_path / "plugin.spec.yaml"
    yaml_path.write_bytes(edited)
    cache = tmp_path / "cache"
    cache.mkdir()
    raw = speclib.parse_yaml(edited)
    raw["actions"]["send_trigger_event"]["input"]["severity"].pop("enum")  # validation switched off
    planted = cache / f"spec-{hashlib.sha256(edited).hexdigest()[:24]}.json"
    planted.write_text(json.dumps(raw))
    cache.chmod(0o777)
    env = fresh_env(tmp_path, PAGERDUTY_PLUGIN_CACHE=str(cache), PAGERDUTY_PLUGIN_SPEC=str(yaml_path))
    done = plugin(["run", "send_trigger_event"], env, BAD_INPUT)
    assert done.returncode == 1 and b"must be one of critical" in done.stdout
    cache.chmod(0o700)
    planted.write_text(json.dumps(raw))  # the run above wrote the genuine parse over it
    planted.chmod(0o600)
    done = plugin(["run", "send_trigger_event"], env, BAD_INPUT)  # this user's own cache is used
    assert b"must be one of critical" not in done.stdout
