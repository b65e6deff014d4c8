"""HTTP mode (`pagerduty-plugin http`) against the sandbox on loopback (a benchmark, not a test).

    .venv/bin/python bench/http_mode.py [--calls 300] [--duration 4] [--rounds 3] [--events 500]
                                   [--workers 2] [--threads 4]

(a) latency: ours `POST /run/get_incident` against a bare `requests.Session` GET of the same incident
    from the sandbox, one keep-alive session each, calls interleaved: the median added latency.
(b) throughput, 8 concurrent clients: ours (`POST /api/v1/actions/get_incident` with an action_start
    message, and `POST /run/get_incident`) against Rapid7's runtime (`insightconnect-plugin-runtime`,
    installed into a throwaway venv under /tmp/pagerduty-plugin-bench/) serving, in its `http` mode, a
    minimal plugin written by this script whose one action makes the same GET over a requests session
    kept on its connection. Both servers are gunicorn gthread with the same --workers x --threads, both
    bound to 127.0.0.1, and both get the same action_start message. The clients are 8 processes, one
    keep-alive http.client connection each: 8 threads in one process would share one GIL, and on 2 cores
    the client's own Python would then cap the figure rather than the server. Targets run in rounds,
    interleaved, and each target's median round is reported, with the CPU time per request of the
    server (master and workers), the sandbox and the clients over the round. The runtime's part is
    skipped, with the reason, when it cannot be installed or started.
    The same server under gunicorn's plain gthread worker (the serving model before server/worker.py)
    is a third target: the cost of holding each request in the event loop until it has arrived.
(c) --events send_trigger_event steps, sequentially: through `POST /run/send_trigger_event` (one
    keep-alive session) against as many `pagerduty-plugin run send_trigger_event` processes, interleaved
    in blocks of 50: the ratio of the total wall times.

The sandbox runs in its own process (`pagerduty-plugin sandbox --port 0`), as the servers do, so no
server shares a GIL with the clients. Prints human-readable lines, then one JSON line.
"""

import os
import sys

# `python bench/http_mode.py` puts bench/ first on sys.path, where this file would shadow the standard
# library's `http` package (which requests imports too): take that entry out before importing it.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402

VENV_BIN = os.path.dirname(sys.executable)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(tempfile.gettempdir(), "pagerduty-plugin-bench")
RUNTIME_VENV = os.path.join(CACHE, "runtime-venv")
RUNTIME_PACKAGE = "insightconnect-plugin-runtime"
CLIENTS = 8
PD_ACCEPT = "application/vnd.pagerduty+json;version=2"

# Rapid7's runtime imports this file and runs `python plugin.py http`; its names (Plugin, Action,
# Connection, Input, Output, CLI) are the runtime's public API as its package exports them.
RUNTIME_PLUGIN = textwrap.dedent('''
    """The smallest InsightConnect plugin that gets an incident: one connection, one action."""
    import sys
    from urllib.parse import quote

    import requests
    import insightconnect_plugin_runtime as runtime
    from insightconnect_plugin_runtime.exceptions import PluginException

    CONNECTION = {"type": "object", "title": "Variables", "required": ["api_key", "api_url"],
                  "properties": {"api_key": {"type": "object", "title": "API Key",
                                             "properties": {"secretKey": {"type": "string"}}},
                                 "api_url": {"type": "string", "title": "API URL"}}}
    INPUT = {"type": "object", "title": "Variables", "required": ["incident_id"],
             "properties": {"incident_id": {"type": "string", "title": "Incident ID", "order": 1}}}
    OUTPUT = {"type": "object", "title": "Variables", "required": ["incident"],
              "properties": {"incident": {"type": "object", "title": "Incident", "order": 1}}}


    class Connection(runtime.Connection):
        def __init__(self):
            super().__init__(input=runtime.Input(CONNECTION))

        def connect(self, params={}):
            self.api_url = params["api_url"].rstrip("/")
            self.session = requests.Session()  # kept on the connection, which the runtime caches
            self.session.headers.update({"Authorization": "Token token=" + params["api_key"]["secretKey"],
                                         "Accept": "application/vnd.pagerduty+json;version=2"})

        def test(self):
            return {"success": self.session.get(self.api_url + "/abilities", timeout=30).ok}


    class GetIncident(runtime.Action):
        def __init__(self):
            super().__init__(name="get_incident", description="Get an incident",
                             input=runtime.Input(INPUT), output=runtime.Output(OUTPUT))

        def run(self, params={}):
            connection = self.connection
            response = connection.session.get(
                connection.api_url + "/incidents/" + quote(params["incident_id"], safe=""), timeout=30)
            if response.status_code != 200:
                raise PluginException(cause="PagerDuty answered %d" % response.status_code,
                                      assistance="Check the incident id.", data=response.text)
            return {"incident": response.json()["incident"]}


    class BenchPlugin(runtime.Plugin):
        def __init__(self):
            super().__init__(name="pagerduty_bench", vendor="bench", version="1.0.0",
                             description="bench/http_mode.py's baseline plugin", connection=Connection())
            self.add_action(GetIncident())


    if __name__ == "__main__":
        runtime.CLI(BenchPlugin()).run()
''')


