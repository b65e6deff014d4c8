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
from urllib.parse import urlsplit

import requests
import requests.auth
from urllib3.exceptions import NewConnectionError

from pagerduty_plugin import __version__
from pagerduty_plugin.client.deadline import DeadlineAdapter, Watch
from pagerduty_plugin.errors import AnswerTooLarge, BadAnswer, HttpRefusal, NetworkError, NotSent, mask_excerpt, shorten

USER_AGENT = f"pagerduty-plugin/{__version__} python-requests/{requests.__version__}"
BACKOFF_BASE = 0.5  # seconds before the first retry of a bare 429 or a 5xx
BACKOFF_CAP = 30.0
RETRY_BUDGET = 120.0  # seconds a call may spend waiting between tries, all retries together
MAX_ANSWER_BYTES = 32 * 2 ** 20  # an answer larger than this is not PagerDuty's
CHUNK_BYTES = 64 * 1024


class PassThrough(requests.auth.AuthBase):
    """Auth that adds nothing: with it set, requests takes no credentials from ~/.netrc or from
    the URL, so the API key (in the headers the client sets) is the only credential sent."""

    def __call__(self, request):
        return request


class DeadlinePassed(requests.Timeout):
    """The whole exchange took longer than the timeout (a slow-drip answer)."""


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
        if proxies or verify is not None or cert is not None:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        known = self.__dict__.setdefault("environment_settings", {})
        settings = known.get((parts.scheme, parts.netloc))
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, None, verify, cert)
            known[(parts.scheme, parts.netloc)] = settings
        # the caller's own copy; `stream` is the request's (every exchange streams, to cap its size)
        return {**settings, "proxies": dict(settings["proxies"]),
                "stream": settings["stream"] if stream is None else stream}


def new_session(verify_tls=True):
    """A requests session as every call wants it: keep-alive, our User-Agent, no auth of its own
    (each request carries its credentials in its headers)."""
    session = Session()
    session.headers["User-Agent"] = USER_AGENT
    session.verify = verify_tls  # True, False, or the path of a CA bundle (the connection's ca_file)
    session.auth = PassThrough()  # no credentials from ~/.netrc or the URL: the API key is the only one
    adapter = DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
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


class Reply:
    """The answer to a call, with what it took to get it. (A plain class: dataclasses is not on
    `run`'s import path otherwise.)"""

    __slots__ = ("response", "body", "retries", "after_uncertain_try")

    def __init__(self, response, body=b"", retries=0, after_uncertain_try=False):
        self.response = response  # the requests.Response (status and headers; its body was read into `body`)
        self.body = body  # the answer's bytes, read up to MAX_ANSWER_BYTES
        self.retries = retries  # tries repeated before this answer
        self.after_uncertain_try = after_uncertain_try  # an earlier try may have been carried out (timeout, 5xx)


class Transport:
    def __init__(self, *, timeout=30, max_retries=3, verify_tls=True, log, budget=RETRY_BUDGET, session=None):
        self.timeout = timeout
        self.max_retries = max_retries
        self.budget = budget
        self.log = log
        self.secrets = set()  # masked in the excerpts of answers quoted in errors
        self.writes_sent = []  # "METHOD /path" of every change sent, for an interrupted step's error
        self.last_date = None  # the Date header of the latest answer: the server's clock (pollers' windows)
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
                response, body = self.exchange(method, url, **kwargs)
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
                raise network_error(method, url, exc, attempt, safe_to_repeat or never_sent,
                                    sent=uncertain or not never_sent) from None
            except (requests.RequestException, ValueError, UnicodeError) as exc:
                raise request_error(method, url, exc) from None  # a bad setting: no use repeating
            self.log.debug(f"{method} {urlsplit(url).path} -> HTTP {response.status_code}")
            if 300 <= response.status_code < 400:
                raise redirect_error(method, url, response)
            wait = retry_wait(response, attempt, safe_to_repeat)
            if wait is None or attempt >= self.max_retries or time.monotonic() + wait > deadline:
                return Reply(response, body, attempt, uncertain)
            uncertain = uncertain or response.status_code >= 500
            self.note_retry(method, url, f"HTTP {response.status_code}", attempt, wait)
            time.sleep(wait)
            attempt += 1

    def exchange(self, method, url, **kwargs):
        """One try: (response, body), its whole answer read within `timeout` seconds and MAX_ANSWER_BYTES.
        Redirects are never followed: a 307 would resend the body (a routing key) elsewhere,
        a 301-303 would turn a write into a GET that reports success."""
        if method not in ("GET", "HEAD"):
            self.writes_sent.append(f"{method} {urlsplit(url).path}")
        with Watch(self.timeout) as watch:
            try:
                response = self.session.request(method, url, timeout=self.timeout, allow_redirects=False,
                                                stream=True, **kwargs)
                with response:
                    body = read_capped(response, method, url)
                self.last_date = response.headers.get("Date") or self.last_date
            except requests.RequestException as exc:
                if watch.expired:
                    raise DeadlinePassed(f"no complete answer within {self.timeout} s") from exc
                raise
        return response, body

    def note_retry(self, method, url, what, attempt, wait):
        self.log.warning(f"{method} {urlsplit(url).path} got {what}; retry {attempt + 1} of "
                         f"{self.max_retries} in {wait:.1f} s")


