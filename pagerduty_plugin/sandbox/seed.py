"""The two starting accounts: `demo` (a small, complete organisation) and `empty` (one admin)."""
import hashlib

from . import account, enqueue, incident_types, lifecycle, services, status_pages, users
from .timeutil import DAY

API_KEY = "u+sbxDemo_Key-7QfZ2w"        # 20 characters with _, + and -, like a real key
READONLY_API_KEY = "r+sbxRead_Only-9XkPq"
USER_API_KEY = "y_sbxUserKey+4Lm-8Tq"   # a user-level key (the admin's): GET /users/me works with it
ROTATION_START = 1704067200.0            # 2024-01-01T00:00:00Z

# role -> (name, email); the admin's email is the `from_email` of the connection info
PEOPLE = {
    "admin": ("Ada Admin", "ada.admin@example.com"),
    "owner": ("Olive Owner", "olive.owner@example.com"),
    "user": ("Uma Manager", "uma.manager@example.com"),
    "limited_user": ("Liam Responder", "liam.responder@example.com"),
    "observer": ("Otto Observer", "otto.observer@example.com"),
    "read_only_user": ("Rita Stakeholder", "rita.stakeholder@example.com"),
    "read_only_limited_user": ("Leo Limited", "leo.limited@example.com"),
    "restricted_access": ("Rae Restricted", "rae.restricted@example.com"),
}
EXTRA_RESPONDERS = (("Sam Oncall", "sam.oncall@example.com"), ("Nia Oncall", "nia.oncall@example.com"))
PRIORITIES = (("P1", "Critical: customers cannot work", "a8171c"), ("P2", "High: major degradation", "eb6016"),
              ("P3", "Moderate: partial impact", "f9b406"), ("P4", "Low: minor impact", "555555"),
              ("P5", "Informational", "dddddd"))


def routing_key(label):
    return hashlib.blake2b(f"pagerduty-sandbox:{label}".encode(), digest_size=16).hexdigest()


def apply(store, seed, now):
    """Fill a cleared store; returns the seed ids (also kept in store.seed_ids)."""
    if seed not in ("demo", "empty"):
        raise ValueError(f"unknown seed {seed!r}: use demo or empty")
    store.abilities = {name: True for name in account.ABILITIES}
    admin = _user(store, "admin", *PEOPLE["admin"], now - 400 * DAY)
    store.api_keys[API_KEY] = {"read_only": False, "user_id": None}
    store.api_keys[READONLY_API_KEY] = {"read_only": True, "user_id": None}
    store.api_keys[USER_API_KEY] = {"read_only": False, "user_id": admin["id"]}
    ids = {"api_key": API_KEY, "readonly_api_key": READONLY_API_KEY, "user_api_key": USER_API_KEY,
           "from_email": admin["email"], "users": {"admin": admin["id"]}, "emails": {"admin": admin["email"]},
           "routing_keys": [], "routing_key": None, "second_routing_key": None, "responders": [], "teams": [],
           "schedules": [], "escalation_policies": [], "services": [], "integrations": [], "priorities": {},
           "extension_schemas": [], "extensions": [], "maintenance_windows": [],
           "incidents": {"triggered": [], "acknowledged": [], "resolved": []}}
    if seed == "demo":
        _demo(store, ids, admin, now)
    store.seed_ids = ids
    return ids


def _user(store, role, name, email, created):
    rec = {"id": store.new_id(), "name": name, "email": email, "role": role, "time_zone": "Etc/UTC",
           "color": users.COLORS[len(store.users) % len(users.COLORS)], "job_title": role.replace("_", " ").title(),
           "description": None, "created": created}
    store.users[rec["id"]] = rec
    users._add_default_contact(store, rec, created)
    return rec