# --- processes --------------------------------------------------------------------------------

def start_sandbox():
    process = subprocess.Popen([os.path.join(VENV_BIN, "pagerduty-plugin"), "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return process, json.loads(process.stdout.readline())


def sandbox_env(info):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    env.update(PAGERDUTY_API_KEY=info["api_key"], PAGERDUTY_ROUTING_KEY=info["routing_key"],
               PAGERDUTY_FROM=info["from_email"], PAGERDUTY_API_URL=info["api_url"],
               PAGERDUTY_EVENTS_URL=info["events_url"])
    return env


# The previous serving model, for comparison: gunicorn's own gthread worker, which gives a connection
# a thread at its first byte (server/worker.py holds it in the event loop until the request is in).
PLAIN_GTHREAD = ("import sys; from gunicorn.workers.gthread import ThreadWorker; "
                 "from pagerduty_plugin.server import command; command.GuardedWorker = ThreadWorker; "
                 "sys.exit(command.main(sys.argv[1:], sys.stdout, sys.stderr))")


def start_ours(info, workers, threads, plain_gthread=False):
    command = ([sys.executable, "-c", PLAIN_GTHREAD] if plain_gthread
               else [os.path.join(VENV_BIN, "pagerduty-plugin"), "http"])
    process = subprocess.Popen(command + ["--port", "0", "--workers", str(workers), "--threads", str(threads)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=sandbox_env(info), cwd=ROOT)
    url = json.loads(process.stdout.readline())["url"]
    wait_ready(url, process)
    return process, url


def wait_ready(url, process, seconds=60):
    """Until every worker can answer (the ready line comes when the socket listens)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {process.returncode}")
        try:
            if requests.get(url + "/api/v1/status", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server at {url} did not answer in {seconds} s")


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Rapid7's runtime -------------------------------------------------------------------------

def install_runtime():
    """The runtime's venv (cached across runs): (python, version), or (None, why not)."""
    python = os.path.join(RUNTIME_VENV, "bin", "python")
    if not os.path.exists(os.path.join(RUNTIME_VENV, ".installed")):
        os.makedirs(CACHE, exist_ok=True)
        steps = {"python -m venv": [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--clear",
                                    RUNTIME_VENV],
                 f"pip install {RUNTIME_PACKAGE}": [python, "-m", "pip", "install", "--quiet",
                                                    "--disable-pip-version-check", RUNTIME_PACKAGE]}
        for what, step in steps.items():
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return None, f"{what}: {exc}"
            if done.returncode != 0:
                lines = [line for line in (done.stderr or done.stdout).splitlines() if "WARNING" not in line]
                return None, f"{what} failed: {' '.join(lines[-3:])[:300]}"
        open(os.path.join(RUNTIME_VENV, ".installed"), "w").close()
    done = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('%s'))"
                           % RUNTIME_PACKAGE], capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"the runtime does not import: {done.stderr.strip()[-300:]}"
    return python, done.stdout.strip()


def start_runtime(python, workdir, workers, threads):
    """`python plugin.py http`, bound to 127.0.0.1. The runtime's own flags have no host (it binds
    0.0.0.0); its GUNICORN_CONFIG_FILE replaces its gunicorn settings, bind included. It opens that
    name through werkzeug's secure_filename, which drops directories, so the file sits in the cwd."""
    with open(os.path.join(workdir, "plugin.py"), "w") as fh:
        fh.write(RUNTIME_PLUGIN)
    config = {"bind": "127.0.0.1:0", "workers": workers, "threads": threads,
              "worker_class": "sync",  # its default; with threads > 1 gunicorn runs it as gthread
              "loglevel": "info", "graceful_timeout": 30}
    with open(os.path.join(workdir, "gunicorn.json"), "w") as fh:
        json.dump(config, fh)
    log_path = os.path.join(workdir, "runtime.log")
    env = {**os.environ, "GUNICORN_CONFIG_FILE": "gunicorn.json"}
    with open(log_path, "w") as log:  # its per-step INFO lines go here, as to a container's log
        process = subprocess.Popen([python, "plugin.py", "http"], cwd=workdir, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open(log_path) as fh:
            found = re.search(r"Listening at: http://([\d.]+):(\d+)", fh.read())
        if found:
            if found.group(1) != "127.0.0.1":
                stop(process)
                raise RuntimeError(f"the runtime bound {found.group(1)}, not 127.0.0.1")
            url = f"http://127.0.0.1:{found.group(2)}"
            wait_ready(url, process)
            return process, url
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(process)
    with open(log_path) as fh:
        raise RuntimeError(f"the runtime did not start: {fh.read()[-500:]}")


# --- (a) latency ------------------------------------------------------------------------------

def timed(call):
    started = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} "
                         f"{response.text[:300]}")
    return elapsed


