"""Environments the tests build once and reuse: virtualenvs of other Pythons and of the platforms'
own tools (Rapid7's validators, Orquesta, demisto-sdk, ...), kept outside the clone and keyed by
what they pin, so a second run of `make test` (or a second clone) pays nothing to build them.

    python = cached_env.venv("orquesta", ["orquesta==1.2.0"], python="3.8")

The cache lives in $PAGERDUTY_PLUGIN_TEST_CACHE, else $XDG_CACHE_HOME/pagerduty-plugin-tests, else
~/.cache/pagerduty-plugin-tests. A venv is built beside its final name and renamed into place whole;
a lock file keeps two concurrent runs from building the same one twice. Run its tools as
`python -m tool`: the scripts in its bin/ carry the scratch path they were built at. Where the interpreter or the
package index cannot be had, the calling test skips and says which and why.
"""

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys

import pytest


def root():
    explicit = os.environ.get("PAGERDUTY_PLUGIN_TEST_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pagerduty-plugin-tests")


def interpreter(version):
    """The path of a Python `version` ("3.8", "3.13"), or None: pyenv's, then one on PATH."""
    if version is None:
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    for candidate in sorted(glob.glob(os.path.join(pyenv, "versions", f"{version}.*", "bin", "python")), reverse=True):
        return candidate
    on_path = shutil.which(f"python{version}")
    if on_path and version_of(on_path) == version:
        return on_path
    return None


def version_of(python):
    done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else None


def key(name, requirements, python):
    full = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                          timeout=60).stdout.strip()
    digest = hashlib.sha256("\n".join([full, *requirements]).encode()).hexdigest()[:16]
    return f"{name}-{digest}"


def venv(name, requirements, python=None, pip_args=()):
    """The python of a venv holding `requirements` (pip specifiers, pinned), built once. Skips the
    calling test, saying why, when the interpreter is absent or the package index unreachable; fails
    it when the index answers but the requirements do not install."""
    base = interpreter(python)
    if base is None:
        pytest.skip(f"Python {python} is not installed (pyenv install {python} makes it available)")
    target = os.path.join(root(), key(name, [*requirements, *pip_args], base))
    python_path = os.path.join(target, "bin", "python")
    if os.path.exists(os.path.join(target, ".complete")):
        return python_path
    os.makedirs(root(), exist_ok=True)
    with open(f"{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run builds it; we wait and reuse it
        if not os.path.exists(os.path.join(target, ".complete")):
            build(base, target, list(requirements), list(pip_args))
    return python_path


def build(base, target, requirements, pip_args):
    scratch = f"{target}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    made = subprocess.run([base, "-m", "venv", scratch], capture_output=True, text=True, timeout=300)
    if made.returncode:
        pytest.skip(f"`{base} -m venv` failed: {last_line(made.stderr)}")
    pip = [os.path.join(scratch, "bin", "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    if requirements:
        done = subprocess.run(pip + ["install", *pip_args, *requirements], capture_output=True, text=True,
                              timeout=1200)
        if done.returncode:
            reachable = subprocess.run(pip + ["download", "--no-deps", "--dest", os.path.join(scratch, "probe"),
                                              *pip_args, requirements[0]], capture_output=True, text=True, timeout=300)
            shutil.rmtree(scratch, ignore_errors=True)
            if reachable.returncode:
                pytest.skip(f"the package index is unreachable (`pip download {requirements[0]}`: "
                            f"{last_line(reachable.stderr)})")
            pytest.fail(f"pip install {' '.join(requirements)} failed:\n{done.stderr[-3000:]}")
    open(os.path.join(scratch, ".complete"), "w").close()
    shutil.rmtree(target, ignore_errors=True)  # an incomplete one left by a killed run
    os.rename(scratch, target)  # the venv's python finds its prefix wherever it is


def last_line(text):
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("WARNING")]
    return lines[-1] if lines else "no message"