def _demo(store, ids, admin, now):
    people = {"admin": admin}
    for role, (name, email) in PEOPLE.items():
        if role != "admin":
            people[role] = _user(store, role, name, email, now - 300 * DAY)
    sam = _user(store, "limited_user", *EXTRA_RESPONDERS[0], now - 200 * DAY)
    nia = _user(store, "user", *EXTRA_RESPONDERS[1], now - 200 * DAY)
    ids["users"].update({role: rec["id"] for role, rec in people.items()})
    ids["emails"].update({role: rec["email"] for role, rec in people.items()})
    ids["responders"] = [sam["id"], nia["id"]]
    _phone(store, people["user"], "5555550101")
    _phone(store, people["limited_user"], "5555550102")

    platform = _team(store, "Platform", "Web platform and shared infrastructure",
                     {admin["id"]: "manager", people["user"]["id"]: "manager",
                      people["limited_user"]["id"]: "responder", sam["id"]: "responder"})
    payments = _team(store, "Payments", "Checkout and billing",
                     {people["owner"]["id"]: "manager", nia["id"]: "responder",
                      people["user"]["id"]: "responder", people["observer"]["id"]: "observer"})
    ids["teams"] = [platform["id"], payments["id"]]

    rotation = [people["user"]["id"], people["limited_user"]["id"], sam["id"]]
    primary = _schedule(store, "Platform Primary", rotation, platform["id"])
    ids["schedules"] = [primary["id"]]

    platform_ep = _policy(store, "Platform Escalation", platform["id"],
                          [[("schedule", primary["id"])], [("user", admin["id"])]], loops=1)
    payments_ep = _policy(store, "Payments Escalation", payments["id"],
                          [[("user", nia["id"])], [("schedule", primary["id"]), ("user", people["owner"]["id"])]])
    ids["escalation_policies"] = [platform_ep["id"], payments_ep["id"]]

    web = _service(store, "Platform Web", "The customer-facing web tier", platform_ep, platform, now)
    checkout = _service(store, "Checkout API", "Payment and order checkout", payments_ep, payments, now)
    ids["services"] = [web["id"], checkout["id"]]
    keys = []
    for service in (web, checkout):
        integration = services.add_integration(store, service, "events_api_v2_inbound_integration",
                                               "Events API V2", now - 100 * DAY, key=routing_key(service["name"]))
        keys.append(integration["integration_key"])
    ids["integrations"] = [store.routing_keys[k] for k in keys]
    ids["routing_keys"] = keys
    ids["routing_key"], ids["second_routing_key"] = keys

    ids["priorities"] = {}
    for order, (name, description, color) in enumerate(PRIORITIES):
        rec = {"id": store.new_id(), "name": name, "description": description, "color": color,
               "order": (len(PRIORITIES) - order) * 100}
        store.priorities[rec["id"]] = rec
        ids["priorities"][name] = rec["id"]

    ids["extension_schemas"], ids["extensions"] = _extensions(store, web, now)
    mw = {"id": store.new_id(), "start": now + 7 * DAY, "end": now + 7 * DAY + 7200, "sequence_number": store.next_number("maintenance_window"),
          "description": "Database upgrade", "service_ids": [checkout["id"]], "created_by": admin["id"]}
    store.maintenance_windows[mw["id"]] = mw
    ids["maintenance_windows"] = [mw["id"]]
    ids["incidents"] = _incidents(store, admin, web, checkout, ids, now)
    _newer_families(store, ids, (web, checkout), platform, now)


def _newer_families(store, ids, demo_services, team, now):
    """An incident workflow, two automation actions, incident types with custom fields, a status page."""
    workflow = {"id": store.new_id(), "name": "Major incident kickoff", "enabled": True, "created": now - 30 * DAY,
                "description": "Opens the war room and tells the responders", "team_id": team["id"],
                "steps": [{"id": store.new_id(), "name": "Add a note", "description": "Adds a note to the incident",
                           "action_id": "pagerduty.com:incident-workflows:add-note:1",
                           "message": "Incident workflow {{workflow}} started: war room opened."}]}
    store.incident_workflows[workflow["id"]] = workflow
    ids["incident_workflows"] = [workflow["id"]]
    ids["automation_actions"] = []
    runner = "01COQFFNVWIONSLY8C66YTU2O5"
    for name, description, classification, unresolved_only, data in (
            ("Collect diagnostics", "Collects disk, memory and error-rate figures from the service's hosts",
             "diagnostic", False, {"script": "collect-diagnostics --all", "invocation_command": "/bin/sh"}),
            ("Restart web tier", "Restarts the web tier's processes", "remediation", True,
             {"script": "systemctl restart web", "invocation_command": "/bin/sh"})):
        action = {"id": store.new_ulid(), "name": name, "description": description, "action_type": "script",
                  "classification": classification, "runner_id": runner, "data": data,
                  "service_ids": [s["id"] for s in demo_services], "team_ids": [team["id"]],
                  "unresolved_only": unresolved_only, "created": now - 20 * DAY}
        store.automation_actions[action["id"]] = action
        ids["automation_actions"].append(action["id"])
    ids["incident_types"] = incident_types.seed(store, now - 60 * DAY)
    ids["status_pages"] = status_pages.seed(store, now)


