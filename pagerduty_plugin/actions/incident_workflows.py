"""Incident Workflows (they replace Response Plays, removed from PagerDuty's API on 2025-09-09):
list them, read one, and start one on an incident (an "instance")."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import getter, given, lister, reference, resolve
from pagerduty_plugin.client.rest import segment

COLLECTION, KIND = "incident_workflows", "incident_workflow"


def workflow_filters(rest, params):
    query = given(params, "query")
    if params.get("include_steps"):
        query["include"] = ["steps"]
    return query


ListIncidentWorkflows = lister(COLLECTION, workflow_filters)
GetIncidentWorkflow = getter(COLLECTION, KIND)


class StartIncidentWorkflow(Action):
    """POST /incident_workflows/{id}/instances: the workflow runs on PagerDuty's side; the answer
    is the instance (its id and incident), not the workflow's outcome."""

    def run(self, params):
        incident_id = segment(params["incident_id"], "incident id")
        rest = self.connection.rest
        workflow_id = resolve(rest, COLLECTION, params["incident_workflow"], KIND)
        body = {"incident_workflow_instance": {"incident": reference(incident_id, "incident")}}
        # Not repeated after a timeout: a second instance would run the workflow twice.
        instance = rest.post(f"/{COLLECTION}/{workflow_id}/instances", body, from_email=params.get("from_email"),
                             key="incident_workflow_instance")
        return {"incident_workflow_instance": instance}
