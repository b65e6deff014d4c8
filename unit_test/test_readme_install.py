"""The README's install steps, run exactly as written, from a clean copy of this repository (the files git
tracks), each in a HOME of its own: from the checkout, the wheel built once and installed elsewhere, and
InsightConnect's image. No Docker daemon, nor Docker Hub, can be had here: the image's path is proven by
running the Dockerfile's own instructions (ENV, WORKDIR, RUN, ENTRYPOINT) in a venv, then starting its
entrypoint as InsightConnect's orchestrator does."""

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import requests
from conftest import ROOT
from test_packaging import source_copy

BLOCK = re.compile(r"<!-- install: ([a-z]+) -->\n```sh\n(.*?)```", re.S)


def readme_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        return dict(BLOCK.findall(fh.read()))


def clean_env(home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PAGERDUTY_", "XDG_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**env, "HOME": str(home), **extra}


def test_the_readme_has_an_install_block_for_each_path():
    assert set(readme_blocks()) == {"checkout", "wheel", "insightconnect"}
    steps = "\n".join(readme_blocks().values())
    assert not re.search(r"pip install[^\n`]*pagerduty-plugin|pagerduty-plugin(\[|==)", steps)


def test_nothing_tells_users_to_install_the_plugin_from_a_package_index():
    """The package is on no index: no `pip install pagerduty-plugin…` anywhere a user reads (the exports'
    own generated files are their engineer's and checked by their tests)."""
    told = re.compile(r"pip install[^\n`]*pagerduty-plugin|pagerduty-plugin\[|pagerduty-plugin==")
    places = ["README.md", "Dockerfile", "Makefile", "help.md"]
    for folder, _, files in os.walk(os.path.join(ROOT, "pagerduty_plugin")):
        if os.sep + "exports" not in folder and "__pycache__" not in folder:
            places += [os.path.relpath(os.path.join(folder, n), ROOT) for n in files if n.endswith(".py")]
    for name in places:
        with open(os.path.join(ROOT, name), encoding="utf-8") as fh:
            assert not told.search(fh.read()), f"{name} tells users to install the plugin from an index"


@pytest.mark.slow
def test_the_checkout_and_wheel_install_blocks_run_as_written(tmp_path):
    blocks = readme_blocks()
    runs = {}
    for name in ("checkout", "wheel"):  # both at once: each waits mostly on pip and the package index
        home = tmp_path / name / "home"
        home.mkdir(parents=True)
        source = source_copy(tmp_path / name / "source")
        runs[name] = subprocess.Popen(["bash", "-euo", "pipefail", "-c", blocks[name]], cwd=source,
                                      env=clean_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for name, process in runs.items():
        output, _ = process.communicate(timeout=900)
        text = output.decode(errors="replace")
        assert process.returncode == 0 and text.rstrip().endswith("installed"), f"{name}:\n{text[-3000:]}"


def dockerfile_instructions():
    with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as fh:
        text = re.sub(r"\\\n\s*", " ", fh.read())
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            yield word.upper(), rest.strip()


@pytest.mark.slow
def test_the_images_install_steps_run_as_the_dockerfile_writes_them(tmp_path):
    """`docker build .` as the README says, restated: the Dockerfile's RUN lines in its WORKDIR (a clean copy
    of the repository) with its ENV, by a venv's Python standing in for the image's; then its ENTRYPOINT
    started as InsightConnect's orchestrator starts it answers on every address without a token."""
    assert readme_blocks()["insightconnect"].strip() == "docker build -t pagerduty-plugin:3.0.0 ."
    source, venv, home = source_copy(tmp_path / "src"), tmp_path / "venv", tmp_path / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = clean_env(home, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
    entrypoint, ran = None, []
    for word, rest in dockerfile_instructions():
        if word == "ENV":
            name, _, value = rest.partition("=")
            env[name] = value
        elif word == "RUN":
            done = subprocess.run(["sh", "-ec", rest], cwd=source, env=env, capture_output=True, text=True,
                                  timeout=900)
            assert done.returncode == 0, f"RUN {rest}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            ran.append(rest)
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        else:
            assert word in ("FROM", "LABEL", "WORKDIR", "ADD", "USER", "EXPOSE"), word  # nothing unread
    assert len(ran) == 2 and entrypoint == ["/usr/local/bin/pagerduty-plugin"]
    command = [str(venv / "bin" / "pagerduty-plugin"), "--debug", "http", "--process_workers", "1",
               "--threads_per_worker", "2", "--port", "0"]  # --port 0: the image's 10001 may be taken here
    process = subprocess.Popen(command, cwd="/", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline()
        assert line, process.stderr.read().decode()[-2000:]
        url = json.loads(line)["url"]
        assert url.startswith("http://0.0.0.0:"), shlex.join(command)
        local = url.replace("0.0.0.0", "127.0.0.1")
        assert requests.get(local + "/api/v1/info", timeout=30).json()["name"] == "pagerduty"  # no token asked
    finally:
        process.terminate()
        process.communicate(timeout=40)
