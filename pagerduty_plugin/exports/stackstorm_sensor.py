"""What the generated StackStorm sensor module calls: a trigger, polled in-process.

st2's sensor container instantiates each PollingSensor with its sensor service and the pack
config, then calls poll() every poll_interval. Each poll runs the trigger once (polling triggers
ask PagerDuty; incident_event reads the inbox that `pagerduty-plugin http` fills on the same
machine) and dispatches every new event as the trigger type `pagerduty_plugin.<trigger>`. An
event is marked taken only after dispatch() returned, as with every consumer.
"""

import sys

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.logs import StepLog, step_logger

PACK = "pagerduty_plugin"
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
        """One round: returns how many events were dispatched."""
        return self.run.run(lambda event: self.service.dispatch(trigger=self.trigger_ref, payload=event), once=True)
