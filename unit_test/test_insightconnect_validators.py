"""Rapid7's own plugin validators (PyPI insight-plugin 1.11.0, `icon_validator.rules.VALIDATORS`)
accept the repository as a clone has it: a `git archive` of HEAD, so commit before running this.

They run from a venv built once and cached outside the clone (cached_env); the test skips, saying
why, when PyPI cannot be reached. Every validator that needs no network passes, except
RuntimeValidator's demand that setup.py install Rapid7's SDK: this plugin brings its own runner.
"""

import io
import json
import os
import subprocess
import tarfile

import cached_env
import pytest
from conftest import ROOT

INSIGHT_PLUGIN = "insight-plugin==1.11.0"
# these ask Rapid7's extension API (VersionValidator, UnapprovedKeywordsValidator) or a git remote
NEEDS_NETWORK = {"VersionValidator", "UnapprovedKeywordsValidator", "VersionBumpValidator"}
SDK_RULE = "Use insightconnect-plugin-runtime instead"
# a proxy on a closed loopback port: a validator that tried the network would fail, not reach out
NO_NETWORK = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}

RUN_VALIDATORS = r"""
import contextlib, io, json, sys
from icon_plugin_spec.plugin_spec import KomandPluginSpec
from icon_validator.rules import VALIDATORS

directory, skipped = sys.argv[1], set(sys.argv[2].split(","))
spec = KomandPluginSpec(directory, "plugin.spec.yaml")
results = {}
for validator in VALIDATORS:
    name = type(validator).__name__
    if name in skipped:
        continue
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            validator.validate(spec)
        results[name] = None
    except Exception as exc:  # a crash counts as a failure, as in Rapid7's own run
        results[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(results))
"""

pytestmark = pytest.mark.slow  # the first run builds the venv (about a minute); later ones take seconds


@pytest.fixture(scope="module")
def validators_python():
    return cached_env.venv("insight-plugin", [INSIGHT_PLUGIN])


@pytest.fixture
def clone(tmp_path):
    """HEAD as a clone has it: committed files only."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", "HEAD"], capture_output=True)
    if archive.returncode:
        pytest.skip(f"not a git checkout: {archive.stderr.decode(errors='replace').strip()}")
    target = tmp_path / "pagerduty"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target


def test_rapid7_validators_accept_the_repository(validators_python, clone):
    result = subprocess.run([validators_python, "-c", RUN_VALIDATORS, str(clone), ",".join(sorted(NEEDS_NETWORK))],
                            capture_output=True, text=True, timeout=300, env={**os.environ, **NO_NETWORK})
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.splitlines()[-1])
    assert len(results) >= 32, sorted(results)  # every validator of the release that needs no network
    failures = {name: cause for name, cause in results.items() if cause}
    sdk_only = failures.get("RuntimeValidator", SDK_RULE)
    assert set(failures) <= {"RuntimeValidator"} and SDK_RULE in sdk_only, json.dumps(failures, indent=2)
