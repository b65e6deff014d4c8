"""Analytics actions: aggregated incident metrics, raw incident rows, and the report.

The report's work (and its charting library) lives in pagerduty_plugin.reports, imported only
when a report step runs, so no other step pays for it."""

from datetime import datetime, timedelta, timezone

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import as_time, rfc3339, resolve_all
from pagerduty_plugin.actions.listing import output
from pagerduty_plugin.client import analytics
from pagerduty_plugin.errors import PluginError

MAX_SPAN = timedelta(days=366)  # PagerDuty: created_at_start and created_at_end at most a year apart
DEFAULT_SPAN = timedelta(days=30)


def period(params, now=None):
    """(start, end) aware datetimes of the step's since/until (default: the 30 days up to now),
    refused before any request when reversed or over a year long."""
    end = as_time(params["until"]) if "until" in params else (now or datetime.now(timezone.utc))
    start = as_time(params["since"]) if "since" in params else end - DEFAULT_SPAN
    if end <= start:
        raise PluginError("'until' is not after 'since'", "Give an until later than since.", {"field": "until"})
    if end - start > MAX_SPAN:
        raise PluginError("since and until are more than a year apart, the most PagerDuty's Analytics API reads",
                          "Read a year or less at a time.", {"field": "since"})
    return start, end


def filters(rest, params, start, end):
    """The Analytics API's `filters`: the period, and services and teams given by id or name."""
    found = {"created_at_start": rfc3339(start), "created_at_end": rfc3339(end)}
    if params.get("services"):
        found["service_ids"] = resolve_all(rest, "services", params["services"], "service")
    if params.get("teams"):
        found["team_ids"] = resolve_all(rest, "teams", params["teams"], "team")
    for name in ("urgency", "major"):
        if name in params:
            found[name] = params[name]
    return found


class GetIncidentMetrics(Action):
    def run(self, params):
        rest = self.connection.rest
        start, end = period(params)
        body = {"filters": filters(rest, params, start, end), "time_zone": "Etc/UTC"}
        if params.get("aggregate_unit"):
            body["aggregate_unit"] = params["aggregate_unit"]
        rows = analytics.metrics(rest, params.get("by", "all"), body)
        return {"metrics": rows, "count": len(rows), "by": params.get("by", "all")}


class ListRawIncidents(Action):
    def run(self, params):
        rest = self.connection.rest
        start, end = period(params)
        body = {"filters": filters(rest, params, start, end), "time_zone": "Etc/UTC",
                "order": params.get("order", "desc")}
        if "updated_after" in params:
            body["filters"]["updated_after"] = rfc3339(as_time(params["updated_after"]))
        rows = analytics.RawIncidents(rest, body, params.get("max_results"))
        return output("incidents", rows.collect(), rows.truncated)


class AnalyticsReport(Action):
    def run(self, params):
        from pagerduty_plugin import reports  # the report's code, off every other step's path

        report = reports.build(self.connection.rest, params, self.log)
        answer = {**report.figures(), "csv": report.csv()}
        if params.get("html"):
            answer["html"] = report.html()
        return answer
