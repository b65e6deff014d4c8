"""`make demo` works: the chain of steps runs against a sandbox it starts itself."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls"])
def test_demo_chain_runs_end_to_end(tls):
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "pagerduty-plugin")):
        pytest.skip("the demo runs the installed pagerduty-plugin command (make install)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    if tls:
        env["DEMO_TLS"] = "1"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py")], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for words in ("dedup_key", "is acknowledged", "requested: Nia Oncall", "is resolved", "incident.triggered about",
                  "triage-checkout-alert: ok", "On call now:", "queued, dedup_key", "1 pending", "1 sent, 0 left",
                  "Demo finished"):
        assert words in done.stdout
    assert ('"api_url": "https://127.0.0.1:' in done.stdout and '"ca_file": "' in done.stdout) is tls
    assert '"secret": null' not in done.stdout  # step 8 shows no secret field, not even an empty one
