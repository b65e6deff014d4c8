"""`pagerduty-plugin http [--host H] [--port P] [--workers N] [--threads N] [--token-file F] [--state DIR]`

Runs the WSGI app under gunicorn (threaded workers: a step mostly waits on PagerDuty). The first
line on stdout is `{"url": "http://HOST:PORT"}` once the socket listens; `--port 0` picks a free
port. SIGTERM lets the steps in flight finish, then exits 0 (gunicorn's graceful stop).
"""

import ipaddress
import json
import os
import subprocess
import sys
import threading

from gunicorn.app.base import BaseApplication

from pagerduty_plugin import spec as speclib
from pagerduty_plugin.command_io import Parser, state_option
from pagerduty_plugin.connection_settings import connection_from_env
from pagerduty_plugin.errors import EXIT_FAILED, EXIT_USAGE, PluginError, UsageError
from pagerduty_plugin.files import read_text
from pagerduty_plugin.server.app import MAX_BODY, App, Options
from pagerduty_plugin.server.hosts import parse_allowed
from pagerduty_plugin.server.worker import GuardedWorker, Limits
from pagerduty_plugin.state import location

GRACEFUL_SECONDS = 30  # how long SIGTERM waits for the steps in flight


# Where `http` answers, and whether it wants a token. On a host: loopback, and a token before any other
# address. PAGERDUTY_PLUGIN_HTTP=insightconnect (set by the Dockerfile) is the image's documented choice to
# answer InsightConnect's orchestrator as it calls: on 0.0.0.0:10001 inside the container's network, with no
# token, which it never sends. Flags given on the command line still win.
PLACES = {
    "host": {"host": "127.0.0.1", "port": 8000, "open": False},
    "insightconnect": {"host": "0.0.0.0", "port": 10001, "open": True},
}


def place():
    name = os.environ.get("PAGERDUTY_PLUGIN_HTTP") or "host"
    if name not in PLACES:
        raise UsageError(f"PAGERDUTY_PLUGIN_HTTP={name!r} is not one of {', '.join(sorted(PLACES))}",
                         "Unset it on a host; InsightConnect's image sets it to insightconnect.")
    return PLACES[name]


def build_parser(defaults=PLACES["host"]):
    parser = Parser(prog="pagerduty-plugin http", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=defaults["host"], help=f"address to listen on (default {defaults['host']})")
    parser.add_argument("--port", type=int, default=defaults["port"],
                        help=f"port (0 picks a free one; default {defaults['port']})")
    # --process_workers and --threads_per_worker: how InsightConnect's runtime starts a plugin's `http`
    parser.add_argument("--workers", "--process_workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--threads", "--threads_per_worker", type=int, default=8,
                        help="threads per worker (default 8)")
    parser.add_argument("--token-file", metavar="F", help="file holding the bearer token every route but "
                        "/api/v1/status requires")
    parser.add_argument("--state", type=state_option, metavar="DIR|URL", help="state directory (the webhook inbox), "
                        "or a postgresql:// URL a fleet shares (default: PAGERDUTY_STATE)")
    parser.add_argument("--webhook-secrets-file", metavar="F", help="file of webhook signing secrets, one per line "
                        "(default: PAGERDUTY_WEBHOOK_SECRETS, comma-separated)")
    parser.add_argument("--runbooks", metavar="DIR", help="also start the runbooks of DIR whose on: matches the "
                        "events received (as `runbook serve DIR`, in a companion process)")
    parser.add_argument("--outbox-keys", metavar="F", help="with an outbox (PAGERDUTY_OUTBOX): more routing keys the "
                        "background drainer may send with, one a line (the steps' own service_key values)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]", help="a host a "
                        "caller's api_url/events_url may name besides pagerduty.com's and the server's own (repeat it; "
                        "loopback and private addresses only this way)")
    parser.add_argument("--request-timeout", type=float, default=10.0, metavar="S", help="a request's head must "
                        "arrive within S seconds of its first byte, and its body within S more (default 10)")
    parser.add_argument("--client-connections", type=int, default=64, metavar="N", help="connections one client "
                        "address may hold open at once (default 64; raise it behind a proxy)")
    parser.add_argument("--debug", action="store_true", help="every step's log on stderr (secrets masked)")
    return parser


