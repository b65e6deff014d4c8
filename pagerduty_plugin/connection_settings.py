"""Plain mode's connection settings: from a --connection file or the PAGERDUTY_* variables.

Shared by the commands that open a connection themselves (run ACTION, trigger, outbox, report, runbook, http);
turning the settings into clients is connection.py's work.
"""

import math
import os

from pagerduty_plugin.command_io import parse_json
from pagerduty_plugin.errors import PluginError


def connection_settings(spec, path, log):
    """Plain mode's connection: the --connection file when one is named (an empty name is an
    error, not a silent fall-back), else the PAGERDUTY_* variables."""
    return connection_from_file(path, log) if path is not None else connection_from_env(spec)


# The sandbox's ready line is a connection file; these of its fields are for other clients
# (PagerDuty's own, which append /v2/enqueue; where the sandbox listens behind --public-url), and
# its seeded OAuth app is the alternative to its API key (the connection takes one or the other).
READY_LINE_ONLY = ("events_host", "served_url", "identity_url", "client_id", "client_secret", "subdomain")


def connection_from_file(path, log):
    """The settings in a regular file of at most 1 MiB (files.read_text). A file that other users
    may read is used, with a warning: it holds the API key."""
    from pagerduty_plugin import files

    assistance = "Give --connection the path of a UTF-8 JSON file of connection settings."
    if not path.strip():
        raise PluginError("--connection names no file (the path is empty)", assistance, {"field": "connection"})
    found = files.read_text(path, "connection file", assistance, data={"field": "connection"})
    if found.shared:
        log.warning(f"The connection file {path} can be read by other users (mode {found.mode:o}); it holds the "
                    f"API key: chmod 600 {path}")
    settings = parse_json(found.text, f"The connection file {path}")
    if isinstance(settings, dict) and "served_url" in settings:  # only the sandbox's ready line has it
        settings = {k: v for k, v in settings.items() if k not in READY_LINE_ONLY}
    return settings


def connection_from_env(spec):
    """Plain mode: each connection field from its variable in the spec's `python.env`."""
    settings = {}
    for name, field in spec.connection.items():
        variable = spec.env_var(name)
        raw = os.environ.get(variable) if variable else None
        if raw is not None and raw != "":
            settings[name] = env_value(field, variable, raw)
    return settings


def env_value(field, variable, raw):
    kind = field.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind in ("number", "float"):
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
    except ValueError:
        raise PluginError(f"{variable} must be a number, not {raw!r}", f"Set {variable} to a number.")
    if kind == "boolean":
        lowered = raw.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise PluginError(f"{variable} must be true or false, not {raw!r}", f"Set {variable}=true or false.")
        return lowered in ("1", "true", "yes", "on")
    return raw