def latency(info, url, incident, calls):
    bare, ours = requests.Session(), requests.Session()
    headers = {"Authorization": f"Token token={info['api_key']}", "Accept": PD_ACCEPT}
    body = json.dumps({"incident_id": incident}).encode()

    def get_bare():
        return bare.get(f"{info['api_url']}/incidents/{incident}", headers=headers, timeout=30)

    def post_ours():
        return ours.post(f"{url}/run/get_incident", data=body, timeout=30,
                         headers={"Content-Type": "application/json"})

    for _ in range(20):  # warm: both connections open, the server's own sessions made
        timed(get_bare), timed(post_ours)
    bares, ourses = [], []
    for i in range(calls):
        if i % 2:  # alternate which goes first
            bares.append(timed(get_bare))
            ourses.append(timed(post_ours))
        else:
            ourses.append(timed(post_ours))
            bares.append(timed(get_bare))
    bare_ms, ours_ms = statistics.median(bares) * 1000, statistics.median(ourses) * 1000
    paired = statistics.median(o - b for o, b in zip(ourses, bares)) * 1000
    return {"calls": calls, "ours_ms": round(ours_ms, 3), "bare_ms": round(bare_ms, 3),
            "added_ms": round(ours_ms - bare_ms, 3), "added_paired_median_ms": round(paired, 3)}


# --- (b) throughput ---------------------------------------------------------------------------

