"""The analytics report: MTTA, MTTR, load and uptime per period and service, as figures (JSON),
a CSV, charts and one self-contained HTML page.

The figures come from PagerDuty's Analytics API (two requests: per service, and for all). Where
the key cannot read it (402: the plan lacks it; 403: the key lacks access) the same figures are
computed from /incidents and /log_entries instead, and the report says so (source "computed",
with the definitions used). Charts need the `report` extra (matplotlib), imported only when a
page or chart is drawn."""

from pagerduty_plugin.actions.analytics import filters, period
from pagerduty_plugin.client import analytics
from pagerduty_plugin.errors import PluginError

COLUMNS = ("period_start", "service_id", "service_name", "team_id", "team_name", "incidents", "acknowledged",
           "mtta_mean_seconds", "mtta_p50_seconds", "mtta_p90_seconds", "mttr_mean_seconds", "mttr_p50_seconds",
           "mttr_p90_seconds", "business_hour_interruptions", "off_hour_interruptions", "sleep_hour_interruptions",
           "up_time_pct", "source")
# CSV column -> the Analytics API's field of the same figure
FIELDS = {"period_start": "range_start", "service_id": "service_id", "service_name": "service_name",
          "team_id": "team_id", "team_name": "team_name", "incidents": "total_incident_count",
          "acknowledged": "total_incidents_acknowledged", "mtta_mean_seconds": "mean_seconds_to_first_ack",
          "mtta_p50_seconds": "p50_seconds_to_first_ack", "mtta_p90_seconds": "p90_seconds_to_first_ack",
          "mttr_mean_seconds": "mean_seconds_to_resolve", "mttr_p50_seconds": "p50_seconds_to_resolve",
          "mttr_p90_seconds": "p90_seconds_to_resolve",
          "business_hour_interruptions": "total_business_hour_interruptions",
          "off_hour_interruptions": "total_off_hour_interruptions",
          "sleep_hour_interruptions": "total_sleep_hour_interruptions", "up_time_pct": "up_time_pct"}
NO_ACCESS = (402, 403)


def build(rest, params, log, progress=None):
    """The Report for the step's period, services and teams. `progress(n)`, when given, is told
    of every request's answer (the command line draws a bar with it)."""
    start, end = period(params)
    unit = params.get("aggregate_unit", "day")
    wanted = filters(rest, params, start, end)
    notes = []
    try:
        by_service, overall = from_analytics(rest, wanted, unit, progress, notes)
        source = "analytics"
    except PluginError as exc:
        if exc.data.get("status") not in NO_ACCESS:
            raise
        log.warning(f"PagerDuty's Analytics API is not available to this key (HTTP {exc.data['status']}); "
                    "computing the figures from /incidents and /log_entries")
        from pagerduty_plugin.reports import computed

        by_service, overall = computed.metrics(rest, wanted, unit, start, end, progress)
        source = "computed"
    from pagerduty_plugin.reports.model import Report

    return Report(source, start, end, unit, [row(r, source) for r in by_service], [row(r, source) for r in overall],
                  notes)


def from_analytics(rest, wanted, unit, progress, notes):
    """(rows per period and service, rows per period). PagerDuty's per-service rows are documented
    with means only; where p50/p90 are missing, they are worked out from the raw incident rows
    (read 1,000 a request), and `notes` says so."""
    body = {"filters": wanted, "time_zone": "Etc/UTC", "aggregate_unit": unit}
    answers = []
    for by in ("service", "all"):
        answers.append(analytics.metrics(rest, by, body))
        if progress is not None:
            progress(len(answers[-1]))
    if any(lacks_percentiles(r) for rows in answers for r in rows):
        raw = analytics.RawIncidents(rest, {"filters": wanted, "time_zone": "Etc/UTC", "order": "asc"},
                                     progress=progress).collect()
        fill_percentiles(answers, raw, unit)
        notes.append("p50 and p90 worked out from PagerDuty's raw incident rows (nearest-rank percentiles of "
                     "seconds_to_first_ack and seconds_to_resolve), as its aggregated answer lacked them.")
    return answers


def lacks_percentiles(metrics):
    return any(metrics.get(f"mean_seconds_to_{n}") is not None and metrics.get(f"p50_seconds_to_{n}") is None
               for n in ("first_ack", "resolve"))


def fill_percentiles(answers, raw, unit):
    from pagerduty_plugin.reports.computed import moment, percentile, period_of

    seconds = {}
    for incident in raw:
        begin, _ = period_of(moment(incident["created_at"]), unit)
        for name in ("first_ack", "resolve"):
            value = incident.get(f"seconds_to_{name}")
            if value is not None:
                for service in (incident.get("service_id"), None):  # per service, and for all
                    seconds.setdefault((begin.strftime("%Y-%m-%d"), service, name), []).append(value)
    for metrics in (r for rows in answers for r in rows):
        for name in ("first_ack", "resolve"):
            values = seconds.get((str(metrics.get("range_start"))[:10], metrics.get("service_id"), name))
            for p in (50, 90):
                if metrics.get(f"p{p}_seconds_to_{name}") is None and values:
                    metrics[f"p{p}_seconds_to_{name}"] = int(round(percentile(values, p)))


def row(metrics, source):
    """One CSV row of an Analytics API row (or a computed one of the same shape)."""
    found = {column: metrics.get(field) for column, field in FIELDS.items()}
    if found["period_start"]:
        found["period_start"] = str(found["period_start"])[:10]
    found["source"] = source
    return found
