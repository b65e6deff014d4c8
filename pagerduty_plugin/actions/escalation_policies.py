"""Escalation policies: who is notified, in which order. (The policy an incident follows is
changed with update_incident_escalation_policy; these actions change the policy itself.)"""

from pagerduty_plugin.actions.common import (
    as_list, creator, deleter, getter, given, lister, reference, references, resolve_all, resolve_user, updater,
)
from pagerduty_plugin.errors import PluginError

COLLECTION, KIND = "escalation_policies", "escalation_policy"
MAX_TARGETS = 10  # PagerDuty's limit per rule


def policy_filters(rest, params):
    return {**given(params, "query", "sort_by"),
            "user_ids": [resolve_user(rest, user) for user in as_list(params.get("users"))],
            "team_ids": resolve_all(rest, "teams", params.get("teams"), "team")}


def policy_fields(rest, params):
    """The policy's fields from the step, rules and teams resolved to references."""
    rules = params.get("escalation_rules")
    if rules is not None:
        check_rules(rules)
    fields = given(params, "name", "description", "num_loops", "on_call_handoff_notifications")
    if rules is not None:
        fields["escalation_rules"] = [escalation_rule(rest, rule) for rule in rules]
    if "teams" in params:
        fields["teams"] = references(rest, "teams", params["teams"], "team")
    return fields


def check_rules(rules):
    """Every rule needs 1 to 10 targets: said before any lookup is made."""
    if not rules:
        raise PluginError("An escalation policy needs at least one escalation rule",
                          "Give escalation_rules, e.g. [{\"users\": [\"alice@example.com\"]}].")
    for number, rule in enumerate(rules, 1):
        count = len(as_list(rule.get("users"))) + len(as_list(rule.get("schedules")))
        if not 1 <= count <= MAX_TARGETS:
            raise PluginError(f"Escalation rule {number} has {count} targets; PagerDuty needs 1 to {MAX_TARGETS}",
                              "Give each rule users (ids, emails or names) and/or schedules (ids or names).",
                              {"field": f"escalation_rules[{number - 1}]"})


def escalation_rule(rest, rule):
    targets = [reference(resolve_user(rest, user), "user") for user in as_list(rule.get("users"))]
    targets += references(rest, "schedules", rule.get("schedules"), "schedule")
    return {"escalation_delay_in_minutes": rule["escalation_delay_in_minutes"], "targets": targets}


ListEscalationPolicies = lister(COLLECTION, policy_filters)
GetEscalationPolicy = getter(COLLECTION, KIND)
CreateEscalationPolicy = creator(COLLECTION, KIND, policy_fields)
UpdateEscalationPolicy = updater(COLLECTION, KIND, policy_fields)
DeleteEscalationPolicy = deleter(COLLECTION, KIND)
