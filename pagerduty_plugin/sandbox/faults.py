"""Injected failures: match a request by method and path glob (and, for events, its dedup_key),
then misbehave `count` times."""
import fnmatch
import json
import threading

from .errors import invalid

_FIELDS = {"method", "path", "count", "status", "headers", "retry_after", "ratelimit_reset",
           "delay", "drop", "malformed", "body", "dedup_key"}
_MESSAGES = {
    400: (2001, "Invalid Input Provided"), 401: (2006, "Authentication failed"),
    402: (2014, "Missing account ability"), 403: (2010, "Access Denied"), 404: (2100, "Not Found"),
    408: (2000, "Request Timeout"), 413: (2001, "Request Entity Too Large"),
    429: (2020, "Rate Limit Exceeded"), 500: (2000, "Internal Server Error"),
    502: (2000, "Bad Gateway"), 503: (2000, "Service Unavailable"), 504: (2000, "Gateway Timeout"),
}
MAX_DELAY = 60
MALFORMED_BODY = b"<html><body>upstream answered garbage {\"incident\": </body></html>"


def _delay(value):
    """Seconds to wait before answering: a finite number from 0 to MAX_DELAY."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_DELAY:
        raise invalid(f"delay must be a number of seconds from 0 to {MAX_DELAY}")
    return float(value)


def _encoded(body):
    """The answer body a fault sends, as JSON bytes (refused now rather than failing on the request)."""
    if body is None:
        return None
    try:
        return json.dumps(body, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError):
        raise invalid("body must be JSON (no NaN or Infinity)") from None


class Fault:
    def __init__(self, spec):
        unknown = set(spec) - _FIELDS
        if unknown:
            raise invalid(f"unknown fault fields: {sorted(unknown)}")
        self.method = str(spec.get("method") or "*").upper()
        self.path = str(spec.get("path") or "*")
        self.count = spec.get("count", 1)       # null = every matching request
        self.status = spec.get("status")
        self.headers = bool(spec.get("headers", True))
        self.retry_after = spec.get("retry_after")
        self.ratelimit_reset = spec.get("ratelimit_reset")
        self.delay = _delay(spec.get("delay"))
        self.drop = bool(spec.get("drop"))
        self.malformed = bool(spec.get("malformed"))
        self.body = _encoded(spec.get("body"))
        self.dedup_key = spec.get("dedup_key")  # only events carrying this dedup_key
        self._check()
        self.spec = {k: v for k, v in spec.items() if v is not None}

    def _check(self):
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise invalid("count must be a positive integer or null (always)")
        if self.status is not None and (not isinstance(self.status, int) or not 100 <= self.status <= 599):
            raise invalid("status must be an HTTP status code")
        if self.dedup_key is not None and (not isinstance(self.dedup_key, str) or not self.dedup_key):
            raise invalid("dedup_key must be a non-empty string")
        if not (self.status or self.drop or self.malformed or self.delay):
            raise invalid("a fault needs one of status, drop, malformed or delay")

    def matches(self, method, path, body=b""):
        if not (self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)):
            return False
        return self.dedup_key is None or _dedup_key_of(body) == self.dedup_key

    @property
    def answers(self):
        """False for a pure delay: the request then proceeds normally."""
        return bool(self.status or self.drop or self.malformed)

    def response(self, rate_headers):
        """(status, headers, body) of the faulty answer; status None means drop the connection."""
        if self.drop:
            return None, [], b""
        if self.malformed:  # with a status, what a proxy in between sends: an error page, not JSON
            return self.status or 200, [("Content-Type", "application/json")], MALFORMED_BODY
        headers = []
        if self.headers:
            limit, remaining, reset = rate_headers
            if self.status == 429:
                # A test wants the retry soon: the window "resets" in 1 s unless the fault says otherwise.
                remaining, reset = 0, 1
            if self.ratelimit_reset is not None:
                reset = self.ratelimit_reset
            headers += [("ratelimit-limit", str(limit)), ("ratelimit-remaining", str(remaining)),
                        ("ratelimit-reset", str(reset))]
            if self.retry_after is not None:
                headers.append(("Retry-After", str(self.retry_after)))
        elif self.status == 429:   # PagerDuty may answer a bare 429: no headers, no body
            return 429, [] if self.retry_after is None else [("Retry-After", str(self.retry_after))], b""
        if self.body is not None:
            body = self.body
        else:
            code, message = _MESSAGES.get(self.status, (2000, "Error"))
            error = {"message": message, "code": code}
            body = json.dumps({"error": error}).encode()
        headers.append(("Content-Type", "application/json; charset=utf-8"))
        return self.status, headers, body


def _dedup_key_of(body):
    try:
        event = json.loads(body or b"null")
    except (ValueError, RecursionError):
        return None
    return event.get("dedup_key") if isinstance(event, dict) else None


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise invalid("a fault is a JSON object")
        fault = Fault(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method, path, body=b""):
        """The first fault matching this request, its count used up by one."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, body):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def listing(self):
        with self._lock:
            return [dict(f.spec, remaining=f.count) for f in self._faults]

    def clear(self):
        with self._lock:
            self._faults.clear()
