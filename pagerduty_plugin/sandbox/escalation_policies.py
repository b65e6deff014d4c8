"""Escalation policies: ordered rules whose targets are users or schedules."""
from . import query as q, render, validate as v
from .errors import invalid
from .routing import route

TARGET_KINDS = ("user", "schedule")


def _includes(call):
    return set(q.many(call.query, "include"))


def targets_user(store, ep, user_id):
    """Does the policy page this user, directly or through a schedule's rotation or overrides?"""
    for rule in ep["rules"]:
        for kind, target_id in rule["targets"]:
            if kind == "user" and target_id == user_id:
                return True
            schedule = store.schedules.get(target_id) if kind == "schedule" else None
            if schedule and (any(user_id in layer["user_ids"] for layer in schedule["layers"])
                             or any(o["user_id"] == user_id for o in schedule["overrides"])):
                return True
    return False


@route("GET", "/escalation_policies")
def list_policies(call):
    store = call.store
    needle = q.one(call.query, "query")
    user_ids = q.many(call.query, "user_ids")
    team_ids = set(q.many(call.query, "team_ids"))
    found = [ep for ep in store.escalation_policies.values()
             if q.text_match(needle, ep["name"])
             and (not team_ids or team_ids & set(ep["team_ids"]))
             and (not user_ids or any(targets_user(store, ep, u) for u in user_ids))]
    sort_by = q.one(call.query, "sort_by", "name")
    if sort_by not in ("name", "name:asc", "name:desc"):
        raise invalid("sort_by must be name, name:asc or name:desc")
    found.sort(key=lambda ep: (ep["name"].lower(), ep["id"]), reverse=sort_by == "name:desc")
    inc = _includes(call)
    return 200, q.paginate(call.query, found, "escalation_policies",
                           lambda ep: render.escalation_policy(store, ep, inc))


@route("POST", "/escalation_policies", from_header="optional")
def create_policy(call):
    body = call.wrapped("escalation_policy")
    v.type_is(body, ("escalation_policy",), "escalation_policy")
    store = call.store
    rec = {"id": store.new_id(), "team_ids": [], "created": call.now}
    apply(store, rec, body, creating=True)
    store.escalation_policies[rec["id"]] = rec
    return 201, {"escalation_policy": render.escalation_policy(store, rec)}


@route("GET", "/escalation_policies/{id}")
def get_policy(call):
    rec = call.store.get("escalation_policy", call.params["id"])
    return 200, {"escalation_policy": render.escalation_policy(call.store, rec, _includes(call))}


@route("PUT", "/escalation_policies/{id}")
def update_policy(call):
    rec = call.store.get("escalation_policy", call.params["id"])
    body = call.wrapped("escalation_policy")
    if "type" in body:
        v.type_is(body, ("escalation_policy", "escalation_policy_reference"), "escalation_policy")
    v.staged(apply, call.store, rec, body)
    return 200, {"escalation_policy": render.escalation_policy(call.store, rec)}


@route("DELETE", "/escalation_policies/{id}")
def delete_policy(call):
    store = call.store
    rec = store.get("escalation_policy", call.params["id"])
    users = [s["name"] for s in store.services.values() if s["escalation_policy_id"] == rec["id"]]
    if users:
        raise invalid(f"Escalation policy {rec['id']} is in use by services: {', '.join(users)}")
    del store.escalation_policies[rec["id"]]
    return 204, None


def apply(store, rec, body, creating):
    name = v.text(body, "name", 255, required_=creating, where="escalation_policy")
    if name is not None:
        if any(e["name"].lower() == name.lower() and e["id"] != rec["id"]
               for e in store.escalation_policies.values()):
            raise invalid("escalation_policy.name has already been taken")
        rec["name"] = name
    description = v.text(body, "description", 1024, where="escalation_policy")
    if description is not None:
        rec["description"] = description
    loops = v.integer(body, "num_loops", 0, 9, where="escalation_policy")
    if loops is not None or creating:
        rec["num_loops"] = loops or 0
    handoff = v.choice(body, "on_call_handoff_notifications", ("if_has_services", "always"),
                       where="escalation_policy")
    if handoff:
        rec["on_call_handoff_notifications"] = handoff
    if "escalation_rules" in body or creating:
        rec["rules"] = _rules(store, body.get("escalation_rules"), rec.get("rules", []))
    if "teams" in body:
        rec["team_ids"] = v.existing_ids(store, body["teams"], "team", "escalation_policy.teams")


def _rules(store, rules, old):
    if not isinstance(rules, list) or not rules:
        raise invalid("escalation_policy.escalation_rules must be a non-empty array")
    old_ids = {r["id"] for r in old}
    parsed = []
    for i, rule in enumerate(rules):
        where = f"escalation_policy.escalation_rules[{i}]"
        if not isinstance(rule, dict):
            raise invalid(f"{where} must be an object")
        delay = rule.get("escalation_delay_in_minutes")
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise invalid(f"{where}.escalation_delay_in_minutes must be a positive integer")
        targets = rule.get("targets")
        if not isinstance(targets, list) or not 1 <= len(targets) <= 10:
            raise invalid(f"{where}.targets must hold 1 to 10 targets")
        parsed_targets = [v.existing_ref(store, target, TARGET_KINDS, f"{where}.targets[{j}]")
                          for j, target in enumerate(targets)]
        rule_id = rule.get("id") if rule.get("id") in old_ids else store.new_id()
        parsed.append({"id": rule_id, "delay": delay, "targets": parsed_targets})
    return parsed
