"""Hostile runbook files through `pagerduty-plugin runbook check` (a benchmark, not a test).

    .venv/bin/python bench/hostile_runbooks.py [--runs 5]

Each file is checked in its own process; the wall time (median of --runs) and the growth of the
process's peak memory over a check of a small valid runbook are reported, with the problem found.
Targets (issue 19): the 503-byte alias runbook refused in under 1 s with under 50 MiB of growth; an
unclosed 8 KB expression, and one with 4,000 places it might end, rejected in under 1 s.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP = "steps:\n  - id: a\n    action: list_priorities\n"
FILES = {
    "valid": "name: valid\n" + STEP,
    "aliases": "name: bomb\n" + "".join(
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 10) if prev else ', '.join(['x'] * 10)}]\n"
        for prev, name in zip([None, "a", "b", "c", "d", "e", "f", "g"], "abcdefgh")) + "steps: [*h]\n",
    "unclosed_8k": "name: u\n" + STEP + "outputs:\n  x: '${{ " + "a" * 8192 + "'\n",
    "many_ends_8k": "name: m\n" + STEP + "outputs:\n  x: '${{ [" + "}}" * 4000 + "'\n",
    "deep_jmespath": "name: d\n" + STEP + "outputs:\n  x: '${{ " + "!" * 400 + "a }}'\n",
}
MEASURE = ("import resource, subprocess, sys, time; started = time.perf_counter(); "
           "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
           "took = time.perf_counter() - started; "
           "print(took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(done.stdout)")


def check(path):
    out = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "pagerduty_plugin", "runbook",
                          "check", path], capture_output=True, text=True, cwd=ROOT).stdout.splitlines()
    took, peak_kib = out[0].split()
    answer = json.loads(out[1])
    return float(took), int(peak_kib), (answer["problems"] or [{"message": "ok"}])[0]["message"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report = {"bench": "hostile_runbooks", "runs": args.runs, "files": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name, text in FILES.items():
            path = os.path.join(folder, f"{name}.yaml")
            with open(path, "w") as fh:
                fh.write(text)
            results = [check(path) for _ in range(args.runs)]
            report["files"][name] = {"bytes": len(text), "seconds": round(statistics.median(r[0] for r in results), 3),
                                     "peak_mib": round(max(r[1] for r in results) / 1024, 1),
                                     "problem": results[0][2][:100]}
    base = report["files"]["valid"]["peak_mib"]
    for name, found in report["files"].items():
        found["growth_mib"] = round(found["peak_mib"] - base, 1)
        print(f"{name} ({found['bytes']} bytes): {found['seconds']} s, +{found['growth_mib']} MiB: {found['problem']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
