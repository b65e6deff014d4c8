"""InsightConnect's runtime command line: Rapid7's orchestrator starts a plugin's container as
`http --process_workers N --threads_per_worker M` (with `--debug` before the command when asked) and
calls it on 0.0.0.0:10001 inside the container's network, without a token. The image (Dockerfile:
PAGERDUTY_PLUGIN_HTTP=insightconnect) answers it there; `http` on a host keeps its safe defaults."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests
from conftest import ROOT, run_command, sandbox_env, start_message

from pagerduty_plugin.server import command as http_command


def start(args, env):
    """`pagerduty-plugin ARGS` in a subprocess until its ready line: (process, url)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**full_env, **env}, cwd=ROOT)
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise AssertionError(process.stderr.read().decode())
    return process, json.loads(line)["url"]


@pytest.fixture
def started():
    processes = []

    def run(args, env):
        process, url = start(args, env)
        processes.append(process)
        return process, url

    yield run
    for process in processes:
        process.terminate()
        process.wait(40)
        process.stdout.close()
        process.stderr.close()


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
        return fh.read().split()


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/task"), reason="counts worker processes in /proc")
def test_the_runtimes_command_line_serves_with_its_workers_and_threads(started, sandbox, tmp_path):
    env = {**sandbox_env(sandbox), "XDG_STATE_HOME": str(tmp_path)}
    process, url = started(["--debug", "http", "--process_workers", "3", "--threads_per_worker", "2", "--port", "0"],
                           env)
    assert requests.get(url + "/api/v1/status", timeout=30).json() == {"status": "Ready"}
    deadline = time.monotonic() + 60  # gunicorn says it is ready before it has forked every worker
    while len(children(process.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children(process.pid)) == 3  # gunicorn's workers: --process_workers means --workers
    parsed = http_command.build_parser().parse_args(["--process_workers", "3", "--threads_per_worker", "2"])
    assert (parsed.workers, parsed.threads) == (3, 2)


def test_the_image_answers_the_orchestrator_on_every_address_without_a_token(started, sandbox, connection, tmp_path):
    env = {**sandbox_env(sandbox), "XDG_STATE_HOME": str(tmp_path), "PAGERDUTY_PLUGIN_HTTP": "insightconnect"}
    _, url = started(["http", "--process_workers", "1", "--threads_per_worker", "2", "--port", "0"], env)
    assert url.startswith("http://0.0.0.0:")
    local = url.replace("0.0.0.0", "127.0.0.1")
    message = start_message("send_trigger_event", {"description": "from the orchestrator"}, connection)
    answer = requests.post(local + "/api/v1/actions/send_trigger_event", json=message, timeout=30)  # no token
    assert answer.status_code == 200 and answer.json()["body"]["status"] == "ok"


def test_the_images_place_is_port_10001_on_every_address_and_a_hosts_is_loopback(monkeypatch):
    monkeypatch.setenv("PAGERDUTY_PLUGIN_HTTP", "insightconnect")
    image = http_command.build_parser(http_command.place()).parse_args([])
    assert (image.host, image.port) == ("0.0.0.0", 10001)
    http_command.check_arguments(image, http_command.place()["open"])  # no token wanted there
    monkeypatch.delenv("PAGERDUTY_PLUGIN_HTTP")
    host = http_command.build_parser(http_command.place()).parse_args([])
    assert (host.host, host.port) == ("127.0.0.1", 8000)


def test_on_a_host_every_other_address_still_wants_a_token():
    for argv in (["http", "--host", "0.0.0.0", "--port", "0"], ["--debug", "http", "--host", "::", "--port", "0"]):
        result = run_command(argv)
        assert result.code == 2 and "without a token" in result.doc["error"]["cause"]


def test_an_unknown_place_is_refused():
    result = run_command(["http", "--port", "0"], env={"PAGERDUTY_PLUGIN_HTTP": "everywhere"})
    assert result.code == 2 and "PAGERDUTY_PLUGIN_HTTP" in result.doc["error"]["cause"]