def main(argv, stdout, stderr):
    try:
        defaults = place()
        args = build_parser(defaults).parse_args(argv)
        check_arguments(args, defaults["open"])
        if args.runbooks:
            check_runbooks(args.runbooks)
        if args.outbox_keys and not os.path.isfile(args.outbox_keys):
            raise UsageError(f"--outbox-keys {args.outbox_keys} is not a file", "Give a file of routing keys, one a line.")
        location.share(args.state, lambda message: stderr.write(f"warning: {message}\n"))  # workers, companions
        options = Options(token=read_token(args.token_file, stderr) if args.token_file else None,
                          connection=connection_from_env(speclib.load()), debug=args.debug,
                          workers=args.workers, threads=args.threads, state=location.resolve(args.state),
                          webhook_secrets=webhook_secrets(args.webhook_secrets_file, stderr),
                          allowed_hosts=allowed_hosts(args.allow_host))
        if options.webhook_secrets and not location.is_database(options.state):
            check_inbox(options.state)
        companions = [runbook_companion(args)] if args.runbooks else []
        if args.runbooks:
            runbook_positions(args.runbooks, options.state)
        if options.connection.get("outbox"):  # the steps' queued events leave as soon as PagerDuty takes them
            companions.append(drain_companion(args, options.connection))
    except SystemExit as exc:  # --help
        return exc.code or 0
    except PluginError as exc:
        stdout.write(json.dumps({"error": exc.to_dict()}) + "\n")
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    limits = Limits(request_timeout=args.request_timeout, per_client=args.client_connections, max_body=MAX_BODY)
    Server(options, args.host, args.port, stdout, companions, limits).run()  # returns only by exiting
    return 0


def check_arguments(args, open_without_token=False):
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port", "Give 0 (any free port) to 65535.")
    if not 1 <= args.workers <= 64 or not 1 <= args.threads <= 256:
        raise UsageError("--workers must be 1 to 64 and --threads 1 to 256", "Lower them.")
    if not 0.5 <= args.request_timeout <= 600 or not 1 <= args.client_connections <= 10000:
        raise UsageError("--request-timeout must be 0.5 to 600 seconds and --client-connections 1 to 10000",
                         "Give values in those ranges.")
    if not args.token_file and not loopback(args.host) and not open_without_token:
        raise UsageError(f"Refusing to serve on {args.host} without a token: anyone who reaches it could run "
                         "actions with the server's PagerDuty keys",
                         "Give --token-file FILE (clients send `Authorization: Bearer TOKEN`), or keep the "
                         "default --host 127.0.0.1.")


def allowed_hosts(entries):
    for entry in entries:
        try:
            parse_allowed(entry)
        except ValueError:
            raise UsageError(f"--allow-host {entry!r} is not a host or host:port",
                             "Give a host name or address, with its port if only that one is allowed.") from None
    return entries


def check_runbooks(directory):
    """Refuse to start with runbooks that could not run: better now than at the first event."""
    from pagerduty_plugin.runbooks.event_runs import load_dir
    from pagerduty_plugin.runbooks.model import describe

    books, problems = load_dir(directory, speclib.load())
    if problems:
        raise PluginError(f"{len(problems)} problem(s) in the runbooks of {directory}: {describe(problems[0])}",
                          f"Fix them; `pagerduty-plugin runbook check {directory}/*.yaml` lists every one.",
                          {"problems": problems})
    if not any(book.on for book in books):
        raise PluginError(f"No runbook in {directory} has an on: block", "Add one, or leave out --runbooks.")


def check_inbox(state):
    """A state directory whose inbox cannot be opened is refused at start when webhooks are expected:
    every one would get 503 until an operator noticed. (A database may be down a while and come back:
    the server starts; without webhook secrets the route answers 503 anyway and the inbox is unused.)"""
    from pagerduty_plugin.state.inbox import Inbox

    Inbox(state).close()


def runbook_positions(directory, state):
    """The runbooks' consumers (named as `runbook serve` names them) start at the events received
    from now on, even when the companion process takes a moment to start."""
    from pagerduty_plugin.runbooks.event_runs import load_dir
    from pagerduty_plugin.state.inbox import Inbox

    books, _ = load_dir(directory, speclib.load())
    inbox = Inbox(state)
    try:
        for trigger in {book.on.get("trigger") or "incident_event" for book in books if book.on}:
            inbox.begin(f"runbooks:{trigger}")
    finally:
        inbox.close()


def drain_companion(args, connection):
    """`outbox drain --forever` with the routing keys it may send with; refused up front when it
    would have none (it would stop at once and the queued events would wait for ever)."""
    if not connection.get("routing_key") and not args.outbox_keys:
        raise UsageError("An outbox is set (PAGERDUTY_OUTBOX) but the server has no routing key to drain it with",
                         "Set PAGERDUTY_ROUTING_KEY, or give --outbox-keys FILE (one routing key a line): the outbox "
                         "stores no routing key, only its fingerprint.")
    command = [sys.executable, "-m", "pagerduty_plugin", "outbox", "drain", "--forever"]
    return command + (["--keys", os.path.abspath(args.outbox_keys)] if args.outbox_keys else [])


