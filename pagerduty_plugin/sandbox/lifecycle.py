"""The incident state machine shared by the REST API and Events API (call with the store lock held).

triggered -> acknowledged -> resolved; a REST PUT of triggered/acknowledged reopens a resolved incident
(PagerDuty since 2025-09-18); events never do.
"""
from . import log_entries, outbound, rotation
from .errors import ApiError, invalid, ALREADY_RESOLVED, ALREADY_ACKNOWLEDGED, CANNOT_ESCALATE, \
    NOT_ACKNOWLEDGED, INVALID_SNOOZE

SNOOZE_MAX = 604800
API = {"type": "api"}


def _indexes(service):
    service.setdefault("open_incident_ids", set())
    service.setdefault("open_keys", {})
    return service


def _name(store, agent):
    if agent is None:
        return "PagerDuty"
    return store.summary(agent[0], agent[1]) or agent[1]


def assignees_for(store, ep_id, level, now):
    """Users paged at one level of a policy: named users, and whoever is on call for named schedules."""
    ep = store.escalation_policies.get(ep_id)
    if not ep or not ep["rules"]:
        return []
    rule = ep["rules"][min(level, len(ep["rules"])) - 1]
    users = []
    for kind, target_id in rule["targets"]:
        if kind == "user":
            user_id = target_id
        else:
            schedule = store.schedules.get(target_id)
            user_id = rotation.on_call_now(schedule, now) if schedule else None
        if user_id in store.users and user_id not in users:
            users.append(user_id)
    return users


def check_key_free(store, service, key, incident_id=None):
    holder = _indexes(service)["open_keys"].get(key)
    if holder is not None and holder != incident_id:
        number = store.incidents[holder]["number"]
        raise invalid(f"Open incident with key '{key}' already exists on this service (#{number})")


def new_incident(store, service, title, now, agent, channel=None, *, urgency="high", key=None,
                 priority_id=None, ep_id=None, user_ids=None, details=None, conference_bridge=None,
                 summary="Triggered through the API", ep_assignees=None):
    _indexes(service)
    key = key or store.unique_key()
    check_key_free(store, service, key)
    ep_id = ep_id or service["escalation_policy_id"]
    if not user_ids and ep_assignees is None:   # worked out before anything is stored
        ep_assignees = assignees_for(store, ep_id, 1, now)
    inc = {
        "id": store.new_id(), "number": store.next_number("incident"), "title": title, "status": "triggered",
        "urgency": urgency, "service_id": service["id"], "ep_id": ep_id,
        "level": 1, "assignments": [], "assigned_via": "escalation_policy", "acks": [], "priority_id": priority_id,
        "key": key, "created": now, "updated": now, "changed": now, "changed_by": agent, "resolved_at": None,
        "details": details, "conference_bridge": conference_bridge, "merged_into": None, "alert_ids": [],
        "log_ids": [], "notes": [], "status_updates": [], "responder_requests": [], "responders": [],
        "snoozed_until": None,
    }
    store.incidents[inc["id"]] = inc
    store.incident_numbers[str(inc["number"])] = inc["id"]
    service["open_incident_ids"].add(inc["id"])
    service["open_keys"][key] = inc["id"]
    service["last_incident"] = now
    trigger = log_entries.add(store, inc, "trigger_log_entry", now, agent, summary, channel)
    inc["first_log_id"] = trigger["id"]
    if user_ids:
        _assign(store, inc, user_ids, "direct_assignment", now, agent)
    else:
        _assign(store, inc, ep_assignees, "escalation_policy", now, agent)
    outbound.incident_event(store, "incident.triggered", inc, agent, now)
    return inc


def _touch(inc, now, agent):
    inc["updated"] = now
    inc["changed"] = now
    inc["changed_by"] = agent


def _assign(store, inc, user_ids, via, now, agent, log_type="assign_log_entry", summary=None):
    inc["assignments"] = [(u, now) for u in user_ids]
    inc["assigned_via"] = via
    inc["updated"] = now
    names = ", ".join(store.summary("user", u) or u for u in user_ids) or "nobody"
    log_entries.add(store, inc, log_type, now, agent, summary or f"Assigned to {names}.",
                    API, assignees=list(user_ids))


