"""On-call schedules: layers of users in rotation, the final schedule for a window, overrides."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import (
    as_list, creator, deleter, getter, given, given_times, lister, object_path, reference, resolve_all,
    resolve_user,
)
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.constraints import out_of_order
from pagerduty_plugin.errors import PluginError

COLLECTION, KIND = "schedules", "schedule"


def schedule_filters(rest, params):
    return {**given(params, "query"), "team_ids": resolve_all(rest, "teams", params.get("teams"), "team")}


def schedule_fields(rest, params):
    for number, layer in enumerate(params["layers"], 1):
        if not as_list(layer.get("users")):
            raise PluginError(f"Schedule layer {number} has no users",
                              "Give each layer the users who take turns (ids, emails or names), in order.",
                              {"field": f"layers[{number - 1}].users"})
        in_order(layer, number)
    return {**given(params, "name", "description", "time_zone"),
            "schedule_layers": [schedule_layer(rest, layer) for layer in params["layers"]]}


def in_order(layer, number):
    """A layer's start and end by the spec's `ascending` rule (the runner checks only top-level inputs)."""
    problem = out_of_order(["start", "end"], layer)
    if problem:
        raise PluginError(f"Schedule layer {number}: {problem[0]}", "Give each layer an end after its start.",
                          {"field": f"layers[{number - 1}].end", "rule": "ascending"})


def window(params):
    """since/until (RFC 3339) and the time zone of the answer."""
    return {**given_times(params, "since", "until"), **given(params, "time_zone")}


def schedule_layer(rest, layer):
    fields = {**given(layer, "name", "rotation_turn_length_seconds", "restrictions"),
              **given_times(layer, "start", "end", "rotation_virtual_start")}
    fields.setdefault("rotation_virtual_start", fields["start"])
    fields["users"] = [{"user": reference(resolve_user(rest, user), "user")} for user in as_list(layer["users"])]
    return fields


ListSchedules = lister(COLLECTION, schedule_filters)
GetSchedule = getter(COLLECTION, KIND, window)
CreateSchedule = creator(COLLECTION, KIND, schedule_fields)
DeleteSchedule = deleter(COLLECTION, KIND)


class ListScheduleUsers(Action):
    """Not paginated by PagerDuty: max_results trims the one answer."""

    def run(self, params):
        path = object_path(COLLECTION, params["schedule_id"], KIND) + "/users"
        users = self.connection.rest.get(path, window(params), key="users", kind=list)
        return output("users", *cut(users, params.get("max_results")))


class CreateScheduleOverride(Action):
    def run(self, params):
        rest = self.connection.rest
        path = object_path(COLLECTION, params["schedule_id"], KIND) + "/overrides"
        override = {**given_times(params, "start", "end"),
                    "user": reference(resolve_user(rest, params["user"]), "user")}
        # The answer holds one result per override asked for, each with its own status:
        # HTTP 201 for the request does not mean that this override was made.
        answer = rest.post(path, {"overrides": [override]}, kind=list)  # a bare list, no envelope
        result = answer[0] if answer and isinstance(answer[0], dict) else {}
        if result.get("status", 201) >= 300 or not (result.get("override") or {}).get("id"):
            errors = result.get("errors") or ["no reason given"]
            raise PluginError(f"PagerDuty did not create the override: {'; '.join(map(str, errors))}",
                              "Check that end is after start and that the user is on the account.",
                              {"status": result.get("status"), "errors": errors})
        return {"override": result["override"]}
