"""help.md is generated from the spec; this fails when the committed copy is stale."""

import os

from conftest import ROOT

from pagerduty_plugin import helpdoc
from pagerduty_plugin import spec as speclib


def test_help_md_is_current():
    with open(os.path.join(ROOT, "help.md"), encoding="utf-8") as fh:
        committed = fh.read()
    assert committed == helpdoc.render(speclib.load()), "help.md is stale: run `make docs`"


def test_help_md_documents_every_action_and_connection_setting():
    text = helpdoc.render(speclib.load())
    spec = speclib.load()
    for action in spec.actions.values():
        assert f"#### {action['title']}" in text
    for field in spec.connection.values():
        assert field["env"] in text
    for section in ("# Description", "### Actions", "### Triggers", "## Setup", "## Troubleshooting",
                    "# Version History", "## References"):
        assert section in text
