"""Teams and team membership (with the member's team role)."""
from . import query as q, render, validate as v
from .errors import invalid, not_found
from .routing import route

TEAM_ROLES = ("observer", "responder", "manager")


@route("GET", "/teams")
def list_teams(call):
    store = call.store
    needle = q.one(call.query, "query")
    found = sorted((t for t in store.teams.values() if q.text_match(needle, t["name"])),
                   key=lambda t: (t["name"].lower(), t["id"]))
    return 200, q.paginate(call.query, found, "teams", lambda t: render.team(store, t))


@route("POST", "/teams")
def create_team(call):
    body = call.wrapped("team")
    v.type_is(body, ("team",), "team")
    store = call.store
    rec = {"id": store.new_id(), "created": call.now}
    _apply(store, rec, body, creating=True)
    store.teams[rec["id"]] = rec
    store.members[rec["id"]] = {}
    return 201, {"team": render.team(store, rec)}


@route("GET", "/teams/{id}")
def get_team(call):
    return 200, {"team": render.team(call.store, call.store.get("team", call.params["id"]))}


@route("PUT", "/teams/{id}")
def update_team(call):
    rec = call.store.get("team", call.params["id"])
    body = call.wrapped("team")
    if "type" in body:
        v.type_is(body, ("team", "team_reference"), "team")
    v.staged(_apply, call.store, rec, body)
    return 200, {"team": render.team(call.store, rec)}


@route("DELETE", "/teams/{id}")
def delete_team(call):
    store = call.store
    rec = store.get("team", call.params["id"])
    target = q.one(call.query, "reassignment_team")
    if target and target not in store.teams:
        raise invalid(f"reassignment_team {target} does not exist")
    for holder in list(store.services.values()) + list(store.escalation_policies.values()) + \
            list(store.schedules.values()):
        if rec["id"] in holder["team_ids"]:
            holder["team_ids"] = [t for t in holder["team_ids"] if t != rec["id"]]
            if target and target not in holder["team_ids"]:
                holder["team_ids"].append(target)
    del store.teams[rec["id"]]
    store.members.pop(rec["id"], None)
    return 204, None


@route("GET", "/teams/{id}/members")
def list_members(call):
    store = call.store
    team = store.get("team", call.params["id"])
    expand = "users" in q.many(call.query, "include")
    members = list(store.members.get(team["id"], {}).items())

    def member(item):
        uid, role = item
        user = render.user(store, store.users[uid]) if expand \
            else store.ref("user", uid)
        return {"user": user, "role": role}

    return 200, q.paginate(call.query, members, "members", member)


@route("PUT", "/teams/{id}/users/{user_id}")
def add_member(call):
    store = call.store
    team = store.get("team", call.params["id"])
    user = store.get("user", call.params["user_id"])
    body = call.body if isinstance(call.body, dict) else {}
    role = v.choice(body, "role", TEAM_ROLES) or store.members[team["id"]].get(user["id"]) or \
        _default_role(team)
    store.members[team["id"]][user["id"]] = role
    return 204, None


@route("DELETE", "/teams/{id}/users/{user_id}")
def remove_member(call):
    store = call.store
    team = store.get("team", call.params["id"])
    members = store.members.get(team["id"], {})
    if call.params["user_id"] not in members:
        raise not_found("team member")
    del members[call.params["user_id"]]
    return 204, None


@route("PUT", "/teams/{id}/escalation_policies/{escalation_policy_id}")
def add_policy(call):
    store = call.store
    team = store.get("team", call.params["id"])
    ep = store.get("escalation_policy", call.params["escalation_policy_id"])
    if team["id"] not in ep["team_ids"]:
        ep["team_ids"].append(team["id"])
    return 204, None


@route("DELETE", "/teams/{id}/escalation_policies/{escalation_policy_id}")
def remove_policy(call):
    store = call.store
    team = store.get("team", call.params["id"])
    ep = store.get("escalation_policy", call.params["escalation_policy_id"])
    ep["team_ids"] = [t for t in ep["team_ids"] if t != team["id"]]
    return 204, None


def _default_role(team):
    return "manager" if team.get("default_role", "manager") == "manager" else "responder"


def _apply(store, rec, body, creating):
    name = v.text(body, "name", 100, required_=creating, where="team")
    if name is not None:
        if any(t["name"].lower() == name.lower() and t["id"] != rec["id"] for t in store.teams.values()):
            raise invalid("team.name has already been taken")
        rec["name"] = name
    description = v.text(body, "description", 1024, where="team")
    if description is not None or creating:
        rec["description"] = description or ""
    rec["default_role"] = v.choice(body, "default_role", ("manager", "none"), where="team") or \
        rec.get("default_role", "manager")
