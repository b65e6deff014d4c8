"""Store records -> the JSON objects PagerDuty answers with (directory resources)."""
from .timeutil import iso


def expanded(full, ref_type):
    """A full object where the contract types the field as a reference, under the reference's type name
    (the merge answer). Objects added by include[] keep their own type instead, as PagerDuty answers them."""
    full["type"] = ref_type
    return full


def user(store, rec, include=()):
    uid = rec["id"]
    teams = [tid for tid, members in store.members.items() if uid in members]
    methods = [cm for cm in store.contact_methods.values() if cm["user_id"] == uid]
    rules = [nr for nr in store.notification_rules.values() if nr["user_id"] == uid]
    out = store.entity("user", uid)
    out.update({
        "name": rec["name"],
        "email": rec["email"],
        "time_zone": rec["time_zone"],
        "color": rec["color"],
        "role": rec["role"],
        "avatar_url": f"https://secure.gravatar.com/avatar/{uid.lower()}.png?d=mm&r=PG",
        "description": rec.get("description"),
        "invitation_sent": False,
        "job_title": rec.get("job_title") or "",
        "created_via_sso": False,
        "teams": [team(store, store.teams[t]) if "teams" in include
                  else store.ref("team", t) for t in teams],
        "contact_methods": [contact_method(store, cm) if "contact_methods"
                            in include else store.ref("contact_method", cm["id"], cm["type"] + "_reference")
                            for cm in methods],
        "notification_rules": [notification_rule(store, nr)
                               if "notification_rules" in include
                               else store.ref("notification_rule", nr["id"], "assignment_notification_rule_reference")
                               for nr in rules],
    })
    return out


def contact_method(store, rec):
    out = store.entity("contact_method", rec["id"], rec["type"])
    out["html_url"] = None
    out.update({"label": rec["label"], "address": rec["address"]})
    if rec["type"] in ("phone_contact_method", "sms_contact_method"):
        out.update({"country_code": rec.get("country_code", 1), "enabled": True, "blacklisted": False})
    elif rec["type"] == "email_contact_method":
        out.update({"send_short_email": bool(rec.get("send_short_email")), "enabled": True})
    elif rec["type"] == "push_notification_contact_method":
        out.update({"device_type": rec.get("device_type", "android"), "blacklisted": False,
                    "created_at": iso(rec["created"]), "sounds": []})
    return out


def notification_rule(store, rec, include=()):
    out = store.entity("notification_rule", rec["id"], "assignment_notification_rule")
    out["html_url"] = None
    cm = store.contact_methods.get(rec["contact_method_id"])
    if cm is not None and "contact_methods" in include:
        method = contact_method(store, cm)
    elif cm is not None:
        method = store.ref("contact_method", cm["id"], cm["type"] + "_reference")
    else:
        method = {"id": rec["contact_method_id"], "type": "contact_method_reference"}
    out.update({"start_delay_in_minutes": rec["start_delay_in_minutes"], "urgency": rec["urgency"],
                "contact_method": method})
    return out


def team(store, rec):
    out = store.entity("team", rec["id"])
    out.update({"name": rec["name"], "description": rec.get("description") or "",
                "default_role": rec.get("default_role", "manager")})
    return out


def integration(store, rec):
    out = store.entity("integration", rec["id"], rec["type"])
    out.update({"name": rec["name"], "service": store.ref("service", rec["service_id"]),
                "created_at": iso(rec["created"])})
    if rec.get("integration_key"):
        out["integration_key"] = rec["integration_key"]
    if rec.get("integration_email"):
        out["integration_email"] = rec["integration_email"]
    if rec.get("vendor_id"):
        out["vendor"] = store.ref("vendor", rec["vendor_id"])
    return out


def service(store, rec, include=(), now=None):
    sid = rec["id"]
    out = store.entity("service", sid)
    integrations = [store.integrations[i] for i in rec["integration_ids"] if i in store.integrations]
    ep_id = rec["escalation_policy_id"]
    out.update({
        "name": rec["name"],
        "description": rec.get("description") or "",
        "auto_resolve_timeout": rec.get("auto_resolve_timeout"),
        "acknowledgement_timeout": rec.get("acknowledgement_timeout"),
        "created_at": iso(rec["created"]),
        "updated_at": iso(rec.get("updated", rec["created"])),
        "status": service_status(store, rec, now),
        "escalation_policy": (escalation_policy(store, store.escalation_policies[ep_id])
                              if "escalation_policies" in include and ep_id in store.escalation_policies
                              else store.ref("escalation_policy", ep_id)),
        "teams": [team(store, store.teams[t]) if "teams" in include
                  else store.ref("team", t) for t in rec["team_ids"] if t in store.teams],
        "integrations": [integration(store, i) if "integrations" in include
                         else store.ref("integration", i["id"], i["type"] + "_reference")
                         for i in integrations],
        "incident_urgency_rule": rec.get("incident_urgency_rule") or {"type": "constant", "urgency": "high"},
        "scheduled_actions": [],
        "addons": [],
        "alert_creation": rec.get("alert_creation", "create_alerts_and_incidents"),
    })
    if rec.get("auto_resolve_timeout") is None:
        del out["auto_resolve_timeout"]   # not nullable in the schema; PagerDuty sends null
    if rec.get("acknowledgement_timeout") is None:
        del out["acknowledgement_timeout"]
    if rec.get("last_incident"):
        out["last_incident_timestamp"] = iso(rec["last_incident"])
    return out


