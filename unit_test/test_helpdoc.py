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
    for name in spec.connection:
        assert spec.env_var(name) in text
    for section in ("# Description", "# Key Features", "# Requirements", "# Documentation", "## Setup",
                    "## Technical Details", "### Actions", "### Triggers", "### Custom Types", "## Troubleshooting",
                    "# Version History", "# Links", "## References"):
        assert section in text


def test_every_action_has_input_and_output_tables_and_examples():
    text = helpdoc.render(speclib.load())
    spec = speclib.load()
    for name, action in spec.actions.items():
        section = text.split(f"#### {action['title']}\n", 1)[1].split("\n#### ", 1)[0]
        assert "##### Input" in section and "##### Output" in section, name
        if action.get("input"):
            assert "|Name|Type|Default|Required|Description|Enum|Example|" in section, name
        if action.get("output"):
            assert "|Name|Type|Required|Description|Example|" in section, name
            assert "Example output:" in section, name
