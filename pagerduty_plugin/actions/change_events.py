"""Change events: what the Events API's change events left on PagerDuty's side (deploys, config changes)."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import as_list, given_times, resolve, resolve_all
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.client.rest import segment

RELATED_LIMIT = 100   # /incidents/{id}/related_change_events is not paged: one answer of up to 100


class ListChangeEvents(Action):
    """GET /change_events, /services/{id}/change_events or /incidents/{id}/related_change_events."""

    def run(self, params):
        if "incident_id" in params:
            return self.related(params)
        rest = self.connection.rest
        query = {**given_times(params, "since", "until"),
                 "integration_ids": [segment(i, "integration id") for i in as_list(params.get("integration_ids"))]}
        path = "/change_events"
        if "service" in params:
            path = f"/services/{resolve(rest, 'services', params['service'], 'service')}/change_events"
        query["team_ids"] = resolve_all(rest, "teams", params.get("teams"), "team")
        items, truncated = rest.iterate(path, "change_events", {k: v for k, v in query.items() if v},
                                        params.get("max_results"), check=self.output_items("change_events"))
        return output("change_events", items, truncated)

    def related(self, params):
        """Alone (the spec's constraints keep the other filters away): PagerDuty picks them itself."""
        path = f"/incidents/{segment(params['incident_id'], 'incident id')}/related_change_events"
        limit = min(params.get("max_results") or RELATED_LIMIT, RELATED_LIMIT)
        events = self.connection.rest.get(path, {"limit": limit}, key="change_events", kind=list)
        return output("change_events", *cut(events, params.get("max_results")))