def service_status(store, rec, now):
    """'disabled' if so; 'maintenance' inside a window; else from the open incidents' state."""
    if rec.get("disabled"):
        return "disabled"
    if now is not None and in_maintenance(store, rec["id"], now):
        return "maintenance"
    states = {store.incidents[i]["status"] for i in rec.get("open_incident_ids", ()) if i in store.incidents}
    if "triggered" in states:
        return "critical"
    if "acknowledged" in states:
        return "warning"
    return rec.get("status", "active")


def in_maintenance(store, service_id, now):
    return any(service_id in mw["service_ids"] and mw["start"] <= now < mw["end"]
               for mw in store.maintenance_windows.values())


def escalation_policy(store, rec, include=()):
    out = store.entity("escalation_policy", rec["id"])
    services = [s["id"] for s in store.services.values() if s["escalation_policy_id"] == rec["id"]]
    out.update({
        "name": rec["name"],
        "description": rec.get("description") or "",
        "num_loops": rec.get("num_loops", 0),
        "on_call_handoff_notifications": rec.get("on_call_handoff_notifications", "if_has_services"),
        "escalation_rules": [escalation_rule(store, rule, include) for rule in rec["rules"]],
        "services": [service(store, store.services[s]) if "services" in include
                     else store.ref("service", s) for s in services],
        "teams": [team(store, store.teams[t]) if "teams" in include
                  else store.ref("team", t) for t in rec["team_ids"] if t in store.teams],
    })
    return out


def escalation_rule(store, rule, include=()):
    targets = []
    for kind, target_id in rule["targets"]:
        if "targets" in include and kind == "user" and target_id in store.users:
            targets.append(user(store, store.users[target_id]))
        else:
            targets.append(store.ref(kind, target_id))
    return {"id": rule["id"], "escalation_delay_in_minutes": rule["delay"], "targets": targets}


def priority(store, rec):
    out = store.entity("priority", rec["id"])
    out.update({"name": rec["name"], "description": rec["description"], "color": rec["color"],
                "order": rec["order"]})
    return out


def extension_schema(store, rec):
    out = store.entity("extension_schema", rec["id"])
    out.update({k: rec[k] for k in ("icon_url", "logo_url", "label", "key", "description", "guide_url",
                                     "send_types", "url")})
    return out


def extension(store, rec, include=()):
    out = store.entity("extension", rec["id"])
    schema = store.extension_schemas.get(rec["extension_schema_id"])
    out.update({
        "name": rec["name"],
        "endpoint_url": rec.get("endpoint_url"),
        "extension_objects": [service(store, store.services[s])
                              if "extension_objects" in include and s in store.services
                              else store.ref("service", s) for s in rec["service_ids"]],
        "extension_schema": (extension_schema(store, schema)
                             if "extension_schemas" in include and schema
                             else store.ref("extension_schema", rec["extension_schema_id"])),
        "temporarily_disabled": rec.get("temporarily_disabled", False),
        "config": rec.get("config") or {},
    })
    if out["endpoint_url"] is None:
        del out["endpoint_url"]
    return out


def maintenance_window(store, rec):
    out = store.entity("maintenance_window", rec["id"])
    team_ids = []
    for sid in rec["service_ids"]:
        for tid in (store.services.get(sid) or {}).get("team_ids", ()):
            if tid not in team_ids and tid in store.teams:
                team_ids.append(tid)
    out.update({
        "sequence_number": rec["sequence_number"],
        "start_time": iso(rec["start"]),
        "end_time": iso(rec["end"]),
        "description": rec.get("description") or "",
        "services": [store.ref("service", s) for s in rec["service_ids"]],
        "teams": [store.ref("team", t) for t in team_ids],
    })
    if rec.get("created_by") in store.users:
        out["created_by"] = store.ref("user", rec["created_by"])
    return out
