"""Users. The earlier generation's action names, inputs (id, email, from_email, license) and
outputs are kept so that existing workflows keep working; its other input names (user_email,
user_description, email for the From address) are aliases in the spec, renamed by the runner."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import as_list, find_user_by_email, given, object_path, user_id_of
from pagerduty_plugin.actions.listing import get_or_none, listed, output
from pagerduty_plugin.errors import HttpRefusal, PluginError

# The names PagerDuty's web app shows for each role.
ROLE_TITLES = {
    "admin": "Global Admin",
    "user": "Manager/User",
    "limited_user": "Responder",
    "observer": "Observer",
    "read_only_user": "Full Stakeholder",
    "read_only_limited_user": "Limited Stakeholder",
    "restricted_access": "Restricted Access",
    "owner": "Account Owner",
}
ROLE_BY_TITLE = {title.lower(): role for role, title in ROLE_TITLES.items()}
USER_FIELDS = ("name", "email", "role", "time_zone", "color", "job_title", "description")


def role_title(role):
    """The web app's name for a role; a role PagerDuty adds later shows as itself."""
    return ROLE_TITLES.get(role, role)


def titled(user):
    return {**user, "role_title": role_title(user.get("role"))}


def user_fields(params):
    """The user's fields given by the step."""
    fields = given(params, *USER_FIELDS)
    if "license" in params:
        fields["license"] = license_reference(params["license"])
    return fields


def license_reference(value):
    if not isinstance(value.get("id"), str) or not value["id"].strip():
        raise PluginError("The license has no id",
                          'Give the license as {"id": "PTDVERC", "type": "license_reference"}; GET /licenses '
                          "(through api_request) lists the account's licenses.", {"field": "license"})
    return {"id": value["id"].strip(), "type": value.get("type") or "license_reference"}


class CreateUser(Action):
    def run(self, params):
        fields = user_fields(params)
        user = self.connection.rest.post("/users", {"user": {"type": "user", **fields}},
                                         from_email=params.get("from_email"), needs_from=True, key="user")
        return {"user": titled(user), "success": True}


class GetUserById(Action):
    def run(self, params):
        path = object_path("users", params["id"], "user")
        user = get_or_none(self.connection.rest, path, "user")
        if user is None:
            return {"found": False}
        return {"found": True, "user": titled(user)}


class GetUserByEmail(Action):
    def run(self, params):
        user = find_user_by_email(self.connection.rest, params["email"])
        return {"found": False} if user is None else {"found": True, "user": titled(user)}


class DeleteUserById(Action):
    def run(self, params):
        rest = self.connection.rest
        path = object_path("users", params["id"], "user")
        user = rest.get(path, key="user")
        try:
            rest.delete(path, from_email=params.get("from_email"))
        except HttpRefusal as exc:
            if exc.status == 400:
                raise PluginError(exc.cause, "PagerDuty keeps a user who is assigned to open incidents: "
                                  "resolve or reassign them, then delete the user.", exc.data) from None
            raise
        return {"user": titled(user), "success": True, "message": f"The user {user['id']} has been deleted"}


class UpdateUser(Action):
    def run(self, params):
        fields = user_fields(params)
        rest = self.connection.rest
        user = rest.put(f"/users/{user_id_of(rest, params['user_id'])}", {"user": {"type": "user", **fields}},
                        key="user")
        return {"user": titled(user), "success": True}


class ListUsers(Action):
    def run(self, params):
        roles = wanted_roles(params.get("roles"), self.log)
        filters = {**given(params, "query"), "team_ids": as_list(params.get("team_ids")),
                   "include": params.get("include") or []}
        keep = (lambda user: user.get("role") in roles) if roles else None
        users, truncated = listed(self.connection.rest, "/users", "users", filters, params.get("max_results"), keep)
        return output("users", [titled(user) for user in users], truncated)


def wanted_roles(values, log):
    """Role filters as PagerDuty's names; the web app's titles (Global Admin…) are understood too.
    An unknown name is kept as is: PagerDuty may have added the role since."""
    roles = set()
    for value in as_list(values):
        role = ROLE_BY_TITLE.get(value.lower(), value.lower() if value.lower() in ROLE_TITLES else value)
        if role not in ROLE_TITLES:
            log.info(f"role {value!r} is not one of {', '.join(ROLE_TITLES)}; matching it as given")
        roles.add(role)
    return roles
