"""Teams, team membership with the member's team role, and the account's incident priorities.
A team is given by id or exact name, a user by id or email."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import given, lister, object_path, resolve, user_id_of
from pagerduty_plugin.client.rest import segment


def team_id_of(rest, value):
    return resolve(rest, "teams", value, "team")


def membership(rest, params):
    """(team id, user id, /teams/{team}/users/{user}); a malformed user id is refused before
    the team is looked up."""
    user_id = user_id_of(rest, params["user_id"])
    team_id = segment(team_id_of(rest, params["team_id"]), "team id")
    return team_id, user_id, f"/teams/{team_id}/users/{user_id}"


ListTeams = lister("teams", lambda rest, params: given(params, "query"))
ListPriorities = lister("priorities")


class GetTeam(Action):
    def run(self, params):
        rest = self.connection.rest
        path = object_path("teams", team_id_of(rest, params["team_id"]), "team")
        result = {"team": rest.get(path, key="team")}
        if params.get("include_members"):
            members, truncated = rest.iterate(f"{path}/members", "members")
            result.update(members=members, members_truncated=truncated)
        return result


class AddTeamMember(Action):
    def run(self, params):
        rest = self.connection.rest
        team_id, user_id, path = membership(rest, params)
        rest.put(path, {"role": params["role"]} if "role" in params else None, kind=None)  # answered 204
        return {"success": True, "team_id": team_id, "user_id": user_id, "role": params.get("role")}


class RemoveTeamMember(Action):
    def run(self, params):
        rest = self.connection.rest
        team_id, user_id, path = membership(rest, params)
        rest.delete(path)
        return {"success": True, "team_id": team_id, "user_id": user_id}
