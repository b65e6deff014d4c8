"""`pagerduty-plugin report`: the analytics report written into a directory (CSV, charts as SVG,
one HTML page), its figures as the one JSON document on stdout, a progress bar on a terminal.

cli.py parses the command line and opens the connection; this module (found through the spec's
python.commands.report) checks the input against the analytics_report action's schema, so the
command and the action take the same input."""

import os

from pagerduty_plugin import reports, runner
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.reports import progress

ACTION = "analytics_report"


def command(args, spec, connection, log, stderr):
    values = {"since": args.since, "until": args.until, "services": args.service, "teams": args.team,
              "aggregate_unit": args.unit}
    params = runner.checked_input(spec, ACTION, {k: v for k, v in values.items() if v})
    advance = progress.bar(stderr)
    try:
        report = reports.build(connection.rest, params, log, advance)
    finally:
        if advance is not None:
            advance.close()
    return {**report.figures(), "files": write(report, args.out)}


def write(report, directory):
    charts = report.charts()
    files = {"csv": "report.csv", "html": "report.html", **{name: f"{name}.svg" for name in charts}}
    texts = {"csv": report.csv(), "html": report.html(charts), **charts}
    try:
        os.makedirs(directory, exist_ok=True)
        for name, text in texts.items():
            with open(os.path.join(directory, files[name]), "w", encoding="utf-8", newline="") as out:
                out.write(text)
    except OSError as exc:
        raise PluginError(f"Cannot write the report into {directory}: {exc.strerror or exc}",
                          "Give --out a directory you can write to.", {"directory": directory}) from None
    return {name: os.path.abspath(os.path.join(directory, path)) for name, path in files.items()}
