"""Cold start of a REST step with a cached OAuth token against the same step with an API key: one
`pagerduty-plugin run list_priorities` process each, against the sandbox on loopback. The token is
fetched once before the runs; every timed OAuth run reads it from the state directory's cache.

The two are run in turn (A B A B …) and the ratio taken pair by pair, so it holds on a noisy machine
where absolute times drift; CPU time (user + system, the kernel's accounting of each process) moves far
less than wall time when other work shares the cores. Target: at most 1.05. Usage: .venv/bin/python bench/oauth.py [--runs 30]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

VENV_BIN = os.path.dirname(sys.executable)


def timed(command, env):
    """(wall seconds, CPU seconds: user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, input=b"{}", capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-m", "pagerduty_plugin.prebuild"], check=True, cwd=root, capture_output=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "pagerduty_plugin"], check=True, cwd=root)
    sandbox = subprocess.Popen([os.path.join(VENV_BIN, "pagerduty-plugin"), "sandbox", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    info = json.loads(sandbox.stdout.readline())
    state = tempfile.TemporaryDirectory(prefix="oauth-bench-")
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
        base.update(PAGERDUTY_API_URL=info["api_url"], XDG_STATE_HOME=state.name)
        with_key = {**base, "PAGERDUTY_API_KEY": info["api_key"]}
        with_token = {**base, "PAGERDUTY_CLIENT_ID": info["client_id"], "PAGERDUTY_CLIENT_SECRET": info["client_secret"],
                      "PAGERDUTY_SUBDOMAIN": info["subdomain"], "PAGERDUTY_IDENTITY_URL": info["identity_url"]}
        step = [os.path.join(VENV_BIN, "pagerduty-plugin"), "run", "list_priorities"]
        timed(step, with_token)  # fetches and caches the token
        timed(step, with_key)
        pairs = [(timed(step, with_token), timed(step, with_key)) for _ in range(args.runs)]
    finally:
        sandbox.terminate()
        sandbox.wait()
        state.cleanup()
    figures = {}
    for index, what in ((0, "wall"), (1, "cpu")):
        token, key = ([pair[side][index] for pair in pairs] for side in (0, 1))
        figures[what] = (statistics.median(token) * 1000, statistics.median(key) * 1000,
                         statistics.median(a / b for a, b in zip(token, key)))
        print(f"run list_priorities, {what}: cached OAuth token median {figures[what][0]:.0f} ms, API key "
              f"{figures[what][1]:.0f} ms over {args.runs} pairs; ratio (median of the pairs) {figures[what][2]:.3f} "
              "(target at most 1.05)")
    print(json.dumps({"bench": "oauth", "runs": args.runs,
                      **{f"{what}_{name}": round(value, 3) for what, values in figures.items()
                         for name, value in zip(("token_ms", "api_key_ms", "ratio"), values)}}))


if __name__ == "__main__":
    main()
