"""Incident workflows and their instances. Starting one runs its steps at once: each step that
adds a note leaves the note (and its annotate log entry) on the incident, and the v3 events
incident.workflow.started and incident.workflow.completed are sent to the subscriptions."""
from . import log_entries, outbound, query as q
from .errors import invalid
from .routing import route
from .timeutil import iso

INCLUDES = ("steps", "team")


def workflow_json(store, rec, include=()):
    out = store.entity("incident_workflow", rec["id"])
    del out["summary"]
    out.update({"name": rec["name"], "description": rec["description"], "created_at": iso(rec["created"]),
                "is_enabled": rec["enabled"]})
    if "steps" in include:
        out["steps"] = [step_json(step) for step in rec["steps"]]
    if rec.get("team_id") and rec["team_id"] in store.teams:
        out["team"] = {"id": rec["team_id"], "type": "team_reference"}
    return out


def step_json(step):
    return {"id": step["id"], "type": "step", "name": step["name"], "description": step["description"],
            "action_configuration": {"action_id": step["action_id"], "description": step["description"],
                                     "inputs": [{"name": "Message", "parameter_type": "text",
                                                 "value": step["message"]}]}}


@route("GET", "/incident_workflows")
def list_workflows(call):
    needle = q.one(call.query, "query")
    include = q.many(call.query, "include")
    unknown = [i for i in include if i not in INCLUDES]
    if unknown:
        raise invalid(f"include[] must be one of: {', '.join(INCLUDES)}")
    found = sorted((w for w in call.store.incident_workflows.values() if q.text_match(needle, w["name"])),
                   key=lambda w: w["name"].lower())
    return 200, q.paginate(call.query, found, "incident_workflows",
                           lambda w: workflow_json(call.store, w, include))


@route("GET", "/incident_workflows/{id}")
def get_workflow(call):
    rec = call.store.get("incident_workflow", call.params["id"])
    # PagerDuty's contract documents this answer as 201 (not 200); the sandbox answers as documented.
    return 201, {"incident_workflow": workflow_json(call.store, rec, INCLUDES)}


@route("POST", "/incident_workflows/{id}/instances")
def start_instance(call):
    store = call.store
    workflow = store.get("incident_workflow", call.params["id"])
    body = call.wrapped("incident_workflow_instance")
    incident = body.get("incident")
    if not isinstance(incident, dict) or not isinstance(incident.get("id"), str):
        raise invalid("incident_workflow_instance.incident must be a reference with an id")
    inc = store.find("incident", incident["id"])
    if inc is None:
        raise invalid(f"incident_workflow_instance.incident {incident['id']} does not exist")
    if not workflow["enabled"]:
        raise invalid(f"Incident workflow {workflow['id']} is disabled")
    instance = {"id": store.new_id(), "workflow_id": workflow["id"], "incident_id": inc["id"], "created": call.now}
    store.workflow_instances.append(instance)
    agent = call.agent()
    outbound.incident_event(store, "incident.workflow.started", inc, agent, call.now,
                            instance_data(store, workflow, inc, instance, "started"))
    for step in workflow["steps"]:
        note = {"id": store.new_id(), "user_id": call.actor(), "content": step["message"].replace(
                "{{workflow}}", workflow["name"]), "created": call.now, "updated": call.now}
        inc["notes"].append(note)
        log_entries.add(store, inc, "annotate_log_entry", call.now, agent, "Note added.", {"type": "note"},
                        note=note["content"])
    inc["updated"] = call.now
    outbound.incident_event(store, "incident.workflow.completed", inc, agent, call.now,
                            instance_data(store, workflow, inc, instance, "completed"))
    ref = store.ref("incident", inc["id"])
    return 201, {"incident_workflow_instance": {"id": instance["id"], "type": "incident_workflow_instance",
                                                "incident": ref}}


def instance_data(store, workflow, inc, instance, state):
    """The v3 event data: the instance, its workflow, and the incident as incident events carry it."""
    return {"id": instance["id"], "type": "incident_workflow_instance", "state": state,
            "incident_workflow": {"id": workflow["id"], "type": "incident_workflow_reference",
                                  "summary": workflow["name"]},
            "incident": outbound.incident_data(store, inc)}
