"""Cold start: one `pagerduty-plugin run` step against the sandbox on loopback, as a platform
runs it (a new process each time), against `python -c "import requests"` from the same venv.

Three cases: warm (the user's cache already holds what earlier runs left); the first run on a
fresh machine, where every run gets a new, empty HOME and no cache (a container or CI runner); and
the same from the installed wheel: built by `python -m build --wheel` (isolated, as a user builds it),
installed into a fresh venv at requirements.txt's pins, run from outside the tree with an empty HOME,
against `python -c "import requests"` of that venv. The runs are interleaved and the medians compared,
so the ratios hold on a noisy machine where absolute times drift.
Usage: .venv/bin/python bench/coldstart.py [--runs 20] [--no-wheel]
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


def installed_wheel(root, workdir):
    """The wheel `python -m build` makes, installed into a fresh venv: that venv's bin directory."""
    dist, venv = os.path.join(workdir, "dist"), os.path.join(workdir, "venv")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", dist, root], check=True,
                   capture_output=True)
    (wheel,) = [os.path.join(dist, name) for name in os.listdir(dist) if name.endswith(".whl")]
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    bin_dir = os.path.join(venv, "bin")
    subprocess.run([os.path.join(bin_dir, "python"), "-m", "pip", "install", "--quiet", "-c",
                    os.path.join(root, "requirements.txt"), wheel], check=True)
    return bin_dir


def wheel_runs(root, env, stdin, runs, homes):
    """(installed step, import requests) times, interleaved, each step from outside the tree with an empty HOME."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="coldstart-wheel-") as workdir:
        bin_dir = installed_wheel(root, workdir)
        step = [os.path.join(bin_dir, "pagerduty-plugin"), "run", "send_trigger_event"]
        baseline = [os.path.join(bin_dir, "python"), "-c", "import requests"]
        os.chdir(workdir)  # outside the tree: nothing of it is on the path
        timed(step, stdin, {**env, "HOME": os.path.join(workdir, "warm-up")})
        steps, bases = [], []
        for n in range(runs):
            home = os.path.join(homes, f"wheel-{n}")
            os.mkdir(home)
            bases.append(timed(baseline))
            steps.append(timed(step, stdin, {**env, "HOME": home}))
        os.chdir(root)
    return steps, bases


def main():
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-wheel", action="store_true", help="skip the installed wheel (it builds one)")
    args = parser.parse_args()
    # an installed plugin has its bytecode and its prebuilt spec (make install / the package build)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-m", "pagerduty_plugin.prebuild"], check=True, cwd=root, capture_output=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "pagerduty_plugin"], check=True, cwd=root)
    sandbox, info = start_sandbox()
    homes = tempfile.TemporaryDirectory(prefix="coldstart-")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "PAGERDUTY_PLUGIN_CACHE")}
        env.update(PAGERDUTY_ROUTING_KEY=info["routing_key"], PAGERDUTY_EVENTS_URL=info["events_url"])
        step = [os.path.join(VENV_BIN, "pagerduty-plugin"), "run", "send_trigger_event"]
        baseline = [sys.executable, "-c", "import requests"]
        stdin = b'{"description": "disk full on db-01", "severity": "critical"}'
        timed(step, stdin, env)  # warm: what earlier runs left in the user's cache
        warm, empty, bases = [], [], []
        for n in range(args.runs):
            home = os.path.join(homes.name, str(n))
            os.mkdir(home)
            bases.append(timed(baseline))
            warm.append(timed(step, stdin, env))
            empty.append(timed(step, stdin, {**env, "HOME": home}))
        wheel = None if args.no_wheel else wheel_runs(root, env, stdin, args.runs, homes.name)
    finally:
        sandbox.terminate()
        sandbox.wait()
        homes.cleanup()
    warm_ms, empty_ms, base_ms = (statistics.median(x) * 1000 for x in (warm, empty, bases))
    print(f"pagerduty-plugin run send_trigger_event, warm:       median {warm_ms:.0f} ms over {args.runs} runs")
    print(f"pagerduty-plugin run send_trigger_event, empty HOME: median {empty_ms:.0f} ms over {args.runs} runs")
    print(f"python -c 'import requests':                        median {base_ms:.0f} ms over {args.runs} runs")
    print(f"ratio warm {warm_ms / base_ms:.2f} (target at most 1.2), "
          f"empty HOME {empty_ms / base_ms:.2f} (target at most 1.5)")
    figures = {"bench": "coldstart", "runs": args.runs, "warm_ms": round(warm_ms, 1),
               "empty_home_ms": round(empty_ms, 1), "import_requests_ms": round(base_ms, 1),
               "ratio_warm": round(warm_ms / base_ms, 3), "ratio_empty_home": round(empty_ms / base_ms, 3)}
    if wheel:
        wheel_ms, wheel_base_ms = (statistics.median(x) * 1000 for x in wheel)
        print(f"installed wheel, outside the tree, empty HOME:      median {wheel_ms:.0f} ms over {args.runs} runs")
        print(f"its venv's python -c 'import requests':             median {wheel_base_ms:.0f} ms over "
              f"{args.runs} runs")
        print(f"ratio installed wheel {wheel_ms / wheel_base_ms:.2f} (target at most 1.3)")
        figures.update(wheel_ms=round(wheel_ms, 1), wheel_import_requests_ms=round(wheel_base_ms, 1),
                       ratio_wheel=round(wheel_ms / wheel_base_ms, 3))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