def _phone(store, user, number):
    cm_id = store.new_id()
    store.contact_methods[cm_id] = {"id": cm_id, "user_id": user["id"], "type": "phone_contact_method",
                                    "label": "Mobile", "address": number, "country_code": 1,
                                    "created": user["created"]}
    nr_id = store.new_id()
    store.notification_rules[nr_id] = {"id": nr_id, "user_id": user["id"], "start_delay_in_minutes": 5,
                                       "urgency": "high", "contact_method_id": cm_id}


def _team(store, name, description, members):
    rec = {"id": store.new_id(), "name": name, "description": description, "default_role": "manager"}
    store.teams[rec["id"]] = rec
    store.members[rec["id"]] = dict(members)
    return rec


def _schedule(store, name, rotation, team_id):
    layer = {"id": store.new_id(), "name": "Daily rotation", "start": ROTATION_START, "end": None,
             "virtual_start": ROTATION_START, "turn": int(DAY), "user_ids": list(rotation), "restrictions": []}
    rec = {"id": store.new_id(), "name": name, "description": "One day each, handing over at 00:00 UTC",
           "time_zone": "Etc/UTC", "layers": [layer], "overrides": [], "team_ids": [team_id]}
    store.schedules[rec["id"]] = rec
    return rec


def _policy(store, name, team_id, levels, loops=0):
    rules = [{"id": store.new_id(), "delay": 30, "targets": targets} for targets in levels]
    rec = {"id": store.new_id(), "name": name, "description": f"{name} for on-call responders",
           "num_loops": loops, "on_call_handoff_notifications": "if_has_services", "rules": rules,
           "team_ids": [team_id]}
    store.escalation_policies[rec["id"]] = rec
    return rec


def _service(store, name, description, ep, team, now):
    rec = {"id": store.new_id(), "name": name, "description": description, "escalation_policy_id": ep["id"],
           "team_ids": [team["id"]], "integration_ids": [], "created": now - 150 * DAY, "updated": now - 150 * DAY,
           "status": "active", "auto_resolve_timeout": 14400, "acknowledgement_timeout": 1800,
           "incident_urgency_rule": {"type": "constant", "urgency": "high"},
           "alert_creation": "create_alerts_and_incidents", "open_incident_ids": set(), "open_keys": {}}
    store.services[rec["id"]] = rec
    return rec


def _extensions(store, service, now):
    schemas = []
    for label, key, description in (
            ("Generic V2 Webhook", "custom_webhook", "Send incident updates to any HTTPS endpoint."),
            ("Slack V2", "slack_v2", "Post incident updates to a Slack channel.")):
        rec = {"id": store.new_id(), "label": label, "key": key, "description": description,
               "icon_url": f"https://sandbox.pagerduty.invalid/icons/{key}.png",
               "logo_url": f"https://sandbox.pagerduty.invalid/logos/{key}.png",
               "guide_url": f"https://sandbox.pagerduty.invalid/guides/{key}",
               "send_types": ["trigger", "acknowledge", "resolve"], "url": "https://sandbox.pagerduty.invalid"}
        store.extension_schemas[rec["id"]] = rec
        schemas.append(rec["id"])
    ext = {"id": store.new_id(), "name": "Ops webhook", "extension_schema_id": schemas[0],
           "service_ids": [service["id"]], "endpoint_url": "https://hooks.example.com/pagerduty",
           "temporarily_disabled": False, "config": {}, "created": now - 50 * DAY}
    store.extensions[ext["id"]] = ext
    return schemas, [ext["id"]]


