"""The generic runner: input in -> validate -> action -> validate -> output out.

It knows nothing of PagerDuty: the spec says which fields exist, which are secret, and
which class implements each action (`python.actions` + its entry in `python.implementations`).
"""

import importlib

from pagerduty_plugin import constraints, validate
from pagerduty_plugin.errors import MIN_SECRET_LENGTH, Interrupted, PluginError

BLANKS = ("", None, {}, [])


class StepContext:
    """What an action class is constructed with: everything it may use of the step. (A plain class:
    dataclasses and typing cost 7 ms to import on every `run`.)"""

    __slots__ = ("connection", "log", "output_items")

    def __init__(self, connection, log, output_items):
        self.connection = connection  # the spec's connection class, opened on the step's settings
        self.log = log  # the step's own logger (logs.step_logger)
        self.output_items = output_items  # field -> a checker of a batch of that list output, or None


def load_object(ref):
    """'package.module:Name' -> the object."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def secret_values(spec, fields, values):
    """The secret strings among values (as given, before validation), for redaction."""
    found = []
    if isinstance(values, dict):
        for name in spec.secret_fields(fields):
            value = unwrap_secret(values.get(name))
            if isinstance(value, str) and value:
                found.append(value)
    return found


def unwrap_secret(value):
    # platforms send credentials either as a plain string or as {"secretKey": "..."}
    if isinstance(value, dict) and set(value) == {"secretKey"}:
        return value["secretKey"]
    return value


def check_secret_length(name, value, what):
    """A secret too short to be real is refused: masking it would hide every copy of its few
    letters in the output, and it cannot be a working key anyway. Its value is never quoted."""
    if isinstance(value, str) and value.strip() and len(value) < MIN_SECRET_LENGTH:
        raise PluginError(
            f"The {what} field '{name}' is {len(value)} characters long, too short to be a real secret",
            f"Give the whole value (at least {MIN_SECRET_LENGTH} characters); PagerDuty's API keys are 20 "
            "characters and routing keys 32.", {"field": name})


def split_text_list(text):
    """A list of strings given as comma-separated text, as runbook tools (Rundeck) write lists."""
    return [part.strip() for part in text.split(",") if part.strip()]


def prepare(spec, fields, values, what):
    """Platform forms -> plain values: blank optional fields dropped, secrets unwrapped."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise PluginError(
            f"The {what} must be a JSON object, not {validate.type_name(values)}",
            f"Send the {what} as an object of field names and values, e.g. {{\"field\": \"value\"}}.",
        )
    secret = set(spec.secret_fields(fields))
    prepared = {}
    for name, value in values.items():
        if name in secret:
            value = unwrap_secret(value)
            check_secret_length(name, value, what)
        if isinstance(value, str) and fields.get(name, {}).get("type") == "[]string":
            value = split_text_list(value)
        if isinstance(value, str) and name in fields and not value.strip():
            value = ""  # whitespace only is blank too
        if value in BLANKS and name in fields and not isinstance(value, bool):
            if fields[name].get("required"):
                raise PluginError(
                    f"Required {what} field '{name}' is blank",
                    f"Give '{name}' a value: {fields[name].get('description', '').strip()}",
                    {"field": name},
                )
            continue
        prepared[name] = value
    return prepared


def run_step(spec, name, values, connection, secrets, log, pool=None):
    """Note the step's secrets in `secrets` (so every later line masks them), then run the action."""
    secrets.update(secret_values(spec, spec.connection, connection))
    secrets.update(secret_values(spec, (spec.actions.get(name) or {}).get("input"), values))
    return run_action(spec, name, values, connection, log, pool)


def run_action(spec, name, raw_input, raw_connection, log, pool=None, steps=None):
    """Run one action and return its validated output; every failure is a PluginError.

    pool: what a long-lived caller (the HTTP server) keeps warm between steps, handed to the
    connection class as is (its HTTP sessions); None for a one-shot step. steps: the actions whose
    scopes (`python.scopes`) the connection is opened for (a runbook's all), by default this one."""
    values = checked_input(spec, name, raw_input)
    implementation = load_object(spec.implementation(name))
    streamed = validate.StreamedItems(spec.output_schema(name), name)
    connection = open_connection(spec, raw_connection, log, pool, steps or [name])
    try:
        output = implementation(StepContext(connection, log, streamed.checker)).run(values)
    except Interrupted as exc:
        raise exc.after(connection.writes_sent()) from None
    finally:
        connection.close()  # a one-shot step's HTTP session; a pool's stays open
    try:
        return validate.check_against_schema(streamed.final_schema(output), output, "output", name)
    except PluginError as exc:
        raise validate.output_mismatch(name, exc.cause, exc.data) from None


def checked_input(spec, name, raw_input):
    """An action's input as its class gets it: earlier names renamed, blanks dropped, the spec's
    rules between fields and then its schema checked, defaults filled in."""
    fields = spec.action(name).get("input") or {}
    values = prepare(spec, fields, constraints.apply_aliases(spec.aliases(name), raw_input), "input")
    constraints.check_rules(spec.constraints(name), values, fields, name)  # before the schema: clearer errors
    return validate.check_against_schema(spec.input_schema(name), values, "input", name)


def open_connection(spec, raw_connection, log, pool=None, steps=(), kind="actions"):
    """The spec's connection class on checked settings. scopes: what the named actions (or
    triggers) may need of the account (`python.scopes`), for a connection that gets its own token."""
    settings = prepare(spec, spec.connection, raw_connection, "connection")
    constraints.check_rules(spec.connection_constraints(), settings, spec.connection)
    settings = validate.check_against_schema(spec.connection_schema(), settings, "connection")
    return load_object(spec.python["connection"])(settings, log, pool=pool, scopes=spec.scopes(steps, kind))


def new_pool(spec):
    """What a long-lived process keeps warm between steps, as the connection class makes it."""
    return load_object(spec.python["connection"]).new_pool()


def test_connection(spec, raw_connection, log, pool=None):
    connection = open_connection(spec, raw_connection, log, pool)
    try:
        return connection.test()
    finally:
        connection.close()
