"""The generic runner: input in -> validate -> action -> validate -> output out.

It knows nothing of PagerDuty: the spec says which fields exist, which are secret, and
which class implements each action (`python.actions` + the action's `implementation`).
"""

import importlib

from pagerduty_plugin import validate
from pagerduty_plugin.errors import MIN_SECRET_LENGTH, Interrupted, PluginError

BLANKS = ("", None, {}, [])


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


def run_action(spec, name, raw_input, raw_connection, log):
    """Run one action and return its validated output; every failure is a PluginError."""
    action = spec.action(name)
    values = prepare(spec, action.get("input") or {}, raw_input, "input")
    values = validate.check(spec.input_schema(name), values, "input", name)
    connection = open_connection(spec, raw_connection, log)
    implementation = load_object(f"{spec.python['actions']}.{action['implementation']}")
    streamed = validate.StreamedItems(spec.output_schema(name), name)
    step = implementation(connection, log)
    step.output_items = streamed.checker
    try:
        output = step.run(values)
    except Interrupted as exc:
        raise exc.after(getattr(connection, "writes_sent", list)()) from None
    try:
        return validate.check(streamed.final_schema(output), output, "output", name)
    except PluginError as exc:
        raise validate.output_mismatch(name, exc.cause, exc.data) from None


def open_connection(spec, raw_connection, log):
    settings = prepare(spec, spec.connection, raw_connection, "connection")
    settings = validate.check(spec.connection_schema(), settings, "connection")
    return load_object(spec.python["connection"])(settings, log)


def test_connection(spec, raw_connection, log):
    return open_connection(spec, raw_connection, log).test()
