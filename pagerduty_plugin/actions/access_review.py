"""Access review: every user with role, teams and team roles, and contact methods, read with a
read-only key in (users / 100) + (teams) requests, never one per user. The pages of GET /users
already carry each user's team references (with the team's name) and contact method references
(whose type tells email, phone…), so no include[] is needed; team roles come from one paged
GET /teams/{id}/members per team."""

import csv
import io
from datetime import datetime, timezone

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import as_list, object_path
from pagerduty_plugin.actions.listing import output
from pagerduty_plugin.actions.users import role_title
from pagerduty_plugin.compat import without_suffix

CSV_COLUMNS = ("id", "name", "email", "role", "role_title", "teams", "contact_methods_count",
               "contact_method_types", "invitation_sent")


class AccessReview(Action):
    def run(self, params):
        rest = self.connection.rest
        filters = {"team_ids": as_list(params.get("team_ids"))}
        users, truncated = rest.iterate("/users", "users", filters, params.get("max_results"))
        team_ids = {team["id"] for user in users for team in user.get("teams") or []}
        roles = team_roles(rest, team_ids)
        rows = [review_row(user, roles) for user in users]
        return {**output("users", rows, truncated), "teams_count": len(team_ids),
                "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "csv": as_csv(rows)}


def team_roles(rest, team_ids):
    """{(team id, user id): the user's role on the team}, one paged request per team."""
    roles = {}
    for team_id in sorted(team_ids):
        members, _ = rest.iterate(object_path("teams", team_id, "team") + "/members", "members")
        roles.update({(team_id, m["user"]["id"]): m.get("role") for m in members if m.get("user")})
    return roles


def review_row(user, roles):
    methods = user.get("contact_methods") or []
    return {
        **{key: user.get(key) for key in ("id", "name", "email", "role", "job_title", "html_url")},
        "role_title": role_title(user.get("role")),
        "invitation_sent": bool(user.get("invitation_sent")),
        "teams": [{"id": team["id"], "name": team.get("name") or team.get("summary"),
                   "role": roles.get((team["id"], user["id"]))} for team in user.get("teams") or []],
        "contact_methods_count": len(methods),
        "contact_method_types": sorted({short_type(m.get("type")) for m in methods if m.get("type")}),
    }


def short_type(kind):
    """email_contact_method(_reference) -> email."""
    return without_suffix(without_suffix(kind, "_reference"), "_contact_method")


def as_csv(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = {**row, "teams": "; ".join(f"{t['name']} ({t['role'] or 'unknown role'})" for t in row["teams"]),
                 "contact_method_types": " ".join(row["contact_method_types"])}
        writer.writerow([spreadsheet_safe(cells[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def spreadsheet_safe(value):
    """A cell a spreadsheet shows as text: a name like =HYPERLINK(...) must not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
