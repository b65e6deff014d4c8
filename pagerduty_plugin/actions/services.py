"""Services, and the Events API v2 integration whose key the event actions send to."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import (
    creator, deleter, getter, given, lister, object_path, reference, resolve, resolve_all, updater,
)
from pagerduty_plugin.client.rest import segment

COLLECTION, KIND = "services", "service"
EVENTS_V2 = "events_api_v2_inbound_integration"


def service_filters(rest, params):
    return {**given(params, "query", "sort_by"), "team_ids": resolve_all(rest, "teams", params.get("teams"), "team")}


def service_fields(rest, params):
    # create_service's spec requires escalation_policy: PagerDuty refuses a service without one.
    fields = given(params, "name", "description", "status", "auto_resolve_timeout", "acknowledgement_timeout")
    if "urgency" in params:
        fields["incident_urgency_rule"] = {"type": "constant", "urgency": params["urgency"]}
    if "escalation_policy" in params:
        policy = resolve(rest, "escalation_policies", params["escalation_policy"], "escalation_policy")
        fields["escalation_policy"] = reference(policy, "escalation_policy")
    return fields


ListServices = lister(COLLECTION, service_filters)
GetService = getter(COLLECTION, KIND)
CreateService = creator(COLLECTION, KIND, service_fields)
UpdateService = updater(COLLECTION, KIND, service_fields)
DeleteService = deleter(COLLECTION, KIND)


class CreateServiceIntegration(Action):
    """The integration_key it answers is the routing key of the event actions: it is output
    on purpose (the step asked for it), unlike the connection's own secrets."""

    def run(self, params):
        path = object_path(COLLECTION, params["service_id"], KIND) + "/integrations"
        body = {"integration": {"type": EVENTS_V2, "name": params["name"]}}
        rest = self.connection.rest
        integration = rest.post(path, body, key="integration")
        key = integration.get("integration_key")
        if not key and isinstance(integration.get("id"), str):
            # PagerDuty's contract never names integration_key (it answers it in practice): ask once more
            integration = rest.get(f"{path}/{segment(integration['id'], 'integration id')}", key="integration")
            key = integration.get("integration_key")
        if not key:
            self.log.warning(f"PagerDuty answered integration {integration.get('id')} without its integration key: "
                             "copy it from the service's Integrations page")
        return {"integration": integration, "routing_key": key or None}
