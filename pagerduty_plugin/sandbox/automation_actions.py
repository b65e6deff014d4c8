"""Automation actions and their invocations. Lists of actions are cursor-paged (`cursor`,
`limit`, answered `next_cursor`, null on the last page). An invocation moves on by itself:
created, sent, queued, running, completed, one state every store.automation["step"] seconds (0:
completed at once); with store.automation["stall"] no runner picks it up and it stays `sent`.
Its state is worked out when it is read, so no thread is needed."""
import base64

from . import query as q
from .errors import ApiError, invalid, INVALID_INPUT
from .routing import route
from .timeutil import iso

PROGRESS = ("created", "sent", "queued", "running", "completed")
STATES = ("prepared", "created", "sent", "queued", "running", "aborted", "completed", "error", "unknown")
CURSOR_MAX_LIMIT = 100
MAX_LISTED_INVOCATIONS = 25


def action_json(store, rec, with_teams=False):
    out = {"id": rec["id"], "type": "action", "name": rec["name"], "description": rec["description"],
           "action_type": rec["action_type"], "action_classification": rec["classification"],
           "runner": rec["runner_id"], "runner_type": "sidecar",
           "action_data_reference": dict(rec["data"]),
           "services": [{"id": s, "type": "service_reference"} for s in rec["service_ids"] if s in store.services],
           "privileges": {"permissions": ["invoke"]},
           "creation_time": iso(rec["created"]), "modify_time": iso(rec["created"]),
           "only_invocable_on_unresolved_incidents": rec["unresolved_only"], "map_to_all_services": False,
           "allow_invocation_manually": True, "allow_invocation_from_event_orchestration": True}
    if with_teams:
        out["teams"] = [{"id": t, "type": "team_reference"} for t in rec["team_ids"] if t in store.teams]
    return out


def cursor_page(query, items, key, render):
    """PagerDuty's cursor envelope: {key: [...], limit, next_cursor}; the cursor is opaque (an offset here)."""
    limit = q.integer(query, "limit", 25)
    if limit < 1:
        raise invalid("limit must be a positive integer")
    limit = min(limit, CURSOR_MAX_LIMIT)
    start = 0
    cursor = q.one(query, "cursor")
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)[1])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise invalid("cursor is not a cursor this list answered") from None
    chunk = items[start:start + limit]
    end = start + len(chunk)
    following = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return {key: [render(item) for item in chunk], "limit": limit, "next_cursor": following}


@route("GET", "/automation_actions/actions")
def list_actions(call):
    store = call.store
    name = q.one(call.query, "name")
    classification = q.one(call.query, "classification")
    if classification not in (None, "", "diagnostic", "remediation"):
        raise invalid("classification must be diagnostic or remediation")
    action_type = q.one(call.query, "action_type")
    if action_type not in (None, "", "script", "process_automation"):
        raise invalid("action_type must be script or process_automation")
    service_id, team_id, runner_id = (q.one(call.query, k) for k in ("service_id", "team_id", "runner_id"))
    found = [a for a in store.automation_actions.values()
             if q.text_match(name, a["name"]) and classification in (None, "", a["classification"])
             and action_type in (None, "", a["action_type"]) and (not service_id or service_id in a["service_ids"])
             and (not team_id or team_id in a["team_ids"]) and (not runner_id or runner_id == a["runner_id"])]
    found.sort(key=lambda a: a["name"].lower())
    return 200, cursor_page(call.query, found, "actions", lambda a: action_json(store, a))


@route("GET", "/automation_actions/actions/{id}")
def get_action(call):
    return 200, {"action": action_json(call.store, call.store.get("automation_action", call.params["id"]), True)}


@route("POST", "/automation_actions/actions/{id}/invocations")
def invoke(call):
    store = call.store
    action = store.get("automation_action", call.params["id"])
    metadata = call.wrapped("invocation").get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("incident_id"), str):
        raise invalid("invocation.metadata.incident_id is required")
    inc = store.find("incident", metadata["incident_id"])
    if inc is None:
        raise invalid(f"invocation.metadata.incident_id {metadata['incident_id']} does not exist")
    alert_id = metadata.get("alert_id")
    if alert_id is not None and (not isinstance(alert_id, str) or alert_id not in inc["alert_ids"]):
        raise invalid(f"invocation.metadata.alert_id {alert_id} is not an alert of incident {inc['id']}")
    if action["unresolved_only"] and inc["status"] == "resolved":
        raise ApiError(400, INVALID_INPUT, "Invalid Input Provided",
                       [f"Action {action['id']} can only be invoked on unresolved incidents"])
    rec = {"id": store.new_ulid(), "action_id": action["id"], "incident_id": inc["id"], "alert_id": alert_id,
           "agent": call.actor(), "created": call.now, "step": store.automation["step"],
           "stall": store.automation["stall"]}
    store.invocations[rec["id"]] = rec
    return 201, {"invocation": invocation_json(store, rec, call.now)}


def progress(rec, now):
    """The states the invocation has reached by `now`, with their times."""
    last = 1 if rec["stall"] else len(PROGRESS) - 1
    reached = last if rec["step"] <= 0 else min(last, int((now - rec["created"]) / rec["step"]))
    return [(PROGRESS[i], rec["created"] + i * max(rec["step"], 0)) for i in range(reached + 1)]


def invocation_json(store, rec, now):
    action = store.automation_actions.get(rec["action_id"]) or {}
    timing = progress(rec, now)
    state, _ = timing[-1]
    metadata = {"agent": ({"id": rec["agent"], "type": "user_reference"} if rec["agent"]
                          else {"id": "PAUTOMATE", "type": "incident_workflow_reference"}),
                "incident": {"id": rec["incident_id"], "type": "incident_reference"}}
    out = {"id": rec["id"], "type": "invocation", "action_id": rec["action_id"], "runner_id": action.get("runner_id"),
           "action_snapshot": {"name": action.get("name"), "action_type": action.get("action_type"),
                               "action_data_reference": dict(action.get("data") or {})},
           "timing": [{"state": s, "timestamp": iso(at)} for s, at in timing], "state": state, "metadata": metadata}
    if state == "completed":
        out["duration"] = int(timing[-1][1] - timing[-2][1]) if len(timing) > 1 else 0
    return out


@route("GET", "/automation_actions/invocations/{id}")
def get_invocation(call):
    rec = call.store.get("invocation", call.params["id"])
    return 200, {"invocation": invocation_json(call.store, rec, call.now)}


@route("GET", "/automation_actions/invocations")
def list_invocations(call):
    store = call.store
    wanted, unwanted = q.one(call.query, "invocation_state"), q.one(call.query, "not_invocation_state")
    for value in (wanted, unwanted):
        if value not in (None, "") and value not in STATES:
            raise invalid(f"invocation states are: {', '.join(STATES)}")
    incident_id, action_id = q.one(call.query, "incident_id"), q.one(call.query, "action_id")
    answers = []
    for rec in sorted(store.invocations.values(), key=lambda r: r["created"], reverse=True):
        if (incident_id and rec["incident_id"] != incident_id) or (action_id and rec["action_id"] != action_id):
            continue
        item = invocation_json(store, rec, call.now)
        if (wanted and item["state"] != wanted) or (unwanted and item["state"] == unwanted):
            continue
        answers.append(item)
    return 200, {"invocations": answers[:MAX_LISTED_INVOCATIONS]}
