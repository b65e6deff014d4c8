"""What PagerDuty added around an incident since 2025: edit or delete a note (2025-11-07),
cancel pending responder requests (2026-02-18), and what PagerDuty relates to an incident:
change events, past incidents (same service, similar), related incidents (Event Intelligence)."""

from pagerduty_plugin.actions.incident_collaboration import responder_request
from pagerduty_plugin.actions.incidents import IncidentAction, incident_path
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.client.rest import segment

RELATED_LIMIT = 100   # related change events: one answer, not paged
PAST_LIMIT = 999      # past incidents: limit 1..999, not paged


def note_path(params):
    return incident_path(params["incident_id"], f"/notes/{segment(params['note_id'], 'note id')}")


class UpdateNote(IncidentAction):
    def run(self, params):
        path = note_path(params)
        return {"note": self.rest.put(path, {"note": {"content": params["note"]}}, from_email=self.sender(params),
                                      needs_from=True, key="note")}


class DeleteNote(IncidentAction):
    def run(self, params):
        self.rest.delete(note_path(params), from_email=params.get("from_email"))
        return {"success": True}


class CancelResponderRequests(IncidentAction):
    """Pending requests to these users or escalation policies are cancelled; PagerDuty answers per
    target whether it was cancelled, had joined, had declined, or was not found."""

    def run(self, params):
        path = incident_path(params["incident_id"], "/responder_requests/cancel")
        requester_id, targets = responder_request(self.rest, params)
        body = {"requester_id": requester_id, "responder_request_targets": targets}
        results = self.rest.put(path, body, from_email=params.get("from_email"), key="responder_request_targets",
                                kind=list)
        return {"responder_request_targets": results, "count": len(results)}


class ListRelatedChangeEvents(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/related_change_events")
        limit = min(params.get("max_results") or RELATED_LIMIT, RELATED_LIMIT)
        events = self.rest.get(path, {"limit": limit}, key="change_events", kind=list)
        return output("change_events", *cut(events, params.get("max_results")))


class ListPastIncidents(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/past_incidents")
        limit = min(params.get("max_results") or PAST_LIMIT, PAST_LIMIT)
        past = self.rest.get(path, {"limit": limit}, key="past_incidents", kind=list)
        return output("past_incidents", *cut(past, params.get("max_results")))


class ListRelatedIncidents(IncidentAction):
    def run(self, params):
        path = incident_path(params["incident_id"], "/related_incidents")
        query = {"additional_details": ["incident"]} if params.get("include_incidents") else None
        related = self.rest.get(path, query, key="related_incidents", kind=list)
        return output("related_incidents", *cut(related, params.get("max_results")))
