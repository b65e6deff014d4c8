"""What PagerDuty relates to an incident (Event Intelligence): past incidents (the same service,
the last 6 months, scored by how alike their titles are) and related incidents (open incidents of
other services of the same teams, as a service dependency would relate them)."""
from . import incident_view, query as q
from .errors import invalid
from .routing import route
from .timeutil import DAY, iso

PAST_WINDOW = 183 * DAY
RELATED_MAX = 20


def _words(text):
    return {w for w in (text or "").lower().split() if len(w) > 2}


@route("GET", "/incidents/{id}/past_incidents")
def past_incidents(call):
    store = call.store
    inc = store.get("incident", call.params["id"])
    limit = q.integer(call.query, "limit", 5)
    if not 1 <= limit <= 999:
        raise invalid("limit must be between 1 and 999")
    words = _words(inc["title"])
    found = []
    for other in store.incidents.values():
        if other["id"] == inc["id"] or other["service_id"] != inc["service_id"]:
            continue
        if not inc["created"] - PAST_WINDOW <= other["created"] <= inc["created"]:
            continue
        alike = words & _words(other["title"])
        score = round(100.0 * len(alike) / max(len(words), 1), 4)
        found.append((score, other))
    found.sort(key=lambda pair: (-pair[0], -pair[1]["created"]))
    answer = {"past_incidents": [{"incident": {"id": o["id"], "created_at": iso(o["created"]),
                                               "self": store.self_url("incident", o["id"]), "title": o["title"]},
                                  "score": score} for score, o in found[:limit]], "limit": limit}
    if q.flag(call.query, "total"):
        answer["total"] = len(found)
    return 200, answer


@route("GET", "/incidents/{id}/related_incidents")
def related_incidents(call):
    store = call.store
    inc = store.get("incident", call.params["id"])
    details = q.many(call.query, "additional_details")
    if any(d != "incident" for d in details):
        raise invalid("additional_details[] may only be incident")
    teams = set((store.services.get(inc["service_id"]) or {}).get("team_ids", ()))
    found = [o for o in store.incidents.values()
             if o["id"] != inc["id"] and o["status"] != "resolved" and o["service_id"] != inc["service_id"]
             and teams & set((store.services.get(o["service_id"]) or {}).get("team_ids", ()))]
    found.sort(key=lambda o: -o["created"])
    related = []
    for other in found[:RELATED_MAX]:
        incident = (incident_view.incident(store, other) if details else
                    {"id": other["id"], "created_at": iso(other["created"]),
                     "self": store.self_url("incident", other["id"]), "title": other["title"]})
        related.append({"incident": incident, "relationships": [{
            "type": "service_dependency",
            "metadata": {"dependent_services": {"id": inc["service_id"], "type": "technical_service_reference",
                                                "self": store.self_url("service", inc["service_id"])},
                         "supporting_services": {"id": other["service_id"], "type": "technical_service_reference",
                                                 "self": store.self_url("service", other["service_id"])}}}]})
    return 200, {"related_incidents": related}
