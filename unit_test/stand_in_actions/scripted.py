"""Scripted stand-ins for every action of the real spec (the tests point `python.implementations` here): each
call is recorded, and answered from a table, {action: [outcome, ...]} consumed in order, the last one
repeating; an outcome is {"output": {...}} or {"error": "cause"}. The runner around them is the real one:
input checks, output checks against the action's schema, masking."""

from pagerduty_plugin.errors import PluginError

ANSWERS = {}
CALLS = []


def script(answers):
    ANSWERS.clear()
    ANSWERS.update({action: list(outcomes) for action, outcomes in answers.items()})
    CALLS.clear()


def answer(action, values):
    CALLS.append({"action": action, "input": values})
    outcomes = ANSWERS.get(action) or [{"error": f"no answer scripted for {action}"}]
    outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
    if "error" in outcome:
        raise PluginError(outcome["error"], "Scripted failure.")
    return outcome["output"]


class Connection:
    def __init__(self, settings, log, pool=None, scopes=None):
        pass

    def close(self):
        pass

    def writes_sent(self):
        return []


def __getattr__(name):
    """`scripted:<action>`: the class answering that action."""
    if name.startswith("__"):
        raise AttributeError(name)

    class Scripted:
        def __init__(self, step):
            pass

        def run(self, params):
            return answer(name, params)

    return Scripted
