"""One PagerDuty step of the generated Rundeck plugin: RD_CONFIG_* in, `pagerduty-plugin run ACTION` out.

Copied into the plugin zip as contents/pagerduty_step.py and run by Rundeck as
`python3 pagerduty_step.py ACTION`. It uses the standard library only (Rundeck's python3 need not
have this package); the plugin runs in its own installation, named by the step's command property.

Rundeck sets one RD_CONFIG_<PROPERTY> variable per configured property, with Key Storage paths
already replaced by the secrets they hold. The step converts each into the action's input (typed
as steps.json, generated from the spec, says), passes the input on stdin and the connection in
PAGERDUTY_* variables (so no secret is ever on a command line), prints the command's JSON output,
then one `RUNDECK:DATA:key=value` line per top-level scalar output for the next step's ${data.key}.
"""

import json
import os
import shlex
import subprocess
import sys

TABLE_FILE = "steps.json"


class StepFailure(Exception):
    def __init__(self, cause, assistance):
        super().__init__(cause)
        self.error = {"cause": cause, "assistance": assistance, "data": {}}


def config(name):
    """A property's value as Rundeck passes it; blank means not set."""
    value = os.environ.get("RD_CONFIG_" + name.upper(), "")
    return value if value.strip() else None


def convert(name, kind, text):
    try:
        if kind == "integer":
            return int(text.strip())
        if kind == "number":
            number = json.loads(text.strip())
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError(text)
            return number
        if kind == "boolean":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError(text)
            return lowered == "true"
        if kind == "json":
            return json.loads(text)
        if kind == "list":
            if text.lstrip().startswith("["):
                return json.loads(text)
            return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]
    except ValueError:
        raise StepFailure(f"The step's '{name}' is not a valid {describe(kind)}: {shorten(text)!r}",
                          f"Give '{name}' {describe(kind)}, or leave it blank.") from None
    return text


def describe(kind):
    return {"integer": "a whole number", "number": "a number", "boolean": "true or false",
            "json": "JSON value", "list": "a list (one item per line, or a JSON array)"}.get(kind, "text")


def shorten(text, limit=60):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def step_input(fields):
    values = {}
    for name, kind in fields.items():
        text = config(name)
        if text is not None:
            values[name] = convert(name, kind, text)
    return values


def step_environment(connection):
    """The command's environment: the connection from the step's properties only (a PAGERDUTY_*
    variable of the Rundeck server never leaks into a step that left the property blank)."""
    env = {k: v for k, v in os.environ.items() if k not in connection.values() and not k.startswith("RD_CONFIG_")}
    for prop, variable in connection.items():
        value = config(prop)
        if value is not None:
            env[variable] = value.strip()
    return env


def data_lines(output):
    """RUNDECK:DATA lines for the output's top-level scalars (a value must fit on one line)."""
    lines = []
    if isinstance(output, dict):
        for key, value in output.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (int, float)):
                value = json.dumps(value)
            if isinstance(value, str) and "\n" not in value and "\r" not in value:
                lines.append(f"RUNDECK:DATA:{key}={value}")
    return lines


def run_step(action, table):
    spec = table["actions"].get(action)
    if spec is None:
        raise StepFailure(f"Unknown PagerDuty action '{action}'", "Reinstall the plugin zip generated for this version.")
    values = step_input(spec["inputs"])
    command = shlex.split(config(table["command"]["property"]) or table["command"]["default"])
    try:
        done = subprocess.run([*command, "run", action], input=json.dumps(values).encode("utf-8"),
                              capture_output=True, env=step_environment(table["connection"]))
    except OSError as exc:
        raise StepFailure(f"Cannot start the command {shlex.join(command)}: {exc.strerror}",
                          "Install pagerduty-plugin on the Rundeck server, or set the step's command "
                          "property (project.plugin.WorkflowStep.<provider>.pagerduty_command).") from None
    sys.stderr.write(done.stderr.decode("utf-8", "replace"))
    text = done.stdout.decode("utf-8", "replace")
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if done.returncode != 0:
        cause = (document or {}).get("error", {}).get("cause") if isinstance(document, dict) else None
        sys.stderr.write(f"PagerDuty step failed: {cause or 'the command exited with ' + str(done.returncode)}\n")
        return done.returncode
    for line in data_lines(document):
        sys.stdout.write(line + "\n")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) != 1:
            raise StepFailure("The step script takes exactly one argument, the action name",
                              "Reinstall the plugin zip: plugin.yaml passes it in script-args.")
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), TABLE_FILE), encoding="utf-8") as fh:
            table = json.load(fh)
        code = run_step(argv[0], table)
    except StepFailure as failure:
        sys.stdout.write(json.dumps({"error": failure.error}) + "\n")
        sys.stderr.write(f"PagerDuty step failed: {failure.error['cause']}\n")
        code = 1
    except OSError as exc:
        sys.stdout.write(json.dumps({"error": {"cause": f"Cannot read {TABLE_FILE}: {exc.strerror}",
                                               "assistance": "Reinstall the plugin zip.", "data": {}}}) + "\n")
        code = 1
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
