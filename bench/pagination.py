"""Pagination at scale: list_incidents fetching 10,000 incidents (100 pages of 100) through the
plugin's CLI in-process, against a bare `requests` loop over the same pages, in the same run.

The sandbox runs in a separate process (seeded with 10,000 incidents), so the server's work
never competes with the client for this process's GIL; both sides talk to it over loopback
HTTP with keep-alive, with the same query (date_range=all, limit=100, offset=0..9900).

Three sides, interleaved (plugin, bare, bare_json, plugin, …) after one warm-up each; medians:
- plugin: the whole step as a platform runs it, through cli.main: message parsing, input
  validation, the paged requests, JSON decoding, output validation against the spec, and the
  output JSON (about 22 MB) written to a stand-in for stdout.
- bare_json: a bare requests.Session loop over the same pages that decodes them and writes
  the listing as JSON: the same job, done by hand (a listing is not done until it is handed
  over). `ratio` (the one the target applies to) is plugin / bare_json.
- bare: the same loop without writing anything, strictly less than a step does;
  `ratio_to_fetch_only` is plugin / bare, printed so the cost of the output is visible.

Peak memory is measured afterwards in separate untimed runs with tracemalloc (which slows
Python down, so it never overlaps a timed run); ru_maxrss is the whole process's peak.

Usage: .venv/bin/python bench/pagination.py [--runs 9] [--incidents 10000]
"""

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
import tracemalloc

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pagerduty_plugin import cli  # noqa: E402

TARGET = 1.15
COUNT = re.compile(r'"count": ?(\d+)')
ACCEPT = "application/vnd.pagerduty+json;version=2"
SERVER = """
import json, sys
from pagerduty_plugin.sandbox import Sandbox
sandbox = Sandbox(seed="demo").start()
sandbox.seed_incidents(int(sys.argv[1]))
print(json.dumps(sandbox.info), flush=True)
sys.stdin.read()  # serve until the parent closes our stdin
sandbox.stop()
"""


def start_sandbox(incidents):
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(incidents)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return process, json.loads(process.stdout.readline())


def plugin_run(info, incidents):
    """One list_incidents step through the CLI, as a platform message; returns the count."""
    message = {"version": "v1", "type": "action_start", "body": {
        "action": "list_incidents", "meta": {}, "input": {"date_range": "all", "max_results": incidents},
        "connection": {"api_key": {"secretKey": info["api_key"]}, "api_url": info["api_url"],
                       "from_email": info["from_email"]}}}
    out = Sink()
    code = cli.main(["run"], stdin=io.BytesIO(json.dumps(message).encode()), stdout=out, stderr=Sink())
    if code != 0:
        raise SystemExit(f"list_incidents failed: {out.tail}")
    return int(COUNT.search(out.tail).group(1))  # the output's count, without parsing 20 MB on the clock


class Sink:
    """Stands in for stdout: keeps the size and the tail of what is written, not a copy of it."""

    def __init__(self):
        self.size, self.tail = 0, ""

    def write(self, text):
        self.size += len(text)
        self.tail = (self.tail + text[-2000:])[-2000:]

    def flush(self):
        pass


def fetch_pages(info, incidents):
    session = requests.Session()
    session.headers.update({"Authorization": f"Token token={info['api_key']}", "Accept": ACCEPT})
    items = []
    offset = 0
    while len(items) < incidents:
        page = session.get(info["api_url"] + "/incidents",
                           params={"date_range": "all", "limit": 100, "offset": offset}, timeout=30).json()
        items.extend(page["incidents"])
        if not page["more"]:
            break
        offset += 100
    session.close()
    return items[:incidents]


def bare_run(info, incidents):
    """The same pages with a plain requests session: fetch, decode, collect."""
    return len(fetch_pages(info, incidents))


def bare_json_run(info, incidents):
    """The same, then the listing written as JSON, as a step must hand it over."""
    items = fetch_pages(info, incidents)
    Sink().write(json.dumps({"incidents": items, "count": len(items)}, ensure_ascii=False) + "\n")
    return len(items)


def timed(run, info, incidents):
    started = time.perf_counter()
    count = run(info, incidents)
    elapsed = time.perf_counter() - started
    if count != incidents:
        raise SystemExit(f"{run.__name__} listed {count} incidents, expected {incidents}")
    return elapsed


def peak_memory(run, info, incidents):
    tracemalloc.start()
    try:
        run(info, incidents)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--incidents", type=int, default=10000)
    args = parser.parse_args()
    sandbox, info = start_sandbox(args.incidents)
    sides = {"plugin": plugin_run, "bare": bare_run, "bare_json": bare_json_run}
    times = {name: [] for name in sides}
    try:
        for run in sides.values():
            timed(run, info, args.incidents)  # warm-up: caches, bytecode, the server's first pages
        for _ in range(args.runs):
            for name, run in sides.items():
                times[name].append(timed(run, info, args.incidents))
        peaks = {name: peak_memory(sides[name], info, args.incidents) for name in ("plugin", "bare")}
    finally:
        sandbox.stdin.close()
        sandbox.wait(timeout=30)
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio, fetch_only = median["plugin"] / median["bare_json"], median["plugin"] / median["bare"]
    mib = 1024 * 1024
    print(f"sandbox: a separate process; {args.incidents} incidents listed in {-(-args.incidents // 100)} pages "
          f"of 100, {args.runs} interleaved runs after one warm-up each")
    print(f"list_incidents via the CLI, in-process:  median {median['plugin'] * 1000:.0f} ms, "
          f"peak {peaks['plugin'] / mib:.1f} MiB (tracemalloc)")
    print(f"bare requests loop (fetch, decode):      median {median['bare'] * 1000:.0f} ms, "
          f"peak {peaks['bare'] / mib:.1f} MiB (tracemalloc)")
    print(f"bare loop that also writes the JSON:     median {median['bare_json'] * 1000:.0f} ms")
    print(f"ratio to the bare loop doing the same job (fetch, decode, write the JSON): {ratio:.2f} "
          f"(target at most {TARGET}: {'met' if ratio <= TARGET else 'NOT met'})")
    print(f"ratio to the fetch-and-decode-only loop: {fetch_only:.2f} (the step also validates every incident "
          "against the spec and writes ~21 MB of JSON)")
    print(json.dumps({
        "bench": "pagination", "incidents": args.incidents, "runs": args.runs, "sandbox": "separate process",
        "plugin_ms": ms(median["plugin"]), "bare_ms": ms(median["bare"]), "bare_json_ms": ms(median["bare_json"]),
        "ratio": round(ratio, 3), "ratio_to_fetch_only": round(fetch_only, 3), "target": TARGET,
        "runs_ms": {name: [ms(t) for t in values] for name, values in times.items()},
        "plugin_peak_mib": round(peaks["plugin"] / mib, 1), "bare_peak_mib": round(peaks["bare"] / mib, 1),
        "ru_maxrss_mib": round(max_rss() / 1024, 1)}))


def ms(seconds):
    return round(seconds * 1000, 1)


def max_rss():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


if __name__ == "__main__":
    main()
