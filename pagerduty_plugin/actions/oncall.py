"""Who is on call: GET /oncalls filtered by schedule and/or escalation policy.

/oncalls answers the on-call shifts that overlap since..until (now when neither is given): the
users actually on call, not every member of a schedule's rotation. One user may hold several
entries (one per escalation policy, level and schedule); `users` lists each user once.
"""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import given_times
from pagerduty_plugin.actions.listing import output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.errors import PluginError


class GetOnCall(Action):
    def run(self, params):
        query = given_times(params, "since", "until")
        if "schedule_id" in params:
            query["schedule_ids"] = [segment(params["schedule_id"], "schedule id")]
        if "escalation_policy_id" in params:
            query["escalation_policy_ids"] = [segment(params["escalation_policy_id"], "escalation policy id")]
        if "schedule_ids" not in query and "escalation_policy_ids" not in query:
            raise PluginError("Give schedule_id or escalation_policy_id (or both)",
                              "Name the schedule or the escalation policy whose on-call users you want.",
                              {"field": "schedule_id"})
        oncalls, truncated = self.connection.rest.iterate("/oncalls", "oncalls", query, params.get("max_results"))
        users = {}
        for entry in oncalls:
            user = entry.get("user") or {}
            users.setdefault(user.get("id"), user)
        return {**output("oncalls", oncalls, truncated), "users": [u for k, u in users.items() if k]}
