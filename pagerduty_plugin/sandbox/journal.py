"""Every handled request, kept raw; decoded (and masked for the journal) only when read.

Bounded twice: by the number of exchanges, and by the bytes of the bodies kept. Beyond that
budget the oldest exchanges keep their method, path, status and headers but lose their bodies
(`bodies_dropped`), so a long-running sandbox fed large events stays small."""
import json
import threading
import time

from .compat import without_suffix

MASK = "***"
_SECRET_WORDS = ("authorization", "token", "key", "secret")
# PagerDuty's own names for public keys: filters and de-duplication keys, shown as sent
_PUBLIC_KEYS = {"incident_key", "alert_key", "dedup_key"}


def _decode_json(raw):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def mask_authorization(value):
    """Keep the scheme so a test can tell Token from Bearer; drop the secret."""
    if value.startswith("Token token="):
        return "Token token=" + MASK
    scheme, _, _rest = value.partition(" ")
    return f"{scheme} {MASK}" if _rest else MASK


def is_secret(name):
    lowered = without_suffix(name.lower(), "[]")
    return lowered not in _PUBLIC_KEYS and any(word in lowered for word in _SECRET_WORDS)


def mask_headers(headers):
    masked = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            masked[name] = mask_authorization(value)
        else:
            masked[name] = MASK if is_secret(name) else value
    return masked


def mask_query(query):
    return {name: [MASK] * len(values) if is_secret(name) else values for name, values in query.items()}


def masked_json(raw):
    try:
        return mask_body(_decode_json(raw))
    except RecursionError:   # nested too deep to walk: show nothing of it
        return MASK


def mask_body(body):
    """Every routing_key and OAuth access_token, however deep (events may come in a list or nested),
    and the values of a webhook subscription's custom headers (often a receiver's credentials)."""
    if isinstance(body, dict):
        return {k: MASK if k in ("routing_key", "access_token") else _mask_header_values(v) if k == "custom_headers"
                else mask_body(v) for k, v in body.items()}
    if isinstance(body, list):
        return [mask_body(item) for item in body]
    return body


def _mask_header_values(headers):
    if not isinstance(headers, list):
        return mask_body(headers)
    return [{**h, "value": MASK} if isinstance(h, dict) and "value" in h else mask_body(h) for h in headers]


class Exchange:
    """One request and its answer."""

    __slots__ = ("seq", "time", "method", "path", "query", "request_headers", "request_body",
                 "status", "response_headers", "response_body", "fault", "hook", "bodies_dropped", "_view")

    def __init__(self, seq, request, response, fault, hook):
        self.seq = seq
        self.time = time.time()
        self.method = request.method
        self.path = request.path
        self.query = request.query
        self.request_headers = request.headers
        self.request_body = request.body
        self.status = response.status          # None when the connection was dropped
        self.response_headers = response.headers
        self.response_body = response.body
        self.fault = fault
        self.hook = hook
        self.bodies_dropped = False
        self._view = None

    @property
    def size(self):
        return len(self.request_body or b"") + len(self.response_body or b"")

    def drop_bodies(self):
        """Forget the bodies (and their decoded view); the bytes freed."""
        freed = self.size
        self.request_body = self.response_body = self._view = None
        self.bodies_dropped = True
        return freed

    def view(self):
        """The unmasked dict `Sandbox.exchanges` lists (decoded once, then cached)."""
        if self._view is None:
            self._view = {
                "seq": self.seq,
                "method": self.method,
                "path": self.path,
                "query": self.query,
                "request_headers": dict(self.request_headers),
                "request_json": _decode_json(self.request_body),
                "status": self.status,
                "response_headers": dict(self.response_headers),
                "response_json": _decode_json(self.response_body),
                "fault": self.fault,
                "hook": self.hook,
                "bodies_dropped": self.bodies_dropped,
            }
        return self._view

    def masked(self):
        """The journal entry: secrets masked, no response body."""
        entry = {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": mask_query(self.query),
            "headers": mask_headers(self.request_headers),
            "json": masked_json(self.request_body),
            "status": self.status,
        }
        if self.fault is not None:
            entry["fault"] = self.fault
        if self.bodies_dropped:
            entry["bodies_dropped"] = True
        return entry


class Journal:
    """Bounded: beyond `limit` exchanges the oldest are forgotten (seq numbers keep counting)."""

    def __init__(self, limit=20000, body_bytes=64 * 2 ** 20):
        self._lock = threading.Lock()
        self._records = []
        self._start = 0   # index of the first record the journal shows (moved by reset)
        self._seq = 0
        self._bytes = 0   # body bytes kept
        self._shed = 0    # index of the first record that still has its bodies
        self.limit = limit
        self.body_bytes = body_bytes

    def record(self, request, response, fault=None, hook=False):
        with self._lock:
            self._seq += 1
            entry = Exchange(self._seq, request, response, fault, hook)
            self._records.append(entry)
            self._bytes += entry.size
            overflow = len(self._records) - self.limit
            if self.limit and overflow > max(1, self.limit // 10):
                self._bytes -= sum(r.size for r in self._records[:overflow])
                del self._records[:overflow]
                self._start = max(0, self._start - overflow)
                self._shed = max(0, self._shed - overflow)
            while self._bytes > self.body_bytes and self._shed < len(self._records) - 1:
                self._bytes -= self._records[self._shed].drop_bodies()  # the newest is always kept whole
                self._shed += 1
        return entry

    @property
    def bytes_kept(self):
        return self._bytes

    def exchanges(self, after=0):
        with self._lock:
            records = [record for record in self._records if record.seq > after]
        return [record.view() for record in records]

    def entries(self, since=0):
        """API requests (not /_sandbox/ hooks) since the last reset with seq > since, masked."""
        with self._lock:
            records = self._records[self._start:]
        return [r.masked() for r in records if not r.hook and r.seq > since]

    def clear(self):
        """Start the journal afresh; `exchanges` keeps everything (checkers index into it)."""
        with self._lock:
            self._start = len(self._records)

    @property
    def last_seq(self):
        return self._seq
