"""Working on an incident (REST API v2): notes, status updates, responder requests, and
reading its timeline (log entries) and alerts."""

from pagerduty_plugin.actions.common import as_list, given, given_times, reference, resolve, resolve_user
from pagerduty_plugin.actions.incidents import IncidentAction, incident_path, user_ids, user_values
from pagerduty_plugin.actions.listing import cut, output


class AddNote(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/notes")
        return {"note": self.rest.post(path, {"note": {"content": params["note"]}}, from_email=self.sender(params),
                                       needs_from=True, key="note")}


class ListNotes(IncidentAction):
    def run(self, params):
        # Not paginated: PagerDuty answers every note (at most 2000) at once; max_results trims it.
        notes = self.rest.get(incident_path(params["incident_id"], "/notes"), key="notes", kind=list)
        return output("notes", *cut(notes, params.get("max_results")))


class CreateStatusUpdate(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/status_updates")
        body = {k: params[k] for k in ("message", "subject", "html_message") if k in params}
        return {"status_update": self.rest.post(path, body, from_email=self.sender(params), needs_from=True,
                                                key="status_update")}


class AddResponders(IncidentAction):
    """A responder request names its requester in the body (no From header needed): the step's
    requester, else the From user, found by email with one lookup."""

    def run(self, params):
        path = incident_path(params["incident_id"], "/responder_requests")
        requester_id, targets = responder_request(self.rest, params)
        body = {
            "requester_id": requester_id,
            "message": params["message"],
            # PagerDuty's own example wraps each target; its schema shows them flat.
            "responder_request_targets": [{"responder_request_target": target} for target in targets],
        }
        return {"responder_request": self.rest.post(path, body, from_email=params.get("from_email"),
                                                    key="responder_request")}


def responder_request(rest, params):
    """(the requester's user id, the targets) of a responder request, or of its cancellation: the
    step's requester, else the From user, and the users and escalation policies named, each found
    by id, name or email with one lookup."""
    users = user_values(params.get("users"), "users")
    policies = as_list(params.get("escalation_policies"))
    requester = user_values([params["requester"]], "requester")[0] if "requester" in params else None
    if requester is None:
        requester = rest.require_from(params.get("from_email"), "Choosing the requester")
    targets = [reference(user_id, "user") for user_id in user_ids(rest, users)]
    targets += [reference(resolve(rest, "escalation_policies", p, "escalation_policy"), "escalation_policy")
                for p in policies]
    return resolve_user(rest, requester), targets


class ListLogEntries(IncidentAction):
    """The incident's timeline, oldest first as PagerDuty lists it."""

    def run(self, params):
        path = incident_path(params["incident_id"], "/log_entries")
        query = {**given_times(params, "since", "until"), **given(params, "is_overview")}
        return output("log_entries", *self.rest.iterate(path, "log_entries", query, params.get("max_results")))


class ListAlerts(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/alerts")
        query = given(params, "statuses") or None
        return output("alerts", *self.rest.iterate(path, "alerts", query, params.get("max_results")))