def _client(url, path, body, go, deadline, out):
    """One keep-alive connection posting `body` until the shared deadline; puts (ok, errors)."""
    host, port = url[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    try:
        conn.request("POST", path, body=body, headers=headers)  # warm: the connection is open
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        out.put((0, 1))
        return
    go.wait()
    ok = errors = 0
    while time.monotonic() < deadline.value:
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                ok += 1
            else:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.close()
    out.put((ok, errors))


def cpu_seconds(pid):
    """CPU time (user + system) of a process and its children that are alive (gunicorn's workers)."""
    pids = [pid] + [int(p) for p in os.listdir("/proc") if p.isdigit() and parent_of(int(p)) == pid]
    total = 0
    for each in pids:
        try:
            with open(f"/proc/{each}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # of the children waited for
    return usage.ru_utime + usage.ru_stime


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def load(url, path, body, duration, watch=()):
    ctx = multiprocessing.get_context("fork")
    go, deadline, out = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    clients = [ctx.Process(target=_client, args=(url, path, body, go, deadline, out)) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    time.sleep(0.5)  # let each client open its connection
    cpu_before = [cpu_seconds(pid) for pid in watch] + [children_cpu_seconds()]
    deadline.value = time.monotonic() + duration
    go.set()
    results = [out.get(timeout=duration + 120) for _ in clients]
    cpu = [cpu_seconds(pid) - before for pid, before in zip(watch, cpu_before)]
    for client in clients:
        client.join()
    cpu.append(children_cpu_seconds() - cpu_before[-1])  # the clients' own, once they have exited
    ok, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    return {"requests": ok + errors, "errors": errors, "req_per_s": round(ok / duration, 1),
            "cpu_ms_per_request": [round(1000 * c / max(ok, 1), 3) for c in cpu]}


def throughput(info, sandbox, ours, runtime, incident, duration, rounds, plain=None):
    """ours, runtime, plain (ours under plain gthread): (process, url) of each server, runtime None when
    skipped."""
    connection = {"api_key": {"secretKey": info["api_key"]}, "api_url": info["api_url"]}
    message = json.dumps({"version": "v1", "type": "action_start", "body": {
        "action": "get_incident", "meta": {}, "connection": connection,
        "input": {"incident_id": incident}}}).encode()
    targets = {"ours_action_start": (ours, "/api/v1/actions/get_incident", message),
               "ours_run": (ours, "/run/get_incident", json.dumps({"incident_id": incident}).encode())}
    if plain:
        targets["gthread_action_start"] = (plain, "/api/v1/actions/get_incident", message)
    if runtime:
        targets["runtime_action_start"] = (runtime, "/api/v1/actions/get_incident", message)
    runs = {name: [] for name in targets}
    for _ in range(rounds):
        for name, ((server, url), path, body) in targets.items():
            runs[name].append(load(url, path, body, duration, watch=(server.pid, sandbox.pid)))
    result = {}
    for name, measured in runs.items():
        if any(m["errors"] for m in measured):
            raise SystemExit(f"{name}: errors under load: {measured}")
        rates = [m["req_per_s"] for m in measured]
        result[name] = {"req_per_s": statistics.median(rates), "rounds": rates,
                        "server_cpu_ms": statistics.median(m["cpu_ms_per_request"][0] for m in measured),
                        "sandbox_cpu_ms": statistics.median(m["cpu_ms_per_request"][1] for m in measured),
                        "clients_cpu_ms": statistics.median(m["cpu_ms_per_request"][2] for m in measured)}
    return result


# --- (c) many steps ---------------------------------------------------------------------------

def events(info, url, count, block=50):
    env = sandbox_env(info)
    step = [os.path.join(VENV_BIN, "pagerduty-plugin"), "run", "send_trigger_event"]
    session = requests.Session()
    http_s = processes_s = 0.0
    done = 0
    while done < count:
        n = min(block, count - done)
        started = time.perf_counter()
        for i in range(n):
            body = {"description": f"bench over http {done + i}", "severity": "critical"}
            response = session.post(f"{url}/run/send_trigger_event", json=body, timeout=30)
            if response.status_code != 200:
                raise SystemExit(f"/run/send_trigger_event: {response.status_code} {response.text[:300]}")
        http_s += time.perf_counter() - started
        started = time.perf_counter()
        for i in range(n):
            stdin = json.dumps({"description": f"bench in a process {done + i}", "severity": "critical"})
            ran = subprocess.run(step, input=stdin.encode(), capture_output=True, env=env)
            if ran.returncode != 0:
                raise SystemExit(f"pagerduty-plugin run failed: {ran.stdout.decode()} {ran.stderr.decode()}")
        processes_s += time.perf_counter() - started
        done += n
    return {"events": count, "http_s": round(http_s, 2), "processes_s": round(processes_s, 2),
            "ratio": round(processes_s / http_s, 1)}


# --- main -------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="(a) interleaved calls per side (default 300)")
    parser.add_argument("--duration", type=float, default=4.0, help="(b) seconds per round and target")
    parser.add_argument("--rounds", type=int, default=3, help="(b) interleaved rounds (default 3)")
    parser.add_argument("--events", type=int, default=500, help="(c) steps per side (default 500)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of both servers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker of both servers (default 4)")
    args = parser.parse_args(argv)
    # an installed plugin has its bytecode (pip compiles it); a checkout may not have it yet
    subprocess.run([sys.executable, "-m", "compileall", "-q", "pagerduty_plugin"], check=True, cwd=ROOT)
    runtime_python, runtime_version = install_runtime()
    report = {"bench": "http", "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "workers": args.workers, "threads": args.threads, "clients": CLIENTS}
    processes, workdir = [], None
    try:
        sandbox, info = start_sandbox()
        processes.append(sandbox)
        incident = requests.get(f"{info['api_url']}/incidents?limit=1", timeout=30, headers={
            "Authorization": f"Token token={info['api_key']}", "Accept": PD_ACCEPT}).json()["incidents"][0]["id"]
        ours, ours_url = start_ours(info, args.workers, args.threads)
        processes.append(ours)
        plain = start_ours(info, args.workers, args.threads, plain_gthread=True)
        processes.append(plain[0])
        runtime = None
        report["latency"] = latency(info, ours_url, incident, args.calls)
        if runtime_python:
            workdir = tempfile.mkdtemp(prefix="runtime-plugin-", dir=CACHE)
            try:
                runtime = start_runtime(runtime_python, workdir, args.workers, args.threads)
                processes.append(runtime[0])
                report["runtime_version"] = runtime_version
            except RuntimeError as exc:
                report["runtime_skipped"] = str(exc)
        else:
            report["runtime_skipped"] = runtime_version  # why it could not be installed
        report["throughput"] = throughput(info, sandbox, (ours, ours_url), runtime, incident, args.duration,
                                          args.rounds, plain)
        t = report["throughput"]
        t["ratio_to_plain_gthread"] = round(t["ours_action_start"]["req_per_s"]
                                            / t["gthread_action_start"]["req_per_s"], 2)
        if runtime:
            t = report["throughput"]
            t["ratio_action_start"] = round(t["ours_action_start"]["req_per_s"]
                                            / t["runtime_action_start"]["req_per_s"], 2)
            t["ratio_run"] = round(t["ours_run"]["req_per_s"] / t["runtime_action_start"]["req_per_s"], 2)
            t["cpu_ratio_action_start"] = round(t["runtime_action_start"]["server_cpu_ms"]
                                                / t["ours_action_start"]["server_cpu_ms"], 2)
        report["events"] = events(info, ours_url, args.events)
    finally:
        for process in reversed(processes):
            stop(process)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print_report(report, args)
    print(json.dumps(report))
    return 0


def print_report(report, args):
    a, t, c = report["latency"], report["throughput"], report["events"]
    print(f"(a) POST /run/get_incident: median {a['ours_ms']:.2f} ms; bare requests GET from the sandbox: "
          f"median {a['bare_ms']:.2f} ms ({a['calls']} interleaved calls each)")
    print(f"    added per call: {a['added_ms']:.2f} ms (median of paired differences "
          f"{a['added_paired_median_ms']:.2f} ms; target at most 1 ms)")
    print(f"(b) throughput, {args.workers} workers x {args.threads} threads each, {CLIENTS} client processes, "
          f"median of {args.rounds} interleaved rounds of {args.duration:g} s (CPU ms per request: "
          f"server, sandbox, clients):")
    names = {"ours_action_start": "ours POST /api/v1/actions/get_incident",
             "ours_run": "ours POST /run/get_incident",
             "gthread_action_start": "ours under plain gthread (the previous serving model) "
                                     "POST /api/v1/actions/get_incident",
             "runtime_action_start": f"Rapid7 runtime {report.get('runtime_version')} "
                                     "POST /api/v1/actions/get_incident"}
    for key, name in names.items():
        if key in t:
            m = t[key]
            print(f"    {name}: {m['req_per_s']} req/s, rounds {m['rounds']}; CPU {m['server_cpu_ms']}, "
                  f"{m['sandbox_cpu_ms']}, {m['clients_cpu_ms']}")
    print(f"    ours / plain gthread (action_start): {t['ratio_to_plain_gthread']}")
    if "runtime_action_start" in t:
        print(f"    ratio {t['ratio_action_start']} (action_start), {t['ratio_run']} (/run) (target at least 3); "
              f"server CPU per request, runtime / ours: {t['cpu_ratio_action_start']}")
    else:
        print(f"    Rapid7's runtime skipped: {report['runtime_skipped']}")
    print(f"(c) {c['events']} send_trigger_event, sequential: POST /run {c['http_s']} s; "
          f"`pagerduty-plugin run` processes {c['processes_s']} s; ratio {c['ratio']}")


if __name__ == "__main__":
    sys.exit(main())
