"""Packaging: pyproject.toml builds the standard way (isolated) with the spec prebuilt into every wheel
and sdist, and a failed prebuild fails the build; requirements.txt pins, per Python, what pyproject.toml
asks for; the Dockerfile builds with it, enters this plugin's own command and answers InsightConnect's
orchestrator as it calls."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import cached_env
import pytest
from conftest import ROOT
from packaging.markers import default_environment
from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

NO_INDEX_NOTE = "the package index is unreachable"


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as fh:
        return fh.read()


def pinned_requirements():
    lines = [line.split("#")[0].strip() for line in read("requirements.txt").splitlines()]
    return [Requirement(line) for line in lines if line]


def pins_for(python_version):
    """{name: version} that requirements.txt pins on Python `python_version` ("3.8")."""
    environment = {**default_environment(), "python_version": python_version, "python_full_version":
                   python_version + ".0"}
    found = {}
    for requirement in pinned_requirements():
        if requirement.marker is None or requirement.marker.evaluate(environment):
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"requirements.txt: {requirement} is not pinned with =="
            name = requirement.name.lower()
            assert name not in found, f"requirements.txt pins {name} twice on Python {python_version}"
            found[name] = specifier.version
    return found


@pytest.mark.skipif(tomllib is None, reason="reads pyproject.toml with tomllib (Python 3.11+)")
@pytest.mark.parametrize("python_version", ["3.8", "3.9", "3.11", "3.13"])
def test_every_dependency_is_pinned_inside_the_range_pyproject_allows(python_version):
    project = tomllib.loads(read("pyproject.toml"))["project"]
    environment = {**default_environment(), "python_version": python_version}
    pinned = pins_for(python_version)
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["server"]]
    wanted = [r for r in wanted if r.marker is None or r.marker.evaluate(environment)]
    assert {r.name.lower() for r in wanted} <= set(pinned), f"not pinned for Python {python_version}"
    for requirement in wanted:
        version = pinned[requirement.name.lower()]
        assert requirement.specifier.contains(version), f"{requirement.name}=={version} is outside {requirement}"
    assert project["requires-python"] == ">=3.8"


@pytest.mark.skipif(tomllib is None, reason="reads pyproject.toml with tomllib (Python 3.11+)")
@pytest.mark.parametrize("python_version", ["3.8", "3.13"])
def test_the_build_prebuilds_with_the_fastjsonschema_the_plugin_runs_with(python_version):
    """A prebuilt validator is keyed by the fastjsonschema version that wrote it: the build's must be the pin."""
    environment = {**default_environment(), "python_version": python_version}
    required = [Requirement(r) for r in tomllib.loads(read("pyproject.toml"))["build-system"]["requires"]]
    (fastjsonschema,) = [r for r in required if r.name == "fastjsonschema" and r.marker.evaluate(environment)]
    assert str(fastjsonschema.specifier) == f"=={pins_for(python_version)['fastjsonschema']}"


def test_the_dockerfile_builds_the_package_and_answers_the_orchestrator_as_it_calls():
    dockerfile = read("Dockerfile")
    assert re.search(r"^FROM (--platform=\S+ )?rapid7/insightconnect-python-3-slim-plugin:\d", dockerfile, re.M)
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "--no-deps ." in dockerfile  # the plugin itself adds nothing unpinned
    assert 'ENTRYPOINT ["/usr/local/bin/pagerduty-plugin"]' in dockerfile
    assert re.search(r"^ENV PAGERDUTY_PLUGIN_HTTP=insightconnect$", dockerfile, re.M)
    assert re.search(r"^EXPOSE 10001$", dockerfile, re.M)
    assert 'pagerduty-plugin = "pagerduty_plugin.cli:main"' in read("pyproject.toml")


def reachable_or_skip(python, output):
    probe = subprocess.run([python, "-m", "pip", "download", "--no-deps", "--dest", os.devnull + ".d", "setuptools"],
                           capture_output=True, text=True, timeout=300)
    shutil.rmtree(os.devnull + ".d", ignore_errors=True)
    if probe.returncode:
        pytest.skip(f"{NO_INDEX_NOTE} (an isolated build installs setuptools from it): {output[-300:]}")


