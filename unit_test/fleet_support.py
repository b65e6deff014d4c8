"""A fleet on one machine for the acceptance tests of issue 26: separate processes stand for hosts.

- `Fleet(state, ...)`: N `pagerduty-plugin http` servers on one state (a shared SQLite directory, the
  control, or `postgresql://…`), real nginx in front with the README's configuration, `runbook serve`
  workers, and `trigger` processes. Each process is a host of its own: its own UTS namespace and host
  name when we are root (so a lease holder that dies is taken over when its lease runs out, as across
  machines, not at once as on one host), its own process group (SIGKILL takes a server with its workers).
- `nginx_binary()`: Debian's nginx, installed with apt-get when missing (as postgres_server.py does for
  PostgreSQL); `Unavailable` says why a test skips.
- `send_webhooks(url, bodies, ...)`: signed v3 webhooks from parallel senders that retry what was not
  answered 202, as PagerDuty does; the statuses seen, and the ids answered 202.
- `stored_events(state)`: every event the inbox keeps, read by a new consumer with --replay (the public
  interface, the same on both stores).
"""

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

from conftest import ROOT
import apt_install
from postgres_server import Unavailable, free_port, wait_until

SECRET = "whsec-fleet-" + "k" * 24
README = os.path.join(ROOT, "README.md")
LEASE_SECONDS = "2"  # PAGERDUTY_PLUGIN_LEASE_SECONDS: a dead holder's lease runs out quickly


# --- nginx ---------------------------------------------------------------------------------------


def nginx_binary():
    try:
        return apt_install.ensure("nginx-light", lambda: shutil.which("nginx") or
                                  next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None))
    except apt_install.Missing as exc:
        raise Unavailable(str(exc)) from None


def readme_nginx_config():
    """The README's nginx configuration (its deployment section's ```nginx block), verbatim."""
    with open(README, encoding="utf-8") as fh:
        found = re.search(r"```nginx\n(.*?)```", fh.read(), re.S)
    assert found, "the README's deployment section has no ```nginx block"
    return found.group(1)


UPSTREAM_LINE = re.compile(r"^(\s*)server 10\.0\.0\.\d+:8000;$", re.M)
LISTEN_LINE = re.compile(r"^(\s*)listen 80;$", re.M)


def local_config(text, ports, listen):
    """The README's configuration with only its hosts' addresses and its listening port replaced."""
    indent = UPSTREAM_LINE.search(text).group(1)
    servers = "\n".join(f"{indent}server 127.0.0.1:{port};" for port in ports)
    text = UPSTREAM_LINE.sub("", text, count=0)
    text = re.sub(r"(upstream pagerduty_plugin \{\n)\n*", lambda m: m.group(1) + servers + "\n", text)
    return LISTEN_LINE.sub(lambda m: f"{m.group(1)}listen 127.0.0.1:{listen};", text)


