"""On-calls, computed from escalation policies, their schedules and overrides."""
from . import query as q, render, rotation, timeutil
from .errors import invalid
from .routing import route
from .timeutil import iso

MAX_SPAN = 90 * timeutil.DAY


def compute(store, since, until, policy_ids=None, schedule_ids=None, user_ids=None):
    """Every on-call [(policy id, level, schedule id or None, user id, start or None, end or None)]."""
    out = []
    for ep in store.escalation_policies.values():
        if policy_ids and ep["id"] not in policy_ids:
            continue
        for level, rule in enumerate(ep["rules"], start=1):
            for kind, target_id in rule["targets"]:
                if kind == "user":
                    if not schedule_ids:   # a user named directly is on call permanently
                        out.append((ep["id"], level, None, target_id, None, None))
                    continue
                if schedule_ids and target_id not in schedule_ids:
                    continue
                schedule = store.schedules.get(target_id)
                if schedule is None:
                    continue
                tz = rotation.zone(schedule["time_zone"])
                for start, end, uid in rotation.final_entries(schedule, since, max(until, since + 1), tz):
                    out.append((ep["id"], level, target_id, uid, start, end))
    if user_ids:
        out = [o for o in out if o[3] in user_ids]
    return out


def earliest_only(oncalls):
    best = {}
    for o in oncalls:
        key = (o[0], o[1], o[3])
        if key not in best or (o[4] or 0) < (best[key][4] or 0):
            best[key] = o
    return [o for o in oncalls if best.get((o[0], o[1], o[3])) is o]


@route("GET", "/oncalls")
def list_oncalls(call):
    store = call.store
    since = q.timestamp(call.query, "since")
    until = q.timestamp(call.query, "until")
    since = call.now if since is None else since
    until = since if until is None else until
    if until < since:
        raise invalid("until must not be before since")
    if until - since > MAX_SPAN:
        raise invalid("The since/until range must not exceed 90 days")
    found = compute(store, since, until, set(q.many(call.query, "escalation_policy_ids")),
                    set(q.many(call.query, "schedule_ids")), set(q.many(call.query, "user_ids")))
    if q.flag(call.query, "earliest"):
        found = earliest_only(found)
    found.sort(key=lambda o: (store.escalation_policies[o[0]]["name"].lower(), o[1], o[4] or 0, o[3]))
    include = set(q.many(call.query, "include"))
    return 200, q.paginate(call.query, found, "oncalls", lambda o: oncall_json(store, o, include))


def oncall_json(store, oncall, include=()):
    ep_id, level, schedule_id, user_id, start, end = oncall
    user = store.users.get(user_id)
    return {
        "escalation_policy": (render.escalation_policy(store, store.escalation_policies[ep_id])
                              if "escalation_policies" in include else store.ref("escalation_policy", ep_id)),
        "escalation_level": level,
        # A permanent on-call (a user named in the rule) has null schedule, start and end, as in PagerDuty.
        "schedule": store.ref("schedule", schedule_id) if schedule_id else None,
        "user": (render.user(store, user) if "users" in include and user
                 else store.ref("user", user_id)),
        "start": iso(start),
        "end": iso(end),
    }
