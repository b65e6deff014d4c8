"""`make demo` works: the chain of steps runs against a sandbox it starts itself."""

import os
import subprocess
import sys

from conftest import ROOT


def test_demo_chain_runs_end_to_end():
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "pagerduty-plugin")):
        import pytest

        pytest.skip("the demo runs the installed pagerduty-plugin command (make install)")
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py")], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for words in ("dedup_key", "is acknowledged", "requested: Nia Oncall", "is resolved", "incident.triggered about",
                  "triage-checkout-alert: ok", "On call now:", "queued, dedup_key", "1 pending", "1 sent, 0 left",
                  "Demo finished"):
        assert words in done.stdout
