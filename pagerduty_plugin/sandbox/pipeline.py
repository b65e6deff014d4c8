"""Request pipeline: hooks, faults, auth, rate limit, routing, From rule, JSON, journal."""
import json
import sys
import time
import traceback

from . import documented, enqueue, errors, hooks, lifecycle, routing, timeutil, webview
from .call import Call
from .errors import ApiError
from .server import Response

JSON_TYPE = "application/json; charset=utf-8"
EVENT_PATHS = {"/v2/enqueue": "trigger", "/v2/enqueue/": "trigger",
               "/v2/change/enqueue": "change", "/v2/change/enqueue/": "change"}
WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}
TOKEN_PATH = "/oauth/token"  # on the identity host (identity.pagerduty.com); here on the sandbox's own


def json_response(status, payload, headers=()):
    if payload is None:
        return Response(status, headers, b"")
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", JSON_TYPE), *headers], body)


def parse_authorization(value):
    """'Token token=KEY' or 'Bearer KEY' -> KEY (None when absent or malformed)."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("Token token="):
        return value[len("Token token="):].strip().strip('"') or None
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    return None


class Pipeline:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.store = sandbox.store
        self.journal = sandbox.journal_log
        self.faults = sandbox.faults
        self.limiter = sandbox.limiter
        self.event_limiter = sandbox.event_limiter
        routing.load()

    def dispatch(self, request):
        path = request.path
        if webview.serves(request):   # the web page: no key, not journaled (it polls every 2 s)
            return self._guard(lambda: webview.handle(self.sandbox, request))
        if path == "/_sandbox" or path.startswith("/_sandbox/"):
            response = self._guard(lambda: hooks.handle(self.sandbox, request))
            self.journal.record(request, response, hook=True)
            return response
        fault = self.faults.take(request.method, path, request.body)
        response = self._guard(lambda: self._answer(request, fault))
        self.journal.record(request, response, fault=fault.spec if fault else None)
        return response

    def _answer(self, request, fault):
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.answers:
                return Response(*fault.response(self.limiter.peek()))
        if request.path in EVENT_PATHS:
            return self._events(request, EVENT_PATHS[request.path])
        if request.path == TOKEN_PATH:
            return self._token(request)
        return self._rest(request)

    # the identity service (scoped OAuth) ------------------------------------------------------
    def _token(self, request):
        if request.method != "POST":
            return json_response(405, {"error": "invalid_request", "error_description": "POST a token request"})
        with self.store.lock:
            status, payload = self.sandbox.identity.token(request)
        return json_response(status, payload, [("Cache-Control", "no-store")])

    def _guard(self, work):
        """No request may kill a handler thread: a bug becomes a 500 envelope."""
        try:
            return work()
        except Exception:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            return json_response(500, {"error": {"message": "Internal Server Error", "code": errors.INTERNAL,
                                                 "errors": ["the sandbox failed on this request"]}})

    # Events API v2 ----------------------------------------------------------------------------
    def _events(self, request, kind):
        if request.method != "POST":
            return json_response(404, {"status": "not found", "message": "Not Found"})
        rate = list(self.event_limiter.peek())
        status, payload = enqueue.handle(self.sandbox, request.body, kind, self.event_limiter, rate)
        payload = self._documented(request, status, payload)
        # the Events API sends none of the REST API's ratelimit-* headers, not even on its 429
        return json_response(status, payload)

    # REST API v2 ------------------------------------------------------------------------------
    def _rest(self, request):
        rate = self.limiter.peek()
        try:
            key_name, key = self._authenticate(request)
            allowed, limit, remaining, reset = self.limiter.hit(key_name)
            rate = (limit, remaining, reset)
            if not allowed:
                body = {"error": {"message": "Rate Limit Exceeded", "code": errors.RATE_LIMITED}}
                return json_response(429, body, self._rate_headers(rate))
            status, payload = self._route(request, key)
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        return json_response(status, self._documented(request, status, payload), self._rate_headers(rate))

    def _documented(self, request, status, payload):
        contract = self.sandbox.contract
        return payload if contract is None else contract.documented(request.method, request.path, status, payload)

    @staticmethod
    def _rate_headers(rate):
        limit, remaining, reset = rate
        return [("ratelimit-limit", str(limit)), ("ratelimit-remaining", str(remaining)),
                ("ratelimit-reset", str(reset))]

    def _authenticate(self, request):
        key_name = parse_authorization(request.header("Authorization"))
        key = self.store.api_keys.get(key_name) if key_name else None
        if key is None and key_name:
            with self.store.lock:
                key = self.sandbox.identity.key(key_name)  # a scoped OAuth token (401 once expired)
        if key is None:
            raise ApiError(401, errors.AUTH_FAILED, "Authentication failed",
                           ["Missing or invalid API key: send 'Authorization: Token token=KEY'"])
        return key_name, key

    def _route(self, request, key):
        entry, params = routing.match(request.method, request.path)
        if entry is None:
            if documented.documented(request.method, request.path):
                raise ApiError(404, errors.NOT_FOUND, "Not Found",
                               [f"{request.method} {request.path} is in PagerDuty's REST API, but this sandbox "
                                "does not imitate it"])
            raise ApiError(404, errors.NOT_FOUND, "Not Found",
                           [f"{request.method} {request.path} is not a PagerDuty API path"])
        self.sandbox.identity.check_scope(key, request.method, entry.template)
        if key["read_only"] and request.method in WRITE_METHODS:
            raise ApiError(403, errors.ACCESS_DENIED, "Access Denied",
                           ["This API key is read-only: writes need a full-access key"])
        body = self._json_body(request)
        store = self.store
        with store.lock:
            from_user = self._from_user(request, entry)
            now = timeutil.now()
            lifecycle.expire_snoozes(store, now)
            call = Call(store, params, request.query, body, key, from_user, now)
            return entry.handler(call)

    @staticmethod
    def _json_body(request):
        if not request.body or not request.body.strip():
            return None
        try:
            return errors.strict_json(request.body)
        except (ValueError, RecursionError):
            raise ApiError(400, errors.INVALID_INPUT, "Invalid Input Provided",
                           ["The request body is not valid JSON"]) from None

    def _from_user(self, request, entry):
        email = request.header("From")
        if entry.from_header is None and not email:
            return None
        if not email or not email.strip():
            if entry.from_header == "required":
                raise ApiError(400, errors.FROM_HEADER, errors.FROM_MESSAGE, [errors.FROM_MESSAGE])
            return None
        user = self.store.user_by_email(email)
        if user is None and entry.from_header == "required":
            raise ApiError(400, errors.FROM_HEADER, errors.FROM_MESSAGE,
                           [f"The From header {email.strip()!r} is not the email of a user on this account"])
        return user