def acknowledge(store, inc, now, agent, channel=None):
    if inc["status"] == "resolved":
        raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved", [f"Incident {inc['id']} is resolved"])
    if inc["status"] == "acknowledged":
        raise ApiError(400, ALREADY_ACKNOWLEDGED, "Incident Already Acknowledged",
                       [f"Incident {inc['id']} is already acknowledged"])
    inc["status"] = "acknowledged"
    inc["acks"].append((agent, now))
    _touch(inc, now, agent)
    timeout = store.services.get(inc["service_id"], {}).get("acknowledgement_timeout")
    log_entries.add(store, inc, "acknowledge_log_entry", now, agent, f"Acknowledged by {_name(store, agent)}.",
                    channel or API, extra={"acknowledgement_timeout": timeout})
    outbound.incident_event(store, "incident.acknowledged", inc, agent, now)


def unacknowledge(store, inc, now, agent, summary=None):
    inc["status"] = "triggered"
    inc["acks"] = []
    inc["snoozed_until"] = None
    store.snoozed.discard(inc["id"])
    _touch(inc, now, agent)
    log_entries.add(store, inc, "unacknowledge_log_entry", now, agent,
                    summary or f"Unacknowledged by {_name(store, agent)}.")
    outbound.incident_event(store, "incident.unacknowledged", inc, agent, now)


def resolve(store, inc, now, agent, channel=None, note=None, merged_into=None):
    if inc["status"] == "resolved":
        raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved", [f"Incident {inc['id']} is resolved"])
    inc["status"] = "resolved"
    inc["resolved_at"] = now
    inc["assignments"] = []
    inc["acks"] = []
    inc["snoozed_until"] = None
    inc["merged_into"] = merged_into
    store.snoozed.discard(inc["id"])
    _touch(inc, now, agent)
    service = store.services.get(inc["service_id"])
    if service is not None:
        _indexes(service)["open_incident_ids"].discard(inc["id"])
        if service["open_keys"].get(inc["key"]) == inc["id"]:
            del service["open_keys"][inc["key"]]
    for alert_id in inc["alert_ids"]:
        resolve_alert(store, store.alerts[alert_id], now)
    summary = f"Resolved by {_name(store, agent)}." if merged_into is None else \
        f"Resolved by merging into incident #{store.incidents[merged_into]['number']}."
    log_entries.add(store, inc, "resolve_log_entry", now, agent, summary, channel or API, note=note)
    outbound.incident_event(store, "incident.resolved", inc, agent, now)


def resolve_alert(store, alert, now):
    if alert["status"] != "resolved":
        alert["status"] = "resolved"
        alert["resolved"] = now
    if store.open_alerts.get((alert["service_id"], alert["key"])) == alert["id"]:
        del store.open_alerts[(alert["service_id"], alert["key"])]


def close_alert(store, alert, now, agent, channel=None):
    """Resolve an alert, then its incident once every alert of the incident is resolved."""
    resolve_alert(store, alert, now)
    inc = store.incidents[alert["incident_id"]]
    if inc["status"] != "resolved" and all(store.alerts[a]["status"] == "resolved" for a in inc["alert_ids"]):
        resolve(store, inc, now, agent, channel)


def reopen(store, inc, status, now, agent, user_ids=None, ep_id=None):
    """A REST PUT of triggered/acknowledged on a resolved incident reopens it."""
    service = store.services.get(inc["service_id"])
    if service is None:
        raise invalid(f"Incident {inc['id']} cannot be reopened: its service was deleted")
    check_key_free(store, service, inc["key"], inc["id"])
    inc["status"] = "triggered"
    inc["resolved_at"] = None
    inc["merged_into"] = None
    service["open_incident_ids"].add(inc["id"])
    service["open_keys"][inc["key"]] = inc["id"]
    _touch(inc, now, agent)
    log_entries.add(store, inc, "trigger_log_entry", now, agent, f"Reopened by {_name(store, agent)}.")
    acknowledging = status == "acknowledged"
    if acknowledging and agent and agent[0] == "user":
        _assign(store, inc, [agent[1]], "direct_assignment", now, agent)
    elif user_ids:
        acknowledging = False
        _assign(store, inc, user_ids, "direct_assignment", now, agent)
    else:
        inc["ep_id"] = ep_id or inc["ep_id"]
        inc["level"] = 1
        _assign(store, inc, assignees_for(store, inc["ep_id"], 1, now), "escalation_policy", now, agent)
    outbound.incident_event(store, "incident.reopened", inc, agent, now)
    if acknowledging:
        acknowledge(store, inc, now, agent)