def build(source, outdir, *args):
    done = subprocess.run([sys.executable, "-m", "build", *args, "--outdir", str(outdir), str(source)],
                          capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`python -m build` as a user runs it: isolated, the sdist first, then the wheel made from it."""
    pytest.importorskip("build", reason="the `build` package is a test dependency (pip install '.[test]')")
    outdir = tmp_path_factory.mktemp("dist")
    code, output = build(source_copy(tmp_path_factory.mktemp("source")), outdir)
    if code:
        reachable_or_skip(sys.executable, output)
    assert code == 0, output[-3000:]
    (wheel,) = outdir.glob("*.whl")
    (sdist,) = outdir.glob("*.tar.gz")
    return wheel, sdist


def source_copy(target):
    """The files git tracks (a clean checkout), without anything a local build or `make install` left."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if listed.returncode:
        pytest.skip("not a git checkout (the test builds from the files git tracks)")
    for name in listed.stdout.decode().split("\0"):
        if name and os.path.isfile(os.path.join(ROOT, name)):
            os.makedirs(os.path.join(target, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(target, name))
    return target


def prebuilt_names(names, prefix=""):
    return {name[len(prefix):] for name in names if name.startswith(prefix + "pagerduty_plugin/")}


@pytest.mark.slow
def test_the_wheel_and_the_sdist_carry_the_spec_and_its_prebuilt_validators(built):
    wheel, sdist = built
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = prebuilt_names(archive.namelist())
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0] + "/"
        in_sdist = prebuilt_names(archive.getnames(), top)
        assert top + "plugin.spec.yaml" in archive.getnames()  # a wheel made from the sdist prebuilds again
    for names in (in_wheel, in_sdist):
        assert {"pagerduty_plugin/plugin.spec.yaml", "pagerduty_plugin/prebuilt/__init__.py",
                "pagerduty_plugin/prebuilt/spec.json", "pagerduty_plugin/sandbox/web/index.html",
                "pagerduty_plugin/runbooks/runbook.schema.json"} <= names
        assert len([n for n in names if re.fullmatch(r"pagerduty_plugin/prebuilt/v_[0-9a-f]+\.py", n)]) > 100
    assert not any("__pycache__" in name for name in in_wheel | in_sdist)


@pytest.mark.slow
def test_the_installed_wheel_starts_from_its_prebuilt_spec_outside_the_tree(built, tmp_path):
    """Installed (with its dependencies at requirements.txt's pins) and run from elsewhere with an empty
    HOME: no YAML parsed, nothing written to HOME; `http` without the server extra says how to add it."""
    wheel, _ = built
    deps = cached_env.venv("wheel-deps", [str(r) for r in pinned_requirements() if r.name != "gunicorn"])
    target, home = tmp_path / "site", tmp_path / "home"
    home.mkdir()
    subprocess.run([deps, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(target))
    step = subprocess.run([deps, "-X", "importtime", "-m", "pagerduty_plugin", "run", "send_trigger_event"],
                          input=b'{"description": "x", "severity": "fatal"}', capture_output=True, env=env,
                          cwd=str(tmp_path), timeout=60)
    assert step.returncode == 1 and b"must be one of critical" in step.stdout, step.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in step.stderr.decode().splitlines() if "|" in line}
    assert "yaml" not in imported and list(home.iterdir()) == []
    server = subprocess.run([deps, "-m", "pagerduty_plugin", "http", "--port", "0"], capture_output=True, env=env,
                            cwd=str(tmp_path), timeout=60)
    assert server.returncode == 1 and b"server" in server.stdout and b"Traceback" not in server.stderr


@pytest.mark.slow
def test_a_spec_that_fails_to_prebuild_fails_the_build(tmp_path):
    pytest.importorskip("build", reason="the `build` package is a test dependency (pip install '.[test]')")
    source = source_copy(tmp_path / "source")
    spec = source / "plugin.spec.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("type: string", "type: no_such_type", 1), encoding="utf-8")
    code, output = build(source, tmp_path / "dist", "--wheel")
    if code and "no_such_type" not in output:
        reachable_or_skip(sys.executable, output)
    assert code != 0 and "plugin.spec.yaml is invalid" in output and "no_such_type" in output
    assert not list((tmp_path / "dist").glob("*.whl"))
