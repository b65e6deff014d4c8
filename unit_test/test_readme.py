"""The README's claims match what the plugin does: its action list and its commands."""

import os
import re

from conftest import ROOT

from pagerduty_plugin import spec as speclib


def readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        return fh.read()


def test_readme_lists_exactly_the_actions_of_the_spec():
    actions = set(speclib.load().actions)
    named = {name for name in re.findall(r"`([a-z_]+)`", readme()) if name in actions or "_" in name}
    listed = {name for name in named if name in actions}
    assert listed == actions, f"missing from README: {sorted(actions - listed)}"
    assert f"{len(actions)} actions" in readme()


def test_readme_leads_with_the_two_commands():
    head = readme()[:1200]
    assert "make demo" in head and "make test" in head


def test_readme_environment_variables_exist_in_the_spec():
    """Every connection variable is documented, and every documented variable is one the spec declares or
    the code reads (the server's own, such as PAGERDUTY_WEBHOOK_SECRETS)."""
    documented = set(re.findall(r"PAGERDUTY_[A-Z_]+", readme()))
    spec = speclib.load()
    declared = {spec.env_var(name) for name in spec.connection}
    read_by_code = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "pagerduty_plugin")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    read_by_code |= set(re.findall(r"[\"'](PAGERDUTY_[A-Z_]+)[\"']", fh.read()))
    assert declared <= documented and documented <= declared | read_by_code


def test_readme_shows_measured_figures_not_placeholders():
    text = readme()
    performance = text[text.index("## Performance"):]
    placeholders = re.findall(r"\b[A-Z]{4,}_[A-Z_]{2,}\b", performance)
    assert not placeholders, placeholders
    assert re.search(r"\*\*1\.\d\d\*\*", performance), "the measured ratios are shown"
    for bench in ("bench/coldstart.py", "bench/pagination.py", "bench/sandbox.py", "bench/runbook.py",
                  "bench/outbox.py", "bench/webhooks.py", "bench/http_mode.py"):
        assert bench in performance
