"""One HTTP session per invocation, with PagerDuty's retry rules.

- 429 is always safe to repeat (PagerDuty refused it before doing anything): wait for
  `Retry-After` or `ratelimit-reset` when given, else back off exponentially with jitter.
  A 429 may come with no headers and no body at all.
- 5xx, timeouts and dropped connections are repeated only when the caller says repeating is
  safe (reads, PUTs that set a state, events carrying a dedup key): the first try may have
  been carried out. A connection that was never opened is always safe to repeat.
- Every retry is bounded by `max_retries` and by a total time budget, and logged without
  secrets (headers and bodies are never logged).
"""

import json
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from pagerduty_plugin import __version__
from pagerduty_plugin.errors import PluginError

USER_AGENT = f"pagerduty-plugin/{__version__} python-requests/{requests.__version__}"
BACKOFF_BASE = 0.5  # seconds before the first retry of a bare 429 or a 5xx
BACKOFF_CAP = 30.0
RETRY_BUDGET = 120.0  # seconds a call may spend waiting between tries, all retries together


class Session(requests.Session):
    """requests' Session with two changes to how it reads the environment:

    - the connection's own `verify` (a ca_file, or verify_tls false) wins: requests lets
      REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE outrank a session's `verify`;
    - the environment's proxy and CA bundle settings are read once per host instead of on every
      request: requests scans the whole environment twice per request for them, which in the warm
      HTTP server cost more than the step's own validation. A running process's environment does
      not change, so the answer for a host does not either."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if verify is None and self.verify is not True:
            verify = self.verify
        if proxies or stream is not None or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        known = self.__dict__.setdefault("environment_settings", {})
        settings = known.get((parts.scheme, parts.netloc))
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            known[(parts.scheme, parts.netloc)] = settings
        return {**settings, "proxies": dict(settings["proxies"])}  # the caller's own copy


def new_session(verify_tls=True):
    """A requests session as every call wants it: keep-alive, our User-Agent, no auth of its own
    (each request carries its credentials in its headers)."""
    session = Session()
    session.headers["User-Agent"] = USER_AGENT
    session.verify = verify_tls  # True, False, or the path of a CA bundle (the connection's ca_file)
    return session


class SessionPool:
    """Warm HTTP sessions for a long-lived process, one per connection (its settings' digest)
    and thread: a session's cookies and pooled sockets never serve another connection."""

    def __init__(self, size=32):
        import threading

        self.size = size
        self.local = threading.local()

    def session(self, key, verify_tls):
        sessions = self.local.__dict__.setdefault("sessions", {})
        session = sessions.pop(key, None) or new_session(verify_tls)
        sessions[key] = session  # most recently used last
        while len(sessions) > self.size:
            sessions.pop(next(iter(sessions))).close()
        return session


@dataclass(frozen=True)
class Reply:
    """The answer to a call, with what it took to get it."""
    response: requests.Response
    retries: int = 0  # tries repeated before this answer
    after_uncertain_try: bool = False  # an earlier try may have been carried out (timeout, dropped, 5xx)


class Transport:
    def __init__(self, *, timeout=30, max_retries=3, verify_tls=True, log, budget=RETRY_BUDGET, session=None):
        self.timeout = timeout
        self.max_retries = max_retries
        self.budget = budget
        self.log = log
        self.owns_session = session is None  # a pool's session outlives the step; our own does not
        self.session = session or new_session(verify_tls)  # keep-alive across the calls of a step
        if not verify_tls:
            log.warning("TLS certificate verification is off (verify_tls: false)")

    def close(self):
        """Close the session this transport made (a pool's session stays open for the next step)."""
        if self.owns_session:
            self.session.close()

    def request(self, method, url, *, safe_to_repeat, **kwargs):
        """The Reply, after the retries that the rules allow; raises PluginError on
        network failure. The caller maps non-2xx answers to errors."""
        deadline = time.monotonic() + self.budget
        attempt = 0
        uncertain = False  # an earlier try may have been carried out (timeout, dropped, 5xx)
        while True:
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                never_sent = not_sent(exc)
                if attempt < self.max_retries and (safe_to_repeat or never_sent):
                    wait = backoff(attempt)
                    if time.monotonic() + wait < deadline:
                        uncertain = uncertain or not never_sent
                        self.note_retry(method, url, describe(exc), attempt, wait)
                        time.sleep(wait)
                        attempt += 1
                        continue
                raise network_error(method, url, exc, attempt, safe_to_repeat or never_sent) from None
            except (requests.RequestException, ValueError, UnicodeError) as exc:
                raise request_error(method, url, exc) from None  # a bad setting: no use repeating
            self.log.debug(f"{method} {urlsplit(url).path} -> HTTP {response.status_code}")
            wait = retry_wait(response, attempt, safe_to_repeat)
            if wait is None or attempt >= self.max_retries or time.monotonic() + wait > deadline:
                return Reply(response, attempt, uncertain)
            uncertain = uncertain or response.status_code >= 500
            self.note_retry(method, url, f"HTTP {response.status_code}", attempt, wait)
            response.close()
            time.sleep(wait)
            attempt += 1

    def note_retry(self, method, url, what, attempt, wait):
        self.log.warning(f"{method} {urlsplit(url).path} got {what}; retry {attempt + 1} of "
                         f"{self.max_retries} in {wait:.1f} s")


def retry_wait(response, attempt, safe_to_repeat):
    """Seconds to wait before repeating this answer's request, or None to stop."""
    status = response.status_code
    if status == 429:
        told = told_wait(response.headers)
        return told if told is not None else backoff(attempt)
    if status >= 500 and safe_to_repeat:
        return backoff(attempt)
    return None


def told_wait(headers):
    """What the answer asks us to wait: Retry-After when given (an instruction for this very
    request), else PagerDuty's ratelimit-reset (seconds until its rate window restarts)."""
    for name in ("retry-after", "ratelimit-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            seconds = http_date_delay(value)
            if seconds is not None:
                return seconds
    return None


def http_date_delay(value):
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff(attempt):
    """Exponential back-off with jitter, so that many retrying steps don't move in step."""
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt) * (0.5 + random.random() / 2)


def not_sent(exc):
    """True when the request certainly never reached the server (the connection failed)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return type(reason).__name__ in ("NewConnectionError", "NameResolutionError")
    return False


def describe(exc):
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "a connection timeout"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "a TLS error"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "a connection failure" if not_sent(exc) else "a dropped connection"
    return type(exc).__name__


def network_error(method, url, exc, attempts, repeatable):
    host = urlsplit(url).netloc
    tries = f" after {attempts + 1} tries" if attempts else ""
    data = {"host": host, "method": method, "path": urlsplit(url).path, "attempts": attempts + 1}
    if isinstance(exc, requests.exceptions.SSLError):
        return PluginError(f"TLS error talking to {host}{tries}",
                           "Check the host name and its certificate; ca_file names a CA to trust (a TLS-inspecting "
                           "proxy's), verify_tls: false skips the check (only for a test endpoint).", data)
    if repeatable:
        assistance = "Check the network and the URL setting, then run the step again."
    else:
        assistance = ("The request may have been carried out before the connection failed, so it was not "
                      "repeated automatically: check PagerDuty before running the step again.")
    return PluginError(f"{describe(exc).capitalize()} talking to {host} ({method} {urlsplit(url).path}){tries}",
                       assistance, data)


def request_error(method, url, exc):
    """A request that could not even be made: a malformed URL, key or header value."""
    return PluginError(
        f"The request {method} {urlsplit(url).path or url} could not be made: {type(exc).__name__}",
        "Check the connection settings: api_url/events_url must be http(s)://host URLs, and the API key "
        "and From address plain text without spaces or line breaks.",
        {"error": type(exc).__name__},
    )


def strict_json(content):
    """JSON as RFC 8259 defines it: NaN and Infinity refused (they cannot be passed on)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(content, parse_constant=refuse)


def json_body(response):
    """The answer's JSON, or a clear error when PagerDuty sent something else."""
    if not response.content:
        return None
    try:
        return strict_json(response.content)
    except (ValueError, RecursionError):
        host = urlsplit(response.url).netloc
        raise PluginError(
            f"{host} answered HTTP {response.status_code} with a body that is not JSON",
            "PagerDuty or a proxy in between sent a malformed answer; check events_url/api_url and try again.",
            {"status": response.status_code, "body_start": response.text[:200]},
        ) from None


def lenient_json(response):
    """The JSON of an error answer, or None when it has none (a proxy's HTML page, a bare 429)."""
    try:
        return strict_json(response.content) if response.content else None
    except (ValueError, RecursionError):
        return None
