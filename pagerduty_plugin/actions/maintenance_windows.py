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
    """start_time (default now) and end_time or duration_minutes, checked before any lookup."""
    if ("end_time" in params) == ("duration_minutes" in params):
        raise PluginError("Give either end_time or duration_minutes (exactly one)",
                          "end_time is when the window closes; duration_minutes counts from start_time.",
                          {"field": "end_time"})
    start = as_time(params["start_time"]) if "start_time" in params else datetime.now(timezone.utc)
    if "end_time" in params:
        end = as_time(params["end_time"])
    else:
        end = start + timedelta(minutes=params["duration_minutes"])
    if end <= start:
        raise PluginError("The maintenance window would end before it starts",
                          "Give an end_time after start_time (and in the future).", {"field": "end_time"})
    return {**given(params, "description"), "start_time": rfc3339(start), "end_time": rfc3339(end),
            "services": references(rest, "services", params["services"], "service")}


# POST /maintenance_windows is one of the writes that require a From header.
CreateMaintenanceWindow = creator(COLLECTION, KIND, window_fields, needs_from=True)
ListMaintenanceWindows = lister(COLLECTION, window_filters)
DeleteMaintenanceWindow = deleter(COLLECTION, KIND)
