"""Incident and alert records -> PagerDuty's JSON."""
from . import log_entries, render
from .timeutil import iso

def incident(store, inc, include=(), with_body=False):
    iid = inc["id"]
    service = store.services.get(inc["service_id"])
    ep = store.escalation_policies.get(inc["ep_id"])
    team_ids = [t for t in (service or {}).get("team_ids", ()) if t in store.teams]
    users = "assignees" in include or "users" in include
    out = store.entity("incident", iid)
    out.update({
        "incident_number": inc["number"],
        "title": inc["title"],
        "description": inc["title"],
        "created_at": iso(inc["created"]),
        "updated_at": iso(inc["updated"]),
        "status": inc["status"],
        "incident_key": inc["key"],
        "service": (render.service(store, service) if "services" in include and service
                    else store.ref("service", inc["service_id"])),
        "assignments": [{"at": iso(at), "assignee": _user(store, uid, users)} for uid, at in inc["assignments"]],
        "assigned_via": inc["assigned_via"],
        "last_status_change_at": iso(inc["changed"]),
        "last_status_change_by": _agent(store, inc["changed_by"], inc),
        "resolved_at": iso(inc["resolved_at"]),   # null until resolved, as PagerDuty sends it
        "first_trigger_log_entry": _first_log(store, inc, include),
        "alert_counts": _alert_counts(store, inc),
        "is_mergeable": inc["status"] != "resolved",
        "incident_type": {"name": inc.get("incident_type") or "incident_default"},
        "escalation_policy": (render.escalation_policy(store, ep) if "escalation_policies" in include and ep
                              else store.ref("escalation_policy", inc["ep_id"])),
        "teams": [render.team(store, store.teams[t]) if "teams" in include else store.ref("team", t)
                  for t in team_ids],
        "pending_actions": _pending(store, inc),
        "acknowledgements": [{"at": iso(at), "acknowledger": _acknowledger(store, agent, include)}
                             for agent, at in inc["acks"] if agent is not None],
        "priority": (render.priority(store, store.priorities[inc["priority_id"]])
                     if inc["priority_id"] in store.priorities else None),   # null when unset, as in PagerDuty
        "resolve_reason": ({"type": "merge_resolve_reason", "incident": store.ref("incident", inc["merged_into"])}
                           if inc["merged_into"] else None),
        "incidents_responders": [responder_json(store, inc, r) for r in inc["responders"]],
        "responder_requests": [responder_request_json(store, inc, rr) for rr in inc["responder_requests"]],
        "urgency": inc["urgency"],
    })
    if inc["conference_bridge"]:
        out["conference_bridge"] = dict(inc["conference_bridge"])
    if with_body:
        # details may be a string (PagerDuty's own examples send one) or an object: echoed as given
        out["body"] = {"type": "incident_body", "details": inc["details"] if inc["details"] is not None else ""}
    return out


def _user(store, user_id, full):
    if full and user_id in store.users:
        return render.user(store, store.users[user_id])
    return store.ref("user", user_id)


def _agent(store, agent, inc):
    if agent is None:
        return store.ref("service", inc["service_id"])
    kind, agent_id = agent
    if kind == "integration":
        return store.ref("service", inc["service_id"])
    return store.ref(kind, agent_id)


def _acknowledger(store, agent, include):
    kind, agent_id = agent
    if kind == "user":
        return _user(store, agent_id, "acknowledgers" in include)
    if kind == "integration":
        agent_id = store.integrations.get(agent_id, {}).get("service_id", agent_id)
    return store.ref("service", agent_id)


def _first_log(store, inc, include):
    rec = store.log_entries.get(inc.get("first_log_id"))
    if rec is None:
        return None
    if "first_trigger_log_entries" in include:
        return log_entries.render(store, rec)
    return store.ref("log_entry", rec["id"], "trigger_log_entry_reference")


def _alert_counts(store, inc):
    triggered = sum(1 for a in inc["alert_ids"] if store.alerts[a]["status"] == "triggered")
    return {"all": len(inc["alert_ids"]), "triggered": triggered, "resolved": len(inc["alert_ids"]) - triggered}


def _pending(store, inc):
    """Only what the sandbox really will do: a snoozed incident is unacknowledged when the snooze ends."""
    if inc["status"] == "acknowledged" and inc["snoozed_until"] is not None:
        return [{"type": "unacknowledge", "at": iso(inc["snoozed_until"])}]
    return []


def responder_json(store, inc, r):
    return {
        "state": r["state"],
        "user": store.ref("user", r["user_id"]),
        "incident": store.ref("incident", inc["id"]),
        "updated_at": iso(r["updated"]),
        "message": r["message"],
        "requester": store.ref("user", r["requester_id"]),
        "requested_at": iso(r["requested"]),
    }


def responder_request_json(store, inc, rr):
    targets = []
    for kind, target_id in rr["targets"]:
        responders = [responder_json(store, inc, r) for r in inc["responders"]
                      if r["request_id"] == rr["id"] and r["target"] == (kind, target_id)]
        # PagerDuty wraps each target: {"responder_request_target": {...}}
        targets.append({"responder_request_target": {
            "id": target_id, "type": kind, "summary": store.summary(kind, target_id),
            "incident_responders": responders}})
    return {
        "incident": store.ref("incident", inc["id"]),
        "requester": store.ref("user", rr["requester_id"]),
        "requested_at": iso(rr["requested"]),
        "message": rr["message"],
        "responder_request_targets": targets,
    }


def alert(store, rec, include=()):
    out = store.entity("alert", rec["id"])
    out.update({
        "created_at": iso(rec["created"]),
        "status": rec["status"],
        "alert_key": rec["key"],
        "service": store.ref("service", rec["service_id"]),
        "first_trigger_log_entry": store.ref("log_entry", rec["first_log_id"], "trigger_log_entry_reference"),
        "incident": store.ref("incident", rec["incident_id"]),
        "suppressed": False,
        "severity": rec["severity"],
        "integration": store.ref("integration", rec["integration_id"],
                                 store.integrations.get(rec["integration_id"], {}).get(
                                     "type", "events_api_v2_inbound_integration") + "_reference"),
        "body": {"type": "alert_body", "contexts": rec.get("contexts", []),
                 "details": rec["details"] if isinstance(rec["details"], dict) else {"details": rec["details"]},
                 "cef_details": rec.get("cef", {})},
    })
    if rec.get("resolved") is not None:
        out["resolved_at"] = iso(rec["resolved"])
    if "incidents" in include and rec["incident_id"] in store.incidents:
        out["incident"] = incident(store, store.incidents[rec["incident_id"]])
    if "services" in include and rec["service_id"] in store.services:
        out["service"] = render.service(store, store.services[rec["service_id"]])
    return out
