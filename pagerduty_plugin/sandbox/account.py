"""Account-wide lists: priorities and abilities."""
from . import query as q, render
from .errors import ApiError, MISSING_ABILITY, NOT_FOUND
from .routing import route

ABILITIES = ("teams", "read_only_users", "team_responders", "urgencies", "manage_schedules",
             "manage_api_keys", "coordinated_responding", "event_rules", "advanced_reports",
             "service_support_hours", "incident_priorities", "response_plays", "sso",
             "preview_incident_alert_split", "permissions_service", "feature_to_user_mapping")


def require_ability(store, name):
    """402 with code 2014 when the account lacks an ability (e.g. coordinated_responding)."""
    if not store.abilities.get(name):
        raise ApiError(402, MISSING_ABILITY, "Account does not have the ability to perform this action",
                       [f"The account is missing the '{name}' ability"])


@route("GET", "/priorities")
def list_priorities(call):
    store = call.store
    found = sorted(store.priorities.values(), key=lambda p: p["order"], reverse=True)
    return 200, q.paginate(call.query, found, "priorities", lambda p: render.priority(store, p))


@route("GET", "/abilities")
def list_abilities(call):
    return 200, {"abilities": sorted(name for name, on in call.store.abilities.items() if on)}


@route("GET", "/abilities/{id}")
def test_ability(call):
    name = call.params["id"]
    if name not in call.store.abilities:
        raise ApiError(404, NOT_FOUND, "Not Found", [f"There is no ability named {name!r}"])
    require_ability(call.store, name)
    return 204, None
