"""Users: /users, /users/{id}, /users/me."""
from . import query as q, render, validate as v
from .errors import ApiError, invalid, INVALID_INPUT
from .routing import route

ROLES = ("admin", "limited_user", "observer", "owner", "read_only_user", "read_only_limited_user",
         "restricted_access", "user")
COLORS = ("green", "purple", "red", "teal", "orange", "blue", "brown", "cayenne")


def includes(call):
    return set(q.many(call.query, "include"))


@route("GET", "/users")
def list_users(call):
    store = call.store
    needle = q.one(call.query, "query")
    team_ids = set(q.many(call.query, "team_ids"))
    found = [u for u in store.users.values()
             if q.text_match(needle, u["name"], u["email"])
             and (not team_ids or any(u["id"] in store.members.get(t, ()) for t in team_ids))]
    found.sort(key=lambda u: (u["name"].lower(), u["id"]))
    inc = includes(call)
    return 200, q.paginate(call.query, found, "users", lambda u: render.user(store, u, inc))


@route("GET", "/users/me")
def get_me(call):
    user_id = call.key.get("user_id")
    if user_id is None or user_id not in call.store.users:
        # Account-level keys carry no user identity.
        raise ApiError(400, INVALID_INPUT, "Invalid Input Provided",
                       ["Because this request was made using an account-level access token, we were unable "
                        "to determine the user's identity. Please use a user-level token."])
    return 200, {"user": render.user(call.store, call.store.users[user_id], includes(call))}


@route("GET", "/users/{id}")
def get_user(call):
    rec = call.store.get("user", call.params["id"])
    return 200, {"user": render.user(call.store, rec, includes(call))}


@route("POST", "/users", from_header="required")
def create_user(call):
    body = call.wrapped("user")
    v.type_is(body, ("user",), "user")
    store = call.store
    rec = {"id": store.new_id(), "created": call.now}
    _apply(store, rec, body, creating=True)
    store.users[rec["id"]] = rec
    _add_default_contact(store, rec, call.now)
    return 201, {"user": render.user(store, rec)}


@route("PUT", "/users/{id}")
def update_user(call):
    store = call.store
    rec = store.get("user", call.params["id"])
    body = call.wrapped("user")
    if "type" in body:
        v.type_is(body, ("user", "user_reference"), "user")
    v.staged(_apply, store, rec, body)
    return 200, {"user": render.user(store, rec)}


@route("DELETE", "/users/{id}")
def delete_user(call):
    store = call.store
    rec = store.get("user", call.params["id"])
    uid = rec["id"]
    open_ids = [i["number"] for i in store.incidents.values()
                if i["status"] != "resolved" and any(a[0] == uid for a in i["assignments"])]
    if open_ids:
        raise invalid(f"User {uid} cannot be deleted while assigned to open incidents "
                      f"(#{', #'.join(map(str, open_ids[:10]))}); resolve or reassign them first")
    forget_user(store, uid)
    return 204, None


def forget_user(store, uid):
    """Remove a user and every place that names them (teams, rules, rotations, overrides, keys)."""
    del store.users[uid]
    for members in store.members.values():
        members.pop(uid, None)
    for ep in store.escalation_policies.values():
        for rule in ep["rules"]:
            rule["targets"] = [t for t in rule["targets"] if t != ("user", uid)]
    for schedule in store.schedules.values():
        for layer in schedule["layers"]:
            layer["user_ids"] = [u for u in layer["user_ids"] if u != uid]
        schedule["overrides"] = [o for o in schedule["overrides"] if o["user_id"] != uid]
    for cm_id in [c["id"] for c in store.contact_methods.values() if c["user_id"] == uid]:
        del store.contact_methods[cm_id]
    for nr_id in [n["id"] for n in store.notification_rules.values() if n["user_id"] == uid]:
        del store.notification_rules[nr_id]
    for key in [k for k, info in store.api_keys.items() if info.get("user_id") == uid]:
        del store.api_keys[key]


def _apply(store, rec, body, creating):
    name = v.text(body, "name", 100, required_=creating, where="user")
    email = v.text(body, "email", 100, required_=creating, where="user")
    if email is not None:
        if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email.strip():
            raise invalid("user.email is not a valid email address")
        other = store.user_by_email(email)
        if other is not None and other["id"] != rec["id"]:
            raise invalid("user.email has already been taken")
    role = v.choice(body, "role", ROLES, where="user")
    if name is not None:
        if not name.strip():
            raise invalid("user.name can't be blank")
        rec["name"] = name
    if email is not None:
        rec["email"] = email.strip()
    if creating:
        rec.setdefault("role", "user")
        rec.setdefault("time_zone", "Etc/UTC")
        rec.setdefault("color", COLORS[len(store.users) % len(COLORS)])
    if role is not None:
        rec["role"] = role
    for field in ("time_zone", "color", "job_title"):
        value = v.text(body, field, 100, where="user")
        if value is not None:
            rec[field] = value
    if "description" in body:
        if body["description"] is not None and not isinstance(body["description"], str):
            raise invalid("user.description must be a string")
        rec["description"] = body["description"]


def _add_default_contact(store, rec, now):
    """PagerDuty gives every new user an email contact method and a notification rule."""
    cm_id = store.new_id()
    store.contact_methods[cm_id] = {"id": cm_id, "user_id": rec["id"], "type": "email_contact_method",
                                    "label": "Default", "address": rec["email"], "created": now}
    for urgency in ("high", "low"):
        nr_id = store.new_id()
        store.notification_rules[nr_id] = {"id": nr_id, "user_id": rec["id"], "start_delay_in_minutes": 0,
                                           "urgency": urgency, "contact_method_id": cm_id}
