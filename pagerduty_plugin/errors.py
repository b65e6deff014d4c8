"""The error model: every failure is one PluginError with cause, assistance and data.

`cause` says what went wrong in the user's terms, `assistance` what to do about it, and
`data` carries PagerDuty's own error (code, message, errors) when there is one.
"""

EXIT_OK = 0
EXIT_FAILED = 1  # the step failed: bad message or input, PagerDuty refused, network
EXIT_USAGE = 2  # the command line itself is wrong

MASK = "********"


class PluginError(Exception):
    def __init__(self, cause, assistance="", data=None):
        super().__init__(cause)
        self.cause = cause
        self.assistance = assistance
        self.data = data if data is not None else {}

    def to_dict(self):
        return {"cause": self.cause, "assistance": self.assistance, "data": self.data}


class UsageError(PluginError):
    """The command line is wrong (exit 2), as opposed to the step failing (exit 1)."""


def shorten(text, limit=60):
    """text cut to limit characters for an error message (a 1 MB input is not quoted whole)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bug(exc):
    """Wrap an unexpected exception: reported with its cause, never as a traceback."""
    return PluginError(
        f"Internal error in the plugin: {type(exc).__name__}: {exc}",
        "This is a bug in pagerduty-plugin. Rerun with --debug for details and report it.",
    )


def secret_spellings(secrets):
    """Each secret as it may appear in text: as is, and as JSON writes it (escaped, ASCII)."""
    import json

    return {spelling for secret in secrets if secret
            for spelling in (secret, json.dumps(secret)[1:-1])}


def redact(text, secrets):
    """Replace every known secret in a text (a log line, a traceback) with a mask."""
    for spelling in sorted(secret_spellings(secrets), key=len, reverse=True):
        text = text.replace(spelling, MASK)
    return text


def mask_secrets(value, secrets):
    """value (decoded JSON) with every secret masked inside its strings and keys: masking the
    serialised text instead could break the JSON (a secret "true", or one with quotes)."""
    if isinstance(value, str):
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {mask_secrets(k, secrets): mask_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, secrets) for v in value]
    return value
