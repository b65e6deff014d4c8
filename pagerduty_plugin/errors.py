"""The error model: every failure is one PluginError with cause, assistance and data.

`cause` says what went wrong in the user's terms, `assistance` what to do about it, and
`data` carries PagerDuty's own error (code, message, errors) when there is one.
"""

import base64
import functools
import json
import re
from urllib.parse import quote, quote_plus

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


class NetworkError(PluginError):
    """No answer came: the connection failed, dropped, or timed out. `sent` is False only when the
    request certainly never left (the connection was refused or never opened)."""

    def __init__(self, cause, assistance, data, sent):
        super().__init__(cause, assistance, data)
        self.sent = sent


class HttpRefusal(PluginError):
    """The server answered with an error status (or a redirect, never followed): `status`, PagerDuty's
    error `code` when it gave one, and `retry_after` (seconds) when a 429 said how long to wait."""

    def __init__(self, cause, assistance, data, status, code=None, retry_after=None):
        super().__init__(cause, assistance, data)
        self.status, self.code, self.retry_after = status, code, retry_after


class BadAnswer(PluginError):
    """An answer came but cannot be used (not JSON, or not PagerDuty's shape); `status` is its HTTP
    status: a 2xx means the request was carried out all the same."""

    def __init__(self, cause, assistance, data, status):
        super().__init__(cause, assistance, data)
        self.status = status


class AnswerTooLarge(BadAnswer):
    """An answer larger than any of PagerDuty's: the rest was not read."""


class NotSent(PluginError):
    """The request was never made, and repeating it cannot help: a setting or the input is wrong
    (a malformed URL, an event larger than PagerDuty takes)."""


class Interrupted(PluginError):
    """The step was stopped by a signal (Ctrl-C, SIGTERM, SIGHUP) while it ran."""

    def __init__(self, signal_name):
        self.signal_name = signal_name
        super().__init__(f"Interrupted by {signal_name} before any change was sent to PagerDuty",
                         "Nothing was changed: run the step again.", {"signal": signal_name, "writes_sent": []})

    def after(self, writes):
        """The same error, knowing the changes (method and path) sent before it came."""
        if writes:
            self.cause = (f"Interrupted by {self.signal_name} after sending {', '.join(writes[-3:])}: "
                          "that change may have been carried out")
            self.assistance = "Check PagerDuty (the object's current state) before running the step again."
            self.data["writes_sent"] = list(writes)
        return self


def shorten(text, limit=60):
    """text cut to limit characters for an error message (a 1 MB input is not quoted whole)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bug(exc):
    """Wrap an unexpected exception: reported with its cause, never as a traceback."""
    return PluginError(
        f"Internal error in the plugin: {type(exc).__name__}: {exc}",
        "This is a bug in pagerduty-plugin. Rerun with --debug for details and report it.",
    )


MIN_SECRET_LENGTH = 8  # shorter is no real key, and masking it would mask ordinary words
PREFIX_LENGTH = 8  # a secret's start this long or longer is masked where a text ends (a cut or truncated echo)
CUT_END = r"(?=\.\.\.|\u2026|['\"]?\Z)"  # where a cut text ends: the text's end (a quote may close it), "...", "…"


def secret_spellings(secret):
    """A secret as it may appear in text: as is, as JSON writes it, URL-encoded, and inside
    base64 (at each of the 3 alignments, the characters that depend on the secret alone)."""
    spellings = {secret, json_spelling(secret), quote(secret, safe=""), quote_plus(secret)}
    raw = secret.encode("utf-8")
    for pad in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * pad + raw).decode("ascii")
            spellings.add(encoded[-(-4 * pad // 3): 8 * (pad + len(raw)) // 6])
    return {s for s in spellings if len(s) >= MIN_SECRET_LENGTH}


def prefix_pattern(text):
    """A regex matching text's first PREFIX_LENGTH characters and as many more as follow, where the text
    ends (a cut): never a short start of the secret inside other words (`test@example.com` for a key
    that begins `exampl…`)."""
    head, rest = text[:PREFIX_LENGTH], text[PREFIX_LENGTH:]
    tail = ""
    for char in reversed(rest):
        tail = f"(?:{re.escape(char)}{tail})?"
    return re.escape(head) + tail + CUT_END


@functools.lru_cache(maxsize=16)
def masker(secrets):
    """(literal heads that any masked text contains, compiled pattern) for a frozenset of secrets."""
    secrets = [s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH]
    if not secrets:
        return (), None
    whole = set().union(*map(secret_spellings, secrets))
    starts = {s for secret in secrets for s in (secret, json_spelling(secret))}
    encoded = sorted(whole - starts, key=len, reverse=True)
    alternatives = [re.escape(s) for s in sorted(whole, key=len, reverse=True)]
    alternatives += [prefix_pattern(s) for s in sorted(starts, key=len, reverse=True)]
    heads = tuple(sorted(set(encoded) | {s[:PREFIX_LENGTH] for s in starts}))
    return heads, re.compile("|".join(alternatives))


def json_spelling(secret):
    return json.dumps(secret)[1:-1]


def contains_secret(text, secrets):
    heads, pattern = masker(frozenset(secrets))
    return pattern is not None and any(head in text for head in heads) and pattern.search(text) is not None


def redact(text, secrets):
    """Replace every known secret in a text (a log line, a traceback) with a mask: in any of its
    spellings, and a start of it of PREFIX_LENGTH characters or more where the text is cut."""
    heads, pattern = masker(frozenset(secrets))
    if pattern is None or not any(head in text for head in heads):
        return text
    return pattern.sub(MASK, text)


def mask_excerpt(text, secrets, limit):
    """The start of a text to quote in an error: masked first, then cut."""
    return redact(text, secrets)[:limit]


def mask_secrets(value, secrets):
    """value (decoded JSON) with every secret masked inside its strings and keys: masking the
    serialised text instead could break the JSON (a secret "true", or one with quotes)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {mask_secrets(k, secrets): mask_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, secrets) for v in value]
    return value