class Nginx:
    """nginx in the foreground with a private prefix; the site is the README's configuration."""

    def __init__(self, ports):
        self.binary = nginx_binary()
        self.dir = tempfile.mkdtemp(prefix="pagerduty-plugin-nginx-")
        os.chmod(self.dir, 0o755)  # the workers (nobody, when we are root) use the temp paths inside
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.site = local_config(readme_nginx_config(), ports, self.port)
        with open(os.path.join(self.dir, "pagerduty-plugin.conf"), "w") as fh:
            fh.write(self.site)
        temp = "".join(f"    {kind}_temp_path {self.dir}/{kind};\n" for kind in
                       ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(self.dir, "nginx.conf"), "w") as fh:
            fh.write(f"daemon off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log;\n"
                     f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}"
                     f"    include {self.dir}/pagerduty-plugin.conf;\n}}\n")
        self.process = None

    def start(self):
        conf = os.path.join(self.dir, "nginx.conf")
        tested = subprocess.run([self.binary, "-t", "-p", self.dir, "-c", conf], capture_output=True, timeout=30)
        if tested.returncode != 0:
            raise AssertionError(f"nginx refuses the README's configuration: {tested.stderr.decode()[-600:]}")
        self.process = subprocess.Popen([self.binary, "-p", self.dir, "-c", conf], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert wait_until(lambda: answers(self.url + "/api/v1/status"), 20), self.errors()
        return self

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log"), encoding="utf-8", errors="replace") as fh:
                return fh.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def answers(url):
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


# --- hosts: the plugin's processes -----------------------------------------------------------------


def own_host(name):
    """The command prefix that runs a process as host `name` (a UTS namespace of its own), when we may."""
    if os.geteuid() == 0 and shutil.which("unshare"):
        return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', name]
    return []


class Host:
    """One plugin process on a host of its own; stdout to a file, stderr to another."""

    def __init__(self, name, argv, env, directory, stdin=None):
        self.name, self.argv, self.env, self.dir = name, argv, env, directory
        self.stdin = stdin
        self.out = os.path.join(directory, f"{name}.out")
        self.err = os.path.join(directory, f"{name}.err")
        self.process = None

    def start(self):
        command = own_host(self.name) + [sys.executable, "-m", "pagerduty_plugin", *self.argv]
        with open(self.out, "ab") as out, open(self.err, "ab") as err:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE if self.stdin is not None else
                                            subprocess.DEVNULL, stdout=out, stderr=err, env=self.env, cwd=ROOT,
                                            start_new_session=True)
        if self.stdin is not None:
            self.process.stdin.write(self.stdin)
            self.process.stdin.close()
        return self

    def kill(self):
        """SIGKILL to the host's whole process group (a server's gunicorn workers too)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
            except ProcessLookupError:
                pass

    def lines(self):
        with open(self.out, encoding="utf-8", errors="replace") as fh:
            return [json.loads(line) for line in fh.read().splitlines() if line.startswith("{")]

    def stderr(self):
        with open(self.err, encoding="utf-8", errors="replace") as fh:
            return fh.read()


def plugin_env(sandbox_info=None, **extra):
    """The environment of a plugin process: no PAGERDUTY_* of ours, a short lease, the sandbox's connection
    (its `info`: api_key, from_email, api_url, events_url)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env["PAGERDUTY_PLUGIN_LEASE_SECONDS"] = LEASE_SECONDS
    if sandbox_info is not None:
        env.update({"PAGERDUTY_API_KEY": sandbox_info["api_key"], "PAGERDUTY_FROM": sandbox_info["from_email"],
                    "PAGERDUTY_API_URL": sandbox_info["api_url"], "PAGERDUTY_EVENTS_URL": sandbox_info["events_url"],
                    "PAGERDUTY_MAX_RETRIES": "5"})
    env.update(extra)
    return env


class Fleet:
    """Hosts on one state: `http` servers behind nginx, `runbook serve` workers, `trigger` processes."""

    def __init__(self, state, directory, connection=None):
        self.state, self.dir, self.connection = state, directory, connection
        self.servers, self.workers, self.hosts = [], [], []
        self.nginx = None

    def host(self, name, argv, stdin=None, **env):
        host = Host(name, argv, plugin_env(self.connection, **env), self.dir, stdin)
        self.hosts.append(host)
        return host

    def start_servers(self, count):
        for number in range(count):
            port = free_port()
            server = self.host(f"web-{number + 1}", ["http", "--port", str(port), "--state", self.state],
                               PAGERDUTY_WEBHOOK_SECRETS=SECRET)
            server.port, server.url = port, f"http://127.0.0.1:{port}"
            self.servers.append(server.start())
        for server in self.servers:
            self.wait_ready(server)
        self.nginx = Nginx([server.port for server in self.servers]).start()
        return self.nginx.url

    def wait_ready(self, server):
        assert wait_until(lambda: answers(server.url + "/api/v1/status"), 60), server.stderr()[-2000:]

    def restart(self, host):
        host.start()
        if host in self.servers:
            self.wait_ready(host)

    def start_workers(self, count, runbooks):
        """`runbook serve` workers, members of one consumer group (the default name, as the README says):
        they share its events, and the runs store lets one claim each run."""
        for number in range(count):
            name = f"worker-{number + 1}"
            worker = self.host(name, ["runbook", "serve", runbooks, "--state", self.state,
                                      "--consumer", "runbooks", "--replay"])
            self.workers.append(worker.start())
        return self.workers

    def stop(self):
        for host in self.hosts:
            host.stop()
        if self.nginx is not None:
            self.nginx.stop()


