"""Cold start: one `pagerduty-plugin run` step against the sandbox on loopback, as a platform
runs it (a new process each time), against `python -c "import requests"` from the same venv.

The two are interleaved and the medians compared, so the ratio holds on a noisy machine
where absolute times drift. Usage: .venv/bin/python bench/coldstart.py [--runs 30]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VENV_BIN = os.path.dirname(sys.executable)


def start_sandbox():
    process = subprocess.Popen([os.path.join(VENV_BIN, "pagerduty-plugin"), "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())


def timed(command, stdin=b"", env=None):
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    # an installed plugin has its bytecode (pip compiles it); a checkout may not have it yet
    subprocess.run([sys.executable, "-m", "compileall", "-q", "pagerduty_plugin"], check=True,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sandbox, info = start_sandbox()
    try:
        env = {**os.environ, "PAGERDUTY_ROUTING_KEY": info["routing_key"], "PAGERDUTY_EVENTS_URL": info["events_url"]}
        step = [os.path.join(VENV_BIN, "pagerduty-plugin"), "run", "send_trigger_event"]
        baseline = [sys.executable, "-c", "import requests"]
        stdin = b'{"description": "disk full on db-01", "severity": "critical"}'
        timed(step, stdin, env)  # warm the spec cache and the .pyc files once, as an installed plugin has them
        steps, bases = [], []
        for _ in range(args.runs):
            bases.append(timed(baseline))
            steps.append(timed(step, stdin, env))
    finally:
        sandbox.terminate()
        sandbox.wait()
    step_ms, base_ms = statistics.median(steps) * 1000, statistics.median(bases) * 1000
    print(f"pagerduty-plugin run send_trigger_event: median {step_ms:.0f} ms over {args.runs} runs")
    print(f"python -c 'import requests':            median {base_ms:.0f} ms over {args.runs} runs")
    print(f"ratio {step_ms / base_ms:.2f} (target at most 1.4)")
    print(json.dumps({"bench": "coldstart", "runs": args.runs, "step_ms": round(step_ms, 1),
                      "import_requests_ms": round(base_ms, 1), "ratio": round(step_ms / base_ms, 3)}))


if __name__ == "__main__":
    main()
