"""Runbooks: YAML workflow files that chain actions (check, run, dry run, export to Orquesta).

    from pagerduty_plugin import runbooks
    book = runbooks.load("triage.yaml")          # parsed and checked, or RunbookError (every problem)
    book.matches("incident_event", event)        # its `on:` block: trigger, event_types, if
    answer = runbooks.run(book, {}, connection, event=event, log=log, secrets=handler.secrets)
    runbooks.run_for_event(book, "incident_event", event, connection, RunStore(state))  # at most once

Steps run only through the runner (never by importing an action), as `run ACTION` does.
"""

from pagerduty_plugin.runbooks.check import check
from pagerduty_plugin.runbooks.dry_run import plan
from pagerduty_plugin.runbooks.event_runs import load_dir, run_for_event
from pagerduty_plugin.runbooks.execute import run
from pagerduty_plugin.runbooks.model import Runbook, RunbookError, load, parse, parse_file

__all__ = ["Runbook", "RunbookError", "check", "load", "load_dir", "parse", "parse_file", "plan", "run",
           "run_for_event"]
