"""What the generated StackStorm action module calls: one action, in-process, through the runner.

st2's python runner instantiates the pack's Action class with the pack config and calls
`run(**parameters)`; the generated class hands both here. The answer follows st2's convention
for a status: (True, output) on success, (False, {"error": {cause, assistance, data}}) on
failure, secrets masked in both and in every log line (written to stderr, which st2 keeps).
"""

import sys

from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.errors import PluginError, bug, mask_secrets
from pagerduty_plugin.logs import StepLog, step_logger

ACTION_PARAMETER = "pagerduty_action"  # the immutable parameter naming the action in each action YAML
INPUT_PARAMETER = "pagerduty_input"  # runbook_step's: the step's input as URL-encoded JSON (see runbooks/orquesta.py)


def run(config, parameters, stream=None):
    handler = StepLog(stream if stream is not None else sys.stderr)
    log = step_logger(handler)
    values = dict(parameters)
    name = values.pop(ACTION_PARAMETER, None)
    try:
        if INPUT_PARAMETER in values:
            values = step_input(values.pop(INPUT_PARAMETER))
        spec = speclib.load()
        if not isinstance(name, str) or not name:
            raise PluginError(f"The action's metadata has no {ACTION_PARAMETER} parameter",
                              "Regenerate the pack with `pagerduty-plugin export stackstorm DIR`.")
        output = runner.run_step(spec, name, values, dict(config or {}), handler.secrets, log)
    except Exception as exc:  # every failure, a bug included, is an error result
        error = exc if isinstance(exc, PluginError) else bug(exc)
        return False, {"error": mask_secrets(error.to_dict(), handler.secrets)}
    return True, mask_secrets(output, handler.secrets)


def step_input(encoded):
    """A step's input as an exported Orquesta workflow passes it: an object as URL-encoded JSON, a text in
    which st2 and Orquesta find no expression to evaluate."""
    import json
    from urllib.parse import unquote

    try:
        values = json.loads(unquote(encoded)) if isinstance(encoded, str) else None
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise PluginError(f"{INPUT_PARAMETER} is not an object as URL-encoded JSON",
                          "Export the workflow again with `pagerduty-plugin runbook export --to orquesta`.")
    return values
