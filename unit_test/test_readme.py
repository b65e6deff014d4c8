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
    documented = set(re.findall(r"PAGERDUTY_[A-Z_]+", readme()))
    declared = {f["env"] for f in speclib.load().connection.values()}
    assert declared <= documented and documented <= declared


def test_readme_shows_measured_figures_not_placeholders():
    text = readme()
    performance = text[text.index("## Performance"):]
    placeholders = re.findall(r"\b[A-Z]{4,}_[A-Z_]{2,}\b", performance)
    assert not placeholders, placeholders
    assert re.search(r"\*\*1\.\d\d\*\*", performance), "the measured ratios are shown"
    for bench in ("bench/coldstart.py", "bench/pagination.py", "bench/sandbox.py", "bench/http.py"):
        assert bench in performance