def _event(store, service, summary, severity, dedup, when):
    integration = store.integrations[service["integration_ids"][0]]
    event = {"event_action": "trigger", "dedup_key": dedup,
             "payload": {"summary": summary, "source": "monitoring.example.com", "severity": severity,
                         "custom_details": {"runbook": "https://runbooks.example.com/" + dedup}}}
    enqueue._trigger(store, service, integration, event, dedup, when)
    return next(reversed(store.incidents.values()))


def _rest(store, service, title, when, admin, **kw):
    channel = {"type": "web_trigger", "summary": title, "subject": title, "details": kw.get("details") or ""}
    return lifecycle.new_incident(store, service, title, when, ("user", admin["id"]), channel, **kw)


def _incidents(store, admin, web, checkout, ids, now):
    actor = ("user", admin["id"])
    p = ids["priorities"]
    out = {"triggered": [], "acknowledged": [], "resolved": []}
    out["triggered"].append(_event(store, web, "High error rate on web-1", "critical", "web-1/errors",
                                   now - 5 * 3600)["id"])
    out["triggered"].append(_rest(store, checkout, "Checkout latency above SLO", now - 3 * 3600, admin,
                                  priority_id=p["P2"], details="p95 latency 2.3 s for 10 minutes")["id"])
    inc = _event(store, web, "Disk 91% full on web-2", "warning", "web-2/disk", now - 2 * DAY)
    lifecycle.acknowledge(store, inc, now - 2 * DAY + 600, actor)
    inc["notes"].append({"id": store.new_id(), "user_id": admin["id"], "content": "Cleaning old logs.",
                         "created": now - 2 * DAY + 900, "updated": now - 2 * DAY + 900})
    out["acknowledged"].append(inc["id"])
    inc = _rest(store, checkout, "Card payments intermittently declined", now - DAY, admin, urgency="low",
                priority_id=p["P3"])
    lifecycle.acknowledge(store, inc, now - DAY + 300, ("user", inc["assignments"][0][0]))
    out["acknowledged"].append(inc["id"])
    inc = _rest(store, web, "CDN certificate expiring", now - 6 * DAY, admin)
    lifecycle.resolve(store, inc, now - 6 * DAY + 1800, actor, note="Certificate renewed.")
    out["resolved"].append(inc["id"])
    inc = _event(store, checkout, "Payment provider timeouts", "error", "psp/timeouts", now - 4 * DAY)
    alert = store.alerts[inc["alert_ids"][0]]
    lifecycle.resolve_alert(store, alert, now - 4 * DAY + 1200)
    lifecycle.resolve(store, inc, now - 4 * DAY + 1200, ("service", checkout["id"]))
    out["resolved"].append(inc["id"])
    return out


def bulk_incidents(store, count, service_id, status, now):
    """Insert `count` incidents straight into the store (benchmarks, paging tests)."""
    service = store.services.get(service_id) if service_id else next(iter(store.services.values()), None)
    if service is None:
        raise ValueError("no such service (the empty seed has none: create one first)")
    if status not in ("triggered", "acknowledged", "resolved"):
        raise ValueError("status must be triggered, acknowledged or resolved")
    actor_id = store.seed_ids.get("users", {}).get("admin") or next(iter(store.users))
    actor = ("user", actor_id)
    step = min(60.0, 20 * DAY / max(count, 1))
    assignees = lifecycle.assignees_for(store, service["escalation_policy_id"], 1, now)
    created = []
    for i in range(count):
        when = now - (count - i) * step
        inc = lifecycle.new_incident(store, service, f"Seeded incident {i + 1} of {count}", when, actor,
                                     {"type": "api"}, ep_assignees=assignees)
        if status in ("acknowledged", "resolved") and status != inc["status"]:
            if status == "acknowledged":
                lifecycle.acknowledge(store, inc, when + 1, actor)
            else:
                lifecycle.resolve(store, inc, when + 1, actor)
        created.append(inc["id"])
    return created

