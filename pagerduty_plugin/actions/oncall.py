"""Who is on call: GET /oncalls filtered by schedule and/or escalation policy.

/oncalls answers the on-call shifts that overlap since..until (now when neither is given): the
users actually on call, not every member of a schedule's rotation. One user may hold several
entries (one per escalation policy, level and schedule); `users` lists each user once.

/oncalls filters silently: an id that names no schedule or policy gives an empty list, just as
a schedule that no escalation policy uses does. So an empty answer costs one more request per
id given, to tell a wrong id (a clear 404) from nobody being on call.
"""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import given_times, resolve
from pagerduty_plugin.actions.listing import output

# input field (an id or a name), /oncalls filter, collection, kind
FILTERS = (("schedule_id", "schedule_ids", "schedules", "schedule"),
           ("escalation_policy_id", "escalation_policy_ids", "escalation_policies", "escalation_policy"))


class GetOnCall(Action):
    def run(self, params):
        rest = self.connection.rest
        # include[]=users: each entry's user comes with name and email, as a runbook that pages needs
        query = {**given_times(params, "since", "until"), "include": ["users"]}
        paths = []
        for field, key, collection, kind in FILTERS:
            if field in params:
                object_id = resolve(rest, collection, params[field], kind)
                query[key] = [object_id]
                paths.append(f"/{collection}/{object_id}")
        oncalls, truncated = rest.iterate("/oncalls", "oncalls", query, params.get("max_results"))
        if not oncalls:
            for path in paths:
                rest.get(path)  # a 404 here says which id is wrong
            self.log.info("Nobody is on call for these filters in this time range (a schedule that no "
                          "escalation policy uses has no on-call entries)")
        users = {}
        for entry in oncalls:
            user = entry.get("user") or {}
            users.setdefault(user.get("id"), user)
        return {**output("oncalls", oncalls, truncated), "users": [u for k, u in users.items() if k]}
