"""The WSGI application of `pagerduty-plugin http`.

InsightConnect's routes (the runtime's paths and answers), `POST /run/{action}` for callers
that are not InsightConnect, and `POST /webhooks/pagerduty` for PagerDuty's signed webhooks.
Everything a step needs that can be kept warm is built once per worker: the spec, the compiled
validators (through the runner) and one pool of HTTP sessions per connection.
"""

import hmac
import re
import sys
from dataclasses import dataclass, field

from pagerduty_plugin import messages, runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.command_io import dump_json, parse_json
from pagerduty_plugin.errors import PluginError, bug
from pagerduty_plugin.logs import StepLog, step_logger
from pagerduty_plugin.server import webhooks
from pagerduty_plugin.server.hosts import HostPolicy

MAX_BODY = 1024 * 1024  # a step's message, as on stdin
REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
STEP_STATUS = {None: 200, "step": 400, "bug": 500}


@dataclass
class Options:
    """What the command line decided; the app reads nothing else from outside."""
    token: str = None  # when set, every route but the status needs `Authorization: Bearer TOKEN`
    connection: dict = field(default_factory=dict)  # for /run: the server's own, from its environment
    debug: bool = False
    workers: int = 1
    threads: int = 1
    state: str = None  # the state directory (the webhook inbox)
    webhook_secrets: list = field(default_factory=list)
    allowed_hosts: list = field(default_factory=list)  # `--allow-host`: more hosts a caller's api_url may name


class HttpError(Exception):
    def __init__(self, status, cause, assistance="", headers=()):
        super().__init__(cause)
        self.status, self.error, self.headers = status, PluginError(cause, assistance), list(headers)


