"""Maintenance windows: while one is open its services open no incidents."""

from datetime import datetime, timedelta, timezone

from pagerduty_plugin.actions.common import (
    as_time, creator, deleter, given, lister, references, resolve_all, rfc3339,
)
from pagerduty_plugin.errors import PluginError

COLLECTION, KIND = "maintenance_windows", "maintenance_window"


def window_filters(rest, params):
    return {**given(params, "query", "filter"),
            "service_ids": resolve_all(rest, "services", params.get("services"), "service"),
            "team_ids": resolve_all(rest, "teams", params.get("teams"), "team")}


def window_fields(rest, params):
    """start_time (default now) and end_time or duration_minutes (exactly one, and in order: the
    spec's rules), the window checked to end in the future before any lookup."""
    start = as_time(params["start_time"]) if "start_time" in params else datetime.now(timezone.utc)
    if "end_time" in params:
        end = as_time(params["end_time"])
    else:
        end = start + timedelta(minutes=params["duration_minutes"])
    if end <= start:  # only when start_time is now: the spec orders the times given
        raise PluginError("The maintenance window would end before now, when it starts",
                          "Give an end_time in the future, or a start_time before it.", {"field": "end_time"})
    return {**given(params, "description"), "start_time": rfc3339(start), "end_time": rfc3339(end),
            "services": references(rest, "services", params["services"], "service")}


# POST /maintenance_windows is one of the writes that require a From header.
CreateMaintenanceWindow = creator(COLLECTION, KIND, window_fields, needs_from=True)
ListMaintenanceWindows = lister(COLLECTION, window_filters)
DeleteMaintenanceWindow = deleter(COLLECTION, KIND)
