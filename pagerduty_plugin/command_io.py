"""What every command shares, below the command line (cli.py) and the commands it runs.

The argument parser whose mistakes are usage errors (exit 2), strict JSON in, one line of masked
JSON out, the signal handling of a loop that runs until stopped, and the flag values two commands take.
"""

import argparse
import json
import re

from pagerduty_plugin.errors import PluginError, UsageError, contains_secret, mask_secrets

MAX_DEPTH = 100  # JSON nesting accepted on input; deeper would exhaust Python's recursion later


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"Invalid command line: {message}", f"Run `{self.prog} --help` for usage.")


def parse_json(text, source="The input on stdin"):
    """Strict JSON: NaN and Infinity are not JSON and PagerDuty refuses them."""
    def refuse(name):
        raise ValueError(f"{name} is not a JSON value")

    try:
        value = json.loads(text, parse_constant=refuse)
    except RecursionError:
        value = None
    except ValueError as exc:
        raise PluginError(f"{source} is not valid JSON: {exc}",
                          "Check the quoting and commas; it must be one JSON object.") from None
    if value is None and text.strip() != "null" or too_deep(value):
        raise PluginError(f"{source} is nested too deeply (more than {MAX_DEPTH} levels)",
                          "Send a flatter JSON object.", {"max_depth": MAX_DEPTH})
    return value


def too_deep(value):
    """True when value nests objects and lists more than MAX_DEPTH levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def dump_json(document, secrets):
    """One line of ASCII JSON (safe on any console encoding), secrets masked inside its strings."""
    text = compact_json(document)
    if contains_secret(text, secrets):
        text = compact_json(mask_secrets(document, secrets))
    return text


def compact_json(document):
    # no spaces after separators: a 10,000-incident listing is 6% smaller and 13% faster to write
    return json.dumps(document, ensure_ascii=True, allow_nan=False, separators=(",", ":"), check_circular=False)


class stop_on_signals:
    """SIGTERM, SIGINT and SIGHUP end a trigger loop between two events, not in the middle of one."""

    def __init__(self, stop):
        self.stop, self.saved = stop, {}

    def __enter__(self):
        import signal

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                self.saved[sig] = signal.signal(sig, lambda *_: self.stop.set())
            except ValueError:  # not the main thread (an embedding caller): it stops the loop itself
                pass
        return self

    def __exit__(self, *exc):
        import signal

        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def retention_days(days):
    """--retention-days: None is the default (7); else a positive number of days."""
    from pagerduty_plugin.state.inbox import RETENTION_DAYS

    if days is None:
        return RETENTION_DAYS
    if not 0 < days <= MAX_RETENTION_DAYS:  # beyond, the cutoff date would fall before year 1
        raise UsageError(f"--retention-days {days:g} is not a number of days above 0 and up to {MAX_RETENTION_DAYS:,}",
                         "e.g. --retention-days 7")
    return days


MAX_RETENTION_DAYS = 36500
MAX_LIMIT = 10000
CONSUMER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


def state_option(value):
    """--state (an argparse type): a directory or a postgresql:// URL, by the rule PAGERDUTY_STATE
    follows too (state/location.py)."""
    from pagerduty_plugin.state.location import checked

    return checked(value, "--state")


def limit_option(value):
    """--limit (an argparse type): 1 to MAX_LIMIT; a larger number would overflow the store's integer."""
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not 1 <= number <= MAX_LIMIT:
        raise UsageError(f"--limit {quoted(value)} is not a number from 1 to {MAX_LIMIT:,}", "e.g. --limit 20")
    return number


def consumer_option(value):
    """--consumer (an argparse type): a name an operator can type, read in logs and pass again. No
    ':', which the inbox's own names use (a group is NAME:TRIGGER, a trigger_start's consumer trigger:ID)."""
    if not CONSUMER_NAME.fullmatch(value):
        raise UsageError(f"--consumer {quoted(value)} is not a consumer name",
                         "Give 1 to 100 letters, digits, '.', '_', '-' or '@', starting with a letter or digit "
                         "(e.g. --consumer runbooks).")
    return value


def consumer_filter(value):
    """dead-letters' --consumer (an argparse type): any stored name (groups' and platforms' hold ':'), but
    never blank: `purge --consumer "$UNSET"` would otherwise mean every consumer's."""
    if not value.strip() or len(value) > 300 or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UsageError(f"--consumer {quoted(value)} names no consumer",
                         "Give a consumer's name as `state status` lists it, or leave --consumer out for every "
                         "consumer's.")
    return value


def quoted(value, limit=40):
    """A value from the command line as an error may show it: JSON-quoted (control characters escaped), cut."""
    return json.dumps(value[:limit] + ("…" if len(value) > limit else ""), ensure_ascii=False)