@dataclass
class Request:
    method: str
    path: str
    headers: dict  # lower-case names
    environ: dict

    @classmethod
    def from_environ(cls, environ):
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        return cls(environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/", headers, environ)

    def body(self, limit):
        """The raw body, refused with 413 past limit bytes (before reading it when the length is given)."""
        length = self.headers.get("content-length")
        stream = self.environ["wsgi.input"]
        if length is not None:
            if not length.isdigit():
                raise HttpError(400, "The Content-Length header is not a number", "Send a valid request.")
            if int(length) > limit:
                raise HttpError(413, f"The body is larger than {limit} bytes", "Send less.")
            return stream.read(int(length)) if int(length) else b""
        data = stream.read(limit + 1)  # chunked: read one byte past the limit to tell
        if len(data) > limit:
            raise HttpError(413, f"The body is larger than {limit} bytes", "Send less.")
        return data

    def json(self, limit=MAX_BODY, empty=None):
        data = self.body(limit)
        if not data.strip():
            if empty is None:
                raise HttpError(400, "The request has no body", "Send the JSON message as the body.")
            return empty
        try:
            return parse_json(data.decode("utf-8"), "The request body")
        except UnicodeDecodeError:
            raise HttpError(400, "The request body is not UTF-8", "Send JSON encoded as UTF-8.") from None
        except PluginError as exc:
            raise HttpError(400, exc.cause, exc.assistance) from None


class App:
    def __init__(self, options):
        self.options = options
        self.spec = speclib.load()
        self.pool = runner.new_pool(self.spec)  # the connection class's warm HTTP sessions
        self.receiver = webhooks.WebhookReceiver(options.webhook_secrets, options.state)
        self.hosts = HostPolicy(options.connection, options.allowed_hosts)
        self.routes = [
            ("GET", r"/api/v1/status", self.status, False),
            ("GET", r"/api/v1/info", self.info, True),
            ("GET", r"/api/v1/actions", self.action_names, True),
            ("GET", r"/api/v1/spec", self.spec_document, True),
            ("POST", r"/(?:api/v1/)?actions/(?P<name>[^/]+)", self.action, True),
            ("POST", r"/api/v1/actions/(?P<name>[^/]+)/test", self.action_test, True),
            ("POST", r"/api/v1/connection/test", self.connection_test, True),
            ("POST", r"/run/(?P<name>[^/]+)", self.run_plain, True),
            # PagerDuty cannot send our bearer token: its HMAC signature is the webhook's authentication
            ("POST", r"/webhooks/pagerduty", self.webhook, False),
        ]
        self.routes = [(method, re.compile(pattern), handler, auth) for method, pattern, handler, auth in self.routes]

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request.from_environ(environ)
        secrets = set()
        headers = []
        try:
            status, document = self.dispatch(request, secrets)
        except HttpError as exc:
            status, document, headers = exc.status, {"error": exc.error.to_dict()}, exc.headers
        except Exception as exc:  # a bug answers 500 with its cause, never a traceback
            status, document = 500, {"error": bug(exc).to_dict()}
        body = dump_json(document, secrets).encode("ascii") + b"\n"
        start_response(f"{status} {REASONS.get(status, 'Error')}",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
        return [body]

    def dispatch(self, request, secrets):
        """The open routes (status, PagerDuty's signed webhooks) first; then the token, before anything
        else is told, so an unauthenticated client cannot map the routes by their 404s and 405s."""
        for method, pattern, handler, auth in self.routes:
            match = pattern.fullmatch(request.path)
            if match and not auth and method == request.method:
                return handler(request, secrets, **match.groupdict())
        self.authorize(request)
        allowed = []
        for method, pattern, handler, auth in self.routes:
            match = pattern.fullmatch(request.path)
            if not match:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            return handler(request, secrets, **match.groupdict())
        if allowed:
            raise HttpError(405, f"{request.method} is not allowed on {request.path}",
                            f"Use {' or '.join(allowed)}.", [("Allow", ", ".join(allowed))])
        raise HttpError(404, f"No route {request.path}", "See the README's HTTP section for the routes.")

    def authorize(self, request):
        token = self.options.token
        if token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise HttpError(401, "Missing or wrong bearer token",
                            "Send `Authorization: Bearer TOKEN` with the token of the server's --token-file.",
                            [("WWW-Authenticate", "Bearer")])

    # --- a step -----------------------------------------------------------------------------

    def step_log(self, secrets):
        """The step's log: its lines are masked with `secrets`, the same set the answer is masked with."""
        handler = StepLog(sys.stderr if self.options.debug else None, secrets)
        return handler, step_logger(handler, self.options.debug)

    def answer_message(self, request, secrets, accepted, test, name=None):
        """One platform message in, one envelope out: 200 ok, 400 a step error, 500 a bug."""
        handler, log = self.step_log(secrets)
        default_type = "connection_test" if test and name is None else "action_event"
        try:
            message = request.json()
        except HttpError as exc:
            if exc.status == 413:
                raise
            return 400, messages.refusal(exc.error, handler.text(), default_type)
        messages.note_secrets(self.spec, message, secrets)

        def work(kind, body):
            if name is not None and body.get("action", name) != name:
                raise PluginError(f"The message names action {body.get('action')!r} but was posted to "
                                  f"{name!r}", f"Post it to /api/v1/actions/{body.get('action')}.")
            body = {**body, "action": name} if name is not None else body
            self.hosts.check_connection(body.get("connection"))
            return messages.do_step(self.spec, kind, body, secrets, log, self.pool, test=test)

        answer = messages.respond(message, accepted, work, handler.text, default_type)
        return STEP_STATUS[answer.failure], answer.envelope

    # --- routes -----------------------------------------------------------------------------

    def status(self, request, secrets):
        failing = self.receiver.writer.failing  # this worker's webhook inbox: say it while it cannot store
        return 200, {"status": "Ready", **({"webhooks": f"failing: {failing}"} if failing else {})}

    def info(self, request, secrets):
        raw = self.spec.raw
        document = {key: raw[key] for key in ("name", "title", "description", "version", "vendor",
                                              "plugin_spec_version", "support", "tags") if key in raw}
        document.update(number_of_workers=self.options.workers, threads=self.options.threads,
                        actions=list(self.spec.actions), triggers=list(self.spec.triggers))
        return 200, document

    def action_names(self, request, secrets):
        return 200, list(self.spec.actions)

    def spec_document(self, request, secrets):
        return 200, self.spec.raw

    def action(self, request, secrets, name):
        return self.answer_message(request, secrets, ("action_start",), test=False, name=name)

    def action_test(self, request, secrets, name):
        return self.answer_message(request, secrets, ("action_start",), test=True, name=name)

    def connection_test(self, request, secrets):
        return self.answer_message(request, secrets, ("connection_test", "action_start"), test=True)

    def webhook(self, request, secrets):
        secrets.update(self.options.webhook_secrets)
        try:
            return self.receiver.receive(request.headers, request.body(webhooks.MAX_BODY))
        except webhooks.Refused as exc:
            retry = [("Retry-After", "5")] if exc.status == 503 else []
            raise HttpError(exc.status, exc.error.cause, exc.error.assistance, retry) from None

    def run_plain(self, request, secrets, name):
        """The bare input object in, the output object (or {"error": …}) out, with the server's connection."""
        values = request.json(empty={})
        handler, log = self.step_log(secrets)
        try:
            return 200, runner.run_step(self.spec, name, values, self.options.connection, secrets, log, self.pool)
        except PluginError as exc:
            return 400, {"error": exc.to_dict()}
        except Exception as exc:
            return 500, {"error": bug(exc).to_dict()}