def runbook_companion(args):
    command = [sys.executable, "-m", "pagerduty_plugin", "runbook", "serve", args.runbooks]
    state = location.resolve(args.state)
    if not location.is_database(state):  # a database URL goes by the environment (main), off `ps`
        command += ["--state", state]
    return command + (["--debug"] if args.debug else [])


def loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path, stderr):
    token = read_private_file(path, "token file", stderr, "Write a long random token into it first, e.g. "
                              f"`openssl rand -hex 32 > {path} && chmod 600 {path}`.").strip()
    if not 16 <= len(token) <= 4096 or not token.isascii() or any(c.isspace() or not c.isprintable() for c in token):
        raise UsageError(f"The token in {path} must be 16 to 4096 printable characters without spaces",
                         "Write a long random token, e.g. `openssl rand -hex 32 > FILE`.")
    return token


def read_private_file(path, what, stderr, assistance=None):
    """A small secret file's text; a warning when other users can read it."""
    found = read_text(path, what, assistance or f"Give a readable UTF-8 {what}.", error=UsageError, limit=65536)
    if found.shared:
        stderr.write(f"warning: the {what} {path} is readable by other users; chmod 600 it\n")
    return found.text


def webhook_secrets(path, stderr):
    """The signing secrets of the webhook subscriptions (several while one rotates)."""
    if path:
        text = read_private_file(path, "webhook secrets file", stderr)
        secrets = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        secrets = [part.strip() for part in os.environ.get("PAGERDUTY_WEBHOOK_SECRETS", "").split(",") if part.strip()]
    if any(len(secret) < 8 for secret in secrets):
        raise UsageError("A webhook secret is shorter than 8 characters",
                         "Copy the whole secret PagerDuty answered when the subscription was created.")
    if not secrets:
        stderr.write("warning: no webhook secrets (PAGERDUTY_WEBHOOK_SECRETS): /webhooks/pagerduty answers 503 "
                     "and PagerDuty keeps retrying\n")
    return secrets


def start_companion(command):
    # a companion's JSON lines (one per runbook run) go to stderr: stdout holds the ready line only
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno())


class Server(BaseApplication):
    """gunicorn, configured in code: each worker builds its own warm App (no preload)."""

    def __init__(self, options, host, port, stdout, companions=(), limits=Limits()):
        self.options, self.host, self.port, self.stdout = options, host, port, stdout
        self.limits = limits
        self.companions = list(companions)  # commands run beside the workers, stopped with the server
        self.processes = []
        self.stopping = threading.Event()
        super().__init__()

    def load_config(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        settings = {
            "bind": [f"{host}:{self.port}"], "workers": self.options.workers, "threads": self.options.threads,
            # gthread holding each request in its event loop until it has arrived (server/worker.py)
            "worker_class": type("Worker", (GuardedWorker,), {"limits": self.limits}), "keepalive": 5,
            "graceful_timeout": GRACEFUL_SECONDS, "timeout": 300,
            "accesslog": None, "errorlog": "-", "loglevel": "warning", "proc_name": "pagerduty-plugin http",
            "when_ready": self.announce, "on_exit": self.stop_companions,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self):
        return App(self.options)

    def announce(self, arbiter):
        """The ready line, once the socket listens (connections wait in its backlog for the workers)."""
        self.processes = [start_companion(command) for command in self.companions]
        if self.processes:
            threading.Thread(target=self.supervise, args=(arbiter,), name="companions", daemon=True).start()
        address = arbiter.LISTENERS[0].sock.getsockname()
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        self.stdout.write(json.dumps({"url": f"http://{host}:{address[1]}"}) + "\n")
        self.stdout.flush()

    def supervise(self, arbiter):
        """A companion that died (a bug, a disk) is started again, after 2 s doubling to 60 s: the
        server keeps answering webhooks, and the runbooks and the drain must go on with it. One that
        stopped with the server (a SIGTERM to the whole group, as `systemctl stop` sends) is not: by
        the end of the wait the server has closed its listeners too."""
        waits = [2.0] * len(self.processes)
        while not self.stopping.wait(1.0):
            for number, process in enumerate(self.processes):
                if process.poll() is None:
                    continue
                if self.stopping.wait(waits[number]) or not arbiter.LISTENERS:
                    return
                sys.stderr.write(f"warning: {' '.join(self.companions[number][3:5])} exited with {process.returncode}"
                                 f" {waits[number]:.0f} s ago; starting it again\n")
                self.processes[number] = start_companion(self.companions[number])
                waits[number] = min(waits[number] * 2, 60.0)

    def stop_companions(self, arbiter):
        self.stopping.set()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
