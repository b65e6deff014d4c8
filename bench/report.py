"""The analytics report over 10,000 incidents against listing the same incidents with
list_incidents, through the plugin's CLI in-process, in the same run.

The sandbox runs in a separate process, seeded with 10,000 incidents (4,000 resolved, 3,000
acknowledged, 3,000 triggered; one a minute over about a week), so its work never competes with
the client for this process's GIL. Three sides, interleaved after one warm-up each; medians:
- list: `run list_incidents` (date_range all, max_results 10,000): the baseline.
- report: `report --out DIR` from PagerDuty's Analytics API (as the sandbox serves it): two
  metrics requests, the CSV, three SVG charts drawn with matplotlib, the HTML page, the figures.
- computed: the same report where the key cannot read analytics (the sandbox answers 402):
  /incidents (10,000) and /log_entries (about 27,000) read and the figures computed here.
The target: each report within 2x the listing.

Usage: .venv/bin/python bench/report.py [--runs 5] [--incidents 10000]
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pagerduty_plugin import cli  # noqa: E402

TARGET = 2.0
SERVER = """
import json, sys
from pagerduty_plugin.sandbox import Sandbox
sandbox = Sandbox(seed="demo").start()
total = int(sys.argv[1])
for status, share in (("resolved", 0.4), ("acknowledged", 0.3), ("triggered", 0.3)):
    sandbox.seed_incidents(int(total * share), status=status)
print(json.dumps(sandbox.info), flush=True)
for line in sys.stdin:  # "402" switches analytics off, "ok" back on; EOF stops
    sandbox.clear_faults()
    if line.strip() == "402":
        sandbox.add_fault(method="POST", path="/analytics/*", status=402, count=None)
    print("done", flush=True)
sandbox.stop()
"""


class Sandbox:
    def __init__(self, incidents):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(incidents)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.info = json.loads(self.process.stdout.readline())

    def analytics(self, available):
        self.process.stdin.write("ok\n" if available else "402\n")
        self.process.stdin.flush()
        self.process.stdout.readline()

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def main_with(argv, stdin=b""):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    if code != 0:
        raise SystemExit(f"{argv[:2]} failed: {out.getvalue()[-500:]} {err.getvalue()[-500:]}")
    return out.getvalue()


def list_run(sandbox, incidents, directory):
    main_with(["run", "list_incidents"], json.dumps({"date_range": "all", "max_results": incidents}).encode())


def report_run(sandbox, incidents, directory, available=True):
    sandbox.analytics(available)
    figures = json.loads(main_with(["report", "--out", directory]))
    counted = sum(row["incidents"] for row in figures["rows"])
    if counted < incidents:
        raise SystemExit(f"the report counted {counted} incidents, expected at least {incidents}")
    if figures["source"] != ("analytics" if available else "computed"):
        raise SystemExit(f"the report's source is {figures['source']}")
    return figures


def computed_run(sandbox, incidents, directory):
    return report_run(sandbox, incidents, directory, available=False)


def same_figures(analytics, computed):
    """Both reports' MTTA, MTTR and counts agree, row for row: the fallback read every page."""
    columns = ("period_start", "service_id", "incidents", "acknowledged", "mtta_mean_seconds", "mtta_p50_seconds",
               "mtta_p90_seconds", "mttr_mean_seconds", "mttr_p50_seconds", "mttr_p90_seconds")
    rows = [[tuple(r[c] for c in columns) for r in figures["rows"]] for figures in (analytics, computed)]
    if rows[0] != rows[1]:
        raise SystemExit("the computed report's figures differ from the Analytics API's")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--incidents", type=int, default=10000)
    args = parser.parse_args()
    sandbox = Sandbox(args.incidents)
    info = sandbox.info
    os.environ.update({"PAGERDUTY_API_KEY": info["api_key"], "PAGERDUTY_API_URL": info["api_url"],
                       "PAGERDUTY_FROM": info["from_email"]})
    sides = {"list": list_run, "report": report_run, "computed": computed_run}
    times = {name: [] for name in sides}
    try:
        with tempfile.TemporaryDirectory() as directory:
            for run in sides.values():
                run(sandbox, args.incidents, directory)  # warm-up: bytecode, matplotlib's font cache
            same_figures(report_run(sandbox, args.incidents, directory),
                         computed_run(sandbox, args.incidents, directory))
            for _ in range(args.runs):
                for name, run in sides.items():
                    started = time.perf_counter()
                    run(sandbox, args.incidents, directory)
                    times[name].append(time.perf_counter() - started)
    finally:
        sandbox.stop()
    median = {name: statistics.median(values) for name, values in times.items()}
    ratios = {name: median[name] / median["list"] for name in ("report", "computed")}
    print(f"sandbox: a separate process; {args.incidents} incidents; {args.runs} interleaved runs after a warm-up")
    for name, label in (("list", "list_incidents (the baseline)"), ("report", "report from the Analytics API"),
                        ("computed", "report computed from /incidents and /log_entries")):
        shown = f"  ratio {ratios[name]:.2f} (target at most {TARGET})" if name in ratios else ""
        print(f"{label:52} median {median[name] * 1000:7.0f} ms{shown}")
    print(json.dumps({"bench": "report", "incidents": args.incidents, "runs": args.runs,
                      "median_ms": {k: round(v * 1000, 1) for k, v in median.items()},
                      "ratios": {k: round(v, 3) for k, v in ratios.items()}, "target": TARGET,
                      "met": all(v <= TARGET for v in ratios.values())}))


if __name__ == "__main__":
    main()