# --- webhooks ---------------------------------------------------------------------------------------


def webhook_body(event_id, incident):
    return json.dumps({"event": {
        "id": event_id, "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-12-07T05:00:00.000Z", "agent": None, "client": None,
        "data": {"id": incident, "type": "incident", "title": "fleet", "status": "triggered", "urgency": "high",
                 "teams": [], "assignees": []}}}, separators=(",", ":")).encode()


def deliveries(count, incidents, twice_every=10):
    """[(webhook id, body)] for `count` events over the incidents; one in `twice_every` is sent again a
    little later in the stream (the same X-Webhook-Id, as PagerDuty redelivers)."""
    originals = [(uuid.uuid4().hex, webhook_body(f"E{number:05d}-{uuid.uuid4().hex[:8]}",
                                                 incidents[number % len(incidents)])) for number in range(count)]
    sent = []
    for number, delivery in enumerate(originals):
        sent.append(delivery)
        if number % twice_every == twice_every - 1:
            sent.append(originals[number - twice_every + 1])
    return sent


class Senders:
    """Signed webhooks from parallel threads; each delivery retried until answered 202, as PagerDuty does
    (it retries 5xx and connection failures). `statuses` counts every answer; `accepted` the event ids
    answered 202 (with when); `refused` any 4xx (a bug)."""

    def __init__(self, url, sent, threads=4, retry_delay=0.2):
        self.url, self.sent, self.threads, self.retry_delay = url + "/webhooks/pagerduty", sent, threads, retry_delay
        self.statuses, self.accepted, self.refused = {}, [], []
        self.lock = threading.Lock()
        self.progress = 0
        self.workers = []

    def start(self):
        for number in range(self.threads):
            thread = threading.Thread(target=self.send_share, args=(self.sent[number::self.threads],), daemon=True)
            thread.start()
            self.workers.append(thread)
        return self

    def send_share(self, share):
        session = requests.Session()
        for webhook_id, body in share:
            self.deliver(session, webhook_id, body)
            with self.lock:
                self.progress += 1

    def deliver(self, session, webhook_id, body):
        signature = "v1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-PagerDuty-Signature": signature, "X-Webhook-Id": webhook_id,
                   "Content-Type": "application/json", "User-Agent": "PagerDuty-Webhook/V3.0"}
        while True:
            try:
                status = session.post(self.url, data=body, headers=headers, timeout=10).status_code
            except requests.RequestException:
                status = "error"
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if status == 202:
                    self.accepted.append((time.monotonic(), json.loads(body)["event"]["id"]))
                elif isinstance(status, int) and 400 <= status < 500:
                    self.refused.append(status)
            if status == 202 or (isinstance(status, int) and 400 <= status < 500):
                return
            time.sleep(self.retry_delay)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        for thread in self.workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self.workers)

    def wait_progress(self, share, timeout=300):
        return wait_until(lambda: self.progress >= share * len(self.sent), timeout, 0.05)


def stored_events(state, directory, env=None):
    """Every webhook event the inbox keeps, oldest first: a new consumer's --replay, through the CLI."""
    name = f"audit-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", "trigger", "incident_event", "--once",
                           "--replay", "--consumer", name, "--state", state], input=b"{}", capture_output=True,
                          env=env or plugin_env(), cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return [json.loads(line)["event"] for line in done.stdout.decode().splitlines() if line.strip()]


# --- the state: a shared SQLite directory (the control) or PostgreSQL ----------------------------------


def state_status(state):
    """`pagerduty-plugin state status` of the fleet's state."""
    done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", "state", "status", "--state", state],
                          capture_output=True, env=plugin_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)
