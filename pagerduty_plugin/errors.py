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


def bug(exc):
    """Wrap an unexpected exception: reported with its cause, never as a traceback."""
    return PluginError(
        f"Internal error in the plugin: {type(exc).__name__}: {exc}",
        "This is a bug in pagerduty-plugin. Rerun with --debug for details and report it.",
    )


def redact(text, secrets):
    """Replace every known secret value in text with a mask."""
    import json

    for secret in secrets:
        if secret and len(secret) >= 4:
            # also the JSON-escaped spelling, for secrets with quotes or non-ASCII
            for spelling in {secret, json.dumps(secret)[1:-1]}:
                text = text.replace(spelling, MASK)
    return text
