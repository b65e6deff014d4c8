"""`pagerduty-plugin outbox status|list|drain|retry|purge`: look into and work the durable event queue.

cli.py parses the command line and opens the connection (env or --connection FILE); this module
(found through the spec's python.commands.outbox) does the work and returns the command's one JSON
document.
"""

import re

from pagerduty_plugin.command_io import stop_on_signals
from pagerduty_plugin.errors import PluginError, UsageError
from pagerduty_plugin.state.outbox import key_ref
from pagerduty_plugin.state.url_masking import display_url

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def command(args, connection, log, secrets):
    """Run one outbox subcommand; returns its JSON document. `secrets`: the set of strings every
    output and log line masks (routing keys read here are added to it)."""
    if not connection.get("outbox"):
        raise PluginError("The connection has no outbox", "Set outbox (PAGERDUTY_OUTBOX), e.g. sqlite:// or "
                          "sqlite:///PATH, to the same value the steps use.", {"field": "outbox"})
    store = connection.outbox
    work = {"status": status, "list": listing, "drain": drain, "retry": retry, "purge": purge}
    return {"outbox": display_url(store.url), **work[args.outbox_command](args, connection, store, log, secrets)}


def status(args, connection, store, log, secrets):
    found = store.status()
    mine = connection.get("routing_key")
    for ref, counts in found["keys"].items():
        counts["routing_key"] = "the connection's routing_key" if mine and key_ref(mine) == ref else "another key"
    return found


def listing(args, connection, store, log, secrets):
    if args.limit < 1:
        raise UsageError("--limit must be at least 1", "Give --limit a positive number.")
    return {"events": store.listing(args.status, args.limit)}


def drain(args, connection, store, log, secrets):
    from pagerduty_plugin.outbox.sender import drainer_for

    if args.max_seconds is not None and args.max_seconds <= 0:
        raise UsageError("--max-seconds must be positive", "Give --max-seconds a number of seconds above 0.")
    keys = read_keys(args.keys) if args.keys else []
    secrets.update(keys)
    drainer = drainer_for(connection, log, keys)
    if not drainer.keys:
        raise PluginError("No routing key to send with", "Set routing_key on the connection (PAGERDUTY_ROUTING_KEY) "
                          "or give --keys FILE: the outbox stores no routing key, only its fingerprint.")
    if args.forever:
        return drain_until_stopped(drainer)
    return drainer.drain(until_empty=args.until_empty, max_seconds=args.max_seconds)


def drain_until_stopped(drainer):
    """--forever (what `http` runs beside its workers): drain until SIGTERM, SIGINT or SIGHUP."""
    with stop_on_signals(drainer.stop_event):
        drainer.run_forever(1.0)
    return {"stopped": True}


def retry(args, connection, store, log, secrets):
    return {"retried": store.retry(None if args.all else args.key)}


def purge(args, connection, store, log, secrets):
    return {"purged": store.purge(args.status, parse_duration(args.older_than)), "status": args.status}


def parse_duration(text):
    match = DURATION.match(text or "")
    if not match:
        raise UsageError(f"--older-than must be a duration like 30s, 15m, 12h or 7d, not {text!r}",
                         "Give a number with s, m, h or d.")
    return float(match.group(1)) * UNITS[match.group(2)]


def read_keys(path):
    """Routing keys, one a line (blank lines and # comments skipped)."""
    from pagerduty_plugin.files import read_text

    lines = read_text(path, "keys file", "Give --keys a UTF-8 file with one routing key a line.").text.splitlines()
    keys = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    for number, key in enumerate(keys, 1):
        if len(key) != 32 or not key.isalnum():
            raise PluginError(f"Line {number} of {path} is not a routing key (32 letters and digits)",
                              "Put one Integration Key a line.")
    return keys
