"""Notes, status updates and responder requests on an incident."""
from . import account, incident_view, lifecycle, log_entries, outbound, validate as v
from .errors import ApiError, invalid, not_found, ALREADY_RESOLVED, REQUESTER_ID_MISSING, REQUESTER_NOT_FOUND
from .routing import route
from .timeutil import iso

MAX_NOTES = 2000
NOTE_MAX_LENGTH = 25000
NOTE_CHANNEL = {"summary": "The PagerDuty website or APIs", "type": "web_api"}
TARGET_KINDS = ("user", "escalation_policy")


def _incident(call):
    return call.store.get("incident", call.params["id"])


# Notes ---------------------------------------------------------------------------------------
def note_json(store, note):
    return {"id": note["id"], "user": store.ref("user", note["user_id"]) if note["user_id"] else None,
            "channel": dict(NOTE_CHANNEL), "content": note["content"],
            "created_at": iso(note["created"]), "updated_at": iso(note["updated"])}


def _note_content(call):
    body = call.wrapped("note")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise invalid("note.content can't be blank")
    if len(content) > NOTE_MAX_LENGTH:
        raise invalid(f"note.content is too long (maximum is {NOTE_MAX_LENGTH} characters)")
    return content


@route("GET", "/incidents/{id}/notes")
def list_notes(call):
    inc = _incident(call)
    return 200, {"notes": [note_json(call.store, n) for n in inc["notes"]]}


@route("POST", "/incidents/{id}/notes", from_header="required")
def add_note(call):
    store = call.store
    inc = _incident(call)
    content = _note_content(call)
    if len(inc["notes"]) >= MAX_NOTES:
        raise invalid(f"An incident can have at most {MAX_NOTES} notes")
    note = {"id": store.new_id(), "user_id": call.actor(), "content": content, "created": call.now,
            "updated": call.now}
    inc["notes"].append(note)
    inc["updated"] = call.now
    log_entries.add(store, inc, "annotate_log_entry", call.now, call.agent(), "Note added.", {"type": "note"},
                    note=content)
    outbound.incident_event(store, "incident.annotated", inc, call.agent(), call.now,
                            outbound.note_data(store, inc, note))
    # The contract answers 200 here (not 201).
    return 200, {"note": note_json(store, note)}


def _find_note(call, inc):
    note = next((n for n in inc["notes"] if n["id"] == call.params["note_id"]), None)
    if note is None:
        raise not_found("note")
    return note


@route("PUT", "/incidents/{id}/notes/{note_id}", from_header="required")
def edit_note(call):
    inc = _incident(call)
    note = _find_note(call, inc)
    note["content"] = _note_content(call)
    note["updated"] = call.now
    return 200, {"note": note_json(call.store, note)}


@route("DELETE", "/incidents/{id}/notes/{note_id}")
def delete_note(call):
    inc = _incident(call)
    inc["notes"].remove(_find_note(call, inc))
    return 204, None


# Status updates -------------------------------------------------------------------------------
@route("POST", "/incidents/{id}/status_updates", from_header="required")
def add_status_update(call):
    store = call.store
    inc = _incident(call)
    body = call.body if isinstance(call.body, dict) else {}   # top-level fields, no wrapper
    message = v.text(body, "message", 25000, required_=True)
    subject = v.text(body, "subject", 1024)
    html = v.text(body, "html_message", 100000)
    if (subject is None) != (html is None):
        raise invalid("subject and html_message go together (a custom HTML email needs both)")
    update = {"id": store.new_id(), "message": message, "subject": subject, "html_message": html,
              "sender_id": call.actor(), "created": call.now}
    inc["status_updates"].append(update)
    inc["updated"] = call.now
    outbound.incident_event(store, "incident.status_update_published", inc, call.agent(), call.now,
                            outbound.status_update_data(store, inc, update))
    out = {"id": update["id"], "message": message, "created_at": iso(call.now),
           "sender": store.ref("user", update["sender_id"])}
    if subject is not None:
        out.update(subject=subject, html_message=html)
    return 200, {"status_update": out}


# Responder requests ---------------------------------------------------------------------------
def _requester(store, body):
    requester_id = body.get("requester_id")
    if not requester_id:
        raise ApiError(400, REQUESTER_ID_MISSING, "The action requires a 'requester_id' to be specified",
                       ["requester_id is required"])
    if not isinstance(requester_id, str) or requester_id not in store.users:
        raise ApiError(400, REQUESTER_NOT_FOUND, "Requester User Not Found",
                       [f"requester_id {requester_id} is not a user on this account"])
    return requester_id


def _targets(store, raw):
    """Both shapes PagerDuty shows: flat {id, type} and {"responder_request_target": {id, type}}."""
    if not isinstance(raw, list) or not raw:
        raise invalid("responder_request_targets must be a non-empty array")
    targets = []
    for i, item in enumerate(raw):
        if isinstance(item, dict) and isinstance(item.get("responder_request_target"), dict):
            item = item["responder_request_target"]
        target = v.existing_ref(store, item, TARGET_KINDS, f"responder_request_targets[{i}]")
        if target not in targets:
            targets.append(target)
    return targets


@route("POST", "/incidents/{id}/responder_requests")
def request_responders(call):
    store = call.store
    account.require_ability(store, "coordinated_responding")
    inc = _incident(call)
    body = call.body if isinstance(call.body, dict) else {}   # top-level fields, no wrapper
    requester_id = _requester(store, body)
    message = v.text(body, "message", 10000, required_=True)
    targets = _targets(store, body.get("responder_request_targets"))
    if inc["status"] == "resolved":
        raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved", [f"Incident {inc['id']} is resolved"])
    request = {"id": store.new_id(), "requester_id": requester_id, "message": message, "requested": call.now,
               "targets": targets}
    for kind, target_id in targets:
        users = [target_id] if kind == "user" else lifecycle.assignees_for(store, target_id, 1, call.now)
        for user_id in users:
            inc["responders"].append({"request_id": request["id"], "target": (kind, target_id), "user_id": user_id,
                                      "state": "pending", "message": message, "requester_id": requester_id,
                                      "requested": call.now, "updated": call.now})
    inc["responder_requests"].append(request)
    inc["updated"] = call.now
    agent = ("user", requester_id)
    for responder in inc["responders"]:
        if responder["request_id"] == request["id"]:
            outbound.incident_event(store, "incident.responder.added", inc, agent, call.now,
                                    outbound.responder_data(store, inc, responder))
    # The contract answers 200 here (not 201).
    return 200, {"responder_request": incident_view.responder_request_json(store, inc, request)}


@route("PUT", "/incidents/{id}/responder_requests/cancel")
def cancel_responders(call):
    store = call.store
    account.require_ability(store, "coordinated_responding")
    inc = _incident(call)
    body = call.body if isinstance(call.body, dict) else {}
    _requester(store, body)
    results = []
    for kind, target_id in _targets(store, body.get("responder_request_targets")):
        matching = [r for r in inc["responders"] if r["target"] == (kind, target_id)]
        pending = [r for r in matching if r["state"] == "pending"]
        for r in pending:
            r["state"] = "user_cancelled"
            r["updated"] = call.now
        if pending:
            result = "cancelled"
        elif any(r["state"] == "joined" for r in matching):
            result = "joined"
        elif any(r["state"] == "declined" for r in matching):
            result = "declined"
        else:
            result = "not_found"
        results.append({"type": kind + "_reference", "id": target_id, "result": result})
    return 200, {"responder_request_targets": results}
