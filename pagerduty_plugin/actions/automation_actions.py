"""Automation Actions: diagnostic or remediation scripts and jobs that PagerDuty's runners
execute on an incident's behalf. Invoking one answers at once (state `created` or `sent`); the
runner moves it on (queued, running) to a final state: completed, error or aborted. `unknown`
is PagerDuty's word for "could not fetch the state just now": transient, so waiting goes on.
Their lists are cursor-paged (`cursor` / `next_cursor`), unlike the classic offset lists."""

import time

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import given, looks_like_id
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.errors import PluginError

FINAL_STATES = ("completed", "error", "aborted")
ACTIONS_PATH = "/automation_actions/actions"


class ListAutomationActions(Action):
    def run(self, params):
        query = given(params, "name", "classification", "action_type")
        if "service_id" in params:
            query["service_id"] = segment(params["service_id"], "service id")
        if "team_id" in params:
            query["team_id"] = segment(params["team_id"], "team id")
        items, truncated = self.connection.rest.iterate(ACTIONS_PATH, "actions", query, params.get("max_results"),
                                                        check=self.output_items("actions"), cursor=True)
        return output("actions", items, truncated)


class GetAutomationAction(Action):
    def run(self, params):
        path = f"{ACTIONS_PATH}/{segment(params['action_id'], 'automation action id')}"
        return {"action": self.connection.rest.get(path, key="action")}


def action_id_of(rest, value):
    """An automation action's id (a 26-character ULID) or exact name: one cursor list, filtered by name."""
    value = str(value).strip()
    if looks_like_id(value) or (len(value) == 26 and value.isalnum() and value.upper() == value):
        return segment(value, "automation action id")
    items, _ = rest.iterate(ACTIONS_PATH, "actions", {"name": value}, max_results=1000, cursor=True)
    matches = [item for item in items if str(item.get("name", "")).lower() == value.lower()]
    if len(matches) != 1:
        cause = (f"No automation action is named {value!r}" if not matches
                 else f"{len(matches)} automation actions are named {value!r}")
        raise PluginError(cause, "Give the automation action's id; `list_automation_actions` shows them.",
                          {"field": "automation_action", "value": value})
    return segment(matches[0]["id"], "automation action id")


def invocation_path(invocation_id):
    return f"/automation_actions/invocations/{segment(invocation_id, 'invocation id')}"


class InvokeAutomationAction(Action):
    """POST .../actions/{id}/invocations on an incident (and optionally one of its alerts); with
    wait_seconds, the invocation is read back every poll_seconds until it reaches a final state or
    the deadline passes (an error that names the invocation and its last state)."""

    def run(self, params):
        incident_id = segment(params["incident_id"], "incident id")
        metadata = {"incident_id": incident_id}
        if "alert_id" in params:
            metadata["alert_id"] = segment(params["alert_id"], "alert id")
        rest = self.connection.rest
        action_id = action_id_of(rest, params["automation_action"])
        # Not repeated after a timeout: the action would run twice.
        invocation = rest.post(f"{ACTIONS_PATH}/{action_id}/invocations", {"invocation": {"metadata": metadata}},
                               key="invocation")
        if params.get("wait_seconds"):
            invocation = self.wait(invocation, params["wait_seconds"], params.get("poll_seconds", 2))
        return {"invocation": invocation, "finished": invocation.get("state") in FINAL_STATES}

    def wait(self, invocation, wait_seconds, poll_seconds):
        deadline = time.monotonic() + wait_seconds
        path = invocation_path(invocation.get("id"))
        while invocation.get("state") not in FINAL_STATES:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PluginError(
                    f"Automation action invocation {invocation.get('id')} did not finish within {wait_seconds} s "
                    f"(last state: {invocation.get('state')})",
                    "It may still finish on PagerDuty's side: follow it with get_automation_action_invocation, "
                    "or give a longer wait_seconds. Do not invoke it again unless it ended in error.",
                    {"invocation_id": invocation.get("id"), "state": invocation.get("state")})
            time.sleep(min(poll_seconds, left))
            invocation = self.connection.rest.get(path, key="invocation")
            self.log.info(f"invocation {invocation.get('id')}: {invocation.get('state')}")
        return invocation


class GetAutomationActionInvocation(Action):
    def run(self, params):
        invocation = self.connection.rest.get(invocation_path(params["invocation_id"]), key="invocation")
        return {"invocation": invocation, "finished": invocation.get("state") in FINAL_STATES}


class ListAutomationActionInvocations(Action):
    """Not paged: PagerDuty answers the 25 newest invocations that match."""

    def run(self, params):
        query = given(params, "invocation_state", "not_invocation_state")
        for field, what in (("incident_id", "incident id"), ("action_id", "automation action id")):
            if field in params:
                query[field] = segment(params[field], what)
        items = self.connection.rest.get("/automation_actions/invocations", query or None, key="invocations",
                                         kind=list)
        return output("invocations", *cut(items, params.get("max_results")))
