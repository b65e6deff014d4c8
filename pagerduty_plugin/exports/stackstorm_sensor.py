"""What the generated StackStorm sensor module calls: a trigger, polled in-process.

st2's sensor container instantiates each PollingSensor with its sensor service and the pack
config, then calls poll() every poll_interval. Each poll runs the trigger once (polling triggers
ask PagerDuty; incident_event reads the inbox that `pagerduty-plugin http` fills on the same
machine) and dispatches every new event as the trigger type `pagerduty_plugin.<trigger>`. An
event is marked taken only after dispatch() returned, as with every consumer.
"""

import json
import re
import sys

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.logs import StepLog, step_logger

PACK = "pagerduty_plugin"
EVENT_JSON = "event_json"  # beside the event in each payload: what a rule passes to an exported workflow
STATE_SETTING = "state_dir"  # pack config: the state directory (default: the user's, as for the CLI)


class SensorPoll:
    def __init__(self, trigger, config, sensor_service, stream=None):
        from pagerduty_plugin.trigger_loop import TriggerRun

        self.handler = StepLog(stream if stream is not None else sys.stderr)
        log = step_logger(self.handler)
        spec = speclib.load()
        settings = {key: value for key, value in dict(config or {}).items() if key in spec.connection}
        self.handler.secrets.update(runner.secret_values(spec, spec.connection, settings))
        inputs = (config or {}).get("sensors", {}).get(trigger) or {}
        self.run = TriggerRun(spec, trigger, inputs, settings, log, (config or {}).get(STATE_SETTING),
                              consumer=f"stackstorm:{trigger}")  # its own position, apart from `trigger`'s
        self.trigger_ref = f"{PACK}.{trigger}"
        self.service = sensor_service

    def poll(self):
        """One round: returns how many events were dispatched. st2 calls it every poll_interval, so each call
        asks PagerDuty (interval 0: the trigger's own interval would skip a call that comes a little early)."""
        return self.run.run(lambda event: self.service.dispatch(trigger=self.trigger_ref, payload=payload(event)),
                            once=True, interval=0)


def payload(event):
    return {**event, EVENT_JSON: inert_json(event.get("event"))}


def inert_json(value):
    """value as JSON in which `{{`, `{%`, `{#` and `<%` cannot appear (a structural `{` is never followed
    by `{`, `%` or `#`; inside strings they become \\u escapes): passed to an exported Orquesta workflow, it is
    data that neither st2's parameter rendering nor Orquesta's input rendering finds an expression in."""
    text = json.dumps(value, ensure_ascii=True).replace("%", "\\u0025").replace("#", "\\u0023")
    return re.sub(r"\{(?=\{)", r"\\u007b", text)