def read_capped(response, method, url):
    """The body, refused beyond MAX_ANSWER_BYTES (a page of 100 incidents is about 0.3 MB)."""
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(
                f"{host_of(url)} sent more than {MAX_ANSWER_BYTES // 2 ** 20} MiB in answer to {method} "
                f"{urlsplit(url).path}; the rest was not read",
                "PagerDuty's answers are far smaller: check api_url/events_url (a proxy or another server "
                "may be answering).", {"status": response.status_code, "bytes_read": size}, response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def host_of(url):
    """host[:port] of a URL, never its user:password part."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def shown_url(url):
    """A URL as an error may show it: scheme, host and path; no credentials, query or fragment."""
    parts = urlsplit(url)
    return shorten(f"{parts.scheme}://{host_of(url)}{parts.path}" if parts.scheme else parts.path, 120)


def redirect_error(method, url, response):
    from urllib.parse import urljoin

    location = response.headers.get("Location")
    target = shown_url(urljoin(url, location)) if location else "nowhere (no Location header)"
    status = response.status_code
    return HttpRefusal(
        f"{host_of(url)} answered {method} {urlsplit(url).path} with a redirect (HTTP {status}) to {target}; "
        "redirects are not followed",
        "PagerDuty's APIs never redirect: set api_url/events_url to the final https:// address (a redirect "
        "could carry the API key or routing key to another host, or turn a change into a read).",
        {"status": status, "location": target}, status)


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
        return isinstance(reason, NewConnectionError)  # NameResolutionError is one too
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


def network_error(method, url, exc, attempts, repeatable, sent=True):
    """A NetworkError; `sent` False when no try of the request ever left (its cause says so)."""
    host = host_of(url)
    tries = f" after {attempts + 1} tries" if attempts else ""
    data = {"host": host, "method": method, "path": urlsplit(url).path, "attempts": attempts + 1}
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(f"TLS error talking to {host}{tries}",
                            "Check the host name and its certificate; ca_file names a CA to trust (a TLS-inspecting "
                            "proxy's), verify_tls: false skips the check (only for a test endpoint).", data, sent)
    if not sent:
        assistance = "Nothing reached the server: check the network and the URL setting, then run the step again."
    elif repeatable:
        assistance = "Check the network and the URL setting, then run the step again."
    else:
        assistance = ("The request may have been carried out before the connection failed, so it was not "
                      "repeated automatically: check PagerDuty before running the step again.")
    outcome = "; the request was not sent" if not sent else ""
    return NetworkError(f"{describe(exc).capitalize()} talking to {host} ({method} {urlsplit(url).path}){tries}"
                        f"{outcome}", assistance, data, sent)


def request_error(method, url, exc):
    """A request that could not even be made: a malformed URL, key or header value."""
    return NotSent(
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


def json_body(reply, secrets=()):
    """The answer's JSON, or a clear error when PagerDuty sent something else (its start
    quoted with the secrets masked first, so the cut can never leave part of one)."""
    if not reply.body:
        return None
    try:
        return strict_json(reply.body)
    except (ValueError, RecursionError):
        response = reply.response
        raise BadAnswer(
            f"{host_of(response.url)} answered HTTP {response.status_code} with a body that is not JSON",
            "PagerDuty or a proxy in between sent a malformed answer; check events_url/api_url and try again.",
            {"status": response.status_code, "body_start": mask_excerpt(body_text(reply), secrets, 200)},
            response.status_code) from None


def body_text(reply):
    """The answer's body as text, in the charset its Content-Type names (else UTF-8), never failing."""
    try:
        return str(reply.body, reply.response.encoding or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return str(reply.body, "utf-8", "replace")


def lenient_json(reply):
    """The JSON of an error answer, or None when it has none (a proxy's HTML page, a bare 429)."""
    try:
        return strict_json(reply.body) if reply.body else None
    except (ValueError, RecursionError):
        return None