def reassign(store, inc, now, agent, user_ids=None, ep_id=None):
    """New assignees (directly, or level 1 of a policy); an acknowledged incident is triggered again."""
    if inc["status"] == "resolved":
        raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved",
                       [f"Incident {inc['id']} is resolved and cannot be reassigned"])
    if inc["status"] == "acknowledged":
        inc["status"] = "triggered"
        inc["acks"] = []
    _touch(inc, now, agent)
    if ep_id is not None:
        inc["ep_id"] = ep_id
        inc["level"] = 1
        _assign(store, inc, assignees_for(store, ep_id, 1, now), "escalation_policy", now, agent)
    else:
        _assign(store, inc, user_ids, "direct_assignment", now, agent)
    # v3 names a move to another escalation policy "delegated", new assignees "reassigned"
    outbound.incident_event(store, "incident.delegated" if ep_id is not None else "incident.reassigned",
                            inc, agent, now)


def escalate(store, inc, level, now, agent):
    if inc["status"] == "resolved":
        raise ApiError(400, CANNOT_ESCALATE, "Incident cannot be escalated",
                       [f"Incident {inc['id']} is resolved"])
    rules = store.escalation_policies.get(inc["ep_id"], {}).get("rules", [])
    if not 1 <= level <= len(rules):
        raise ApiError(400, CANNOT_ESCALATE, "Incident cannot be escalated",
                       [f"escalation_level must be between 1 and {len(rules)} for this escalation policy"])
    if inc["status"] == "acknowledged":
        inc["status"] = "triggered"
        inc["acks"] = []
    inc["level"] = level
    _touch(inc, now, agent)
    _assign(store, inc, assignees_for(store, inc["ep_id"], level, now), "escalation_policy", now, agent,
            log_type="escalate_log_entry", summary=f"Escalated to level {level} by {_name(store, agent)}.")
    outbound.incident_event(store, "incident.escalated", inc, agent, now)


def snooze(store, inc, duration, now, agent):
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= SNOOZE_MAX:
        raise ApiError(400, INVALID_SNOOZE, "Invalid Snooze Duration Provided",
                       [f"duration must be an integer number of seconds from 1 to {SNOOZE_MAX}"])
    if inc["status"] == "resolved":
        raise ApiError(400, ALREADY_RESOLVED, "Incident Already Resolved", [f"Incident {inc['id']} is resolved"])
    if inc["status"] != "acknowledged":
        # Only an acknowledged incident can be snoozed.
        raise ApiError(400, NOT_ACKNOWLEDGED, "Incident Not Acknowledged",
                       [f"Incident {inc['id']} must be acknowledged before it can be snoozed"])
    inc["snoozed_until"] = now + duration
    store.snoozed.add(inc["id"])
    _touch(inc, now, agent)
    log_entries.add(store, inc, "snooze_log_entry", now, agent, f"Snoozed for {duration} seconds.",
                    {"type": "api", "duration": duration})


def expire_snoozes(store, now):
    """Snoozed incidents whose time is up return to triggered."""
    if not store.snoozed:
        return
    for incident_id in list(store.snoozed):
        inc = store.incidents.get(incident_id)
        if inc is None or inc["status"] != "acknowledged" or inc["snoozed_until"] is None:
            store.snoozed.discard(incident_id)
        elif now >= inc["snoozed_until"]:
            unacknowledge(store, inc, inc["snoozed_until"], ("service", inc["service_id"]),
                          "Unacknowledged: the snooze ended.")


def change_urgency(store, inc, urgency, now, agent):
    if urgency != inc["urgency"]:
        inc["urgency"] = urgency
        _touch(inc, now, agent)
        log_entries.add(store, inc, "urgency_change_log_entry", now, agent, f"Urgency changed to {urgency}.")


def merge(store, target, sources, now, agent):
    """Move the sources' alerts to the target and resolve the sources into it."""
    for src in sources:
        for alert_id in src["alert_ids"]:
            alert = store.alerts[alert_id]
            alert["incident_id"] = target["id"]
            target["alert_ids"].append(alert_id)
        src["alert_ids"] = []
        resolve(store, src, now, agent, merged_into=target["id"])
    target["updated"] = now
