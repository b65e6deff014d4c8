"""Command line: run, test, trigger, info, sample, spec, sandbox, http, export, runbook, outbox, scopes, state
(DESIGN §4).

Stdout carries exactly one JSON document; logs go to stderr (and, in message mode, to the
envelope's `log`). Exit 0 on success, 1 when the step fails, 2 when the command line is wrong.
"""

import argparse
import os
import sys

from pagerduty_plugin import __version__, messages, runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.command_io import (Parser, consumer_filter, consumer_option, dump_json, limit_option, parse_json,
                                         retention_days, state_option, stop_on_signals)
from pagerduty_plugin.connection_settings import connection_settings
from pagerduty_plugin.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted, PluginError, UsageError, bug, redact
from pagerduty_plugin.exports import EXPORTERS
from pagerduty_plugin.logs import StepLog, step_logger

MAX_STDIN = 1024 * 1024  # a step's message is at most 1 MiB (PagerDuty caps an event at 512 KB)
READ_ONLY_COMMANDS = ("info", "sample", "spec")  # they only print: a reader may take what it wants and go
STEP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def build_parser():
    parser = Parser(prog="pagerduty-plugin", description="PagerDuty plugin pack for automation platforms.")
    parser.add_argument("--version", action="version", version=f"pagerduty-plugin {__version__}")
    parser.add_argument("--debug", action="store_true", help="verbose logs on stderr (secrets still masked)")
    # --debug is global: accepted before the subcommand (as the runtime takes it) and after it
    debug_after = {"dest": "debug", "action": "store_true", "default": argparse.SUPPRESS,
                   "help": "verbose logs on stderr (secrets still masked)"}
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    run = commands.add_parser("run", help="run an action (platform message, or ACTION with its input on stdin)")
    run.add_argument("action", nargs="?", help="plain mode: the action to run; stdin is its input object")
    run.add_argument("--connection", metavar="FILE", help="plain mode: JSON file of connection settings")
    run.add_argument("--state", type=state_option, metavar="DIR",
                     help="message mode: the state directory of a trigger_start")
    run.add_argument("--replay", action="store_true", help="message mode: a trigger_start's new consumer "
                     "replays every event kept (else it starts after the newest)")
    run.add_argument("--debug", **debug_after)
    test = commands.add_parser("test", help="test the connection of a platform message on stdin")
    test.add_argument("--debug", **debug_after)
    trigger = commands.add_parser("trigger", help="hand over a trigger's events as JSON lines (input on stdin)")
    trigger.add_argument("name", help="the trigger (incident_event, new_incident, incident_changed)")
    trigger.add_argument("--once", action="store_true", help="take what there is (polling: poll once), then exit")
    trigger.add_argument("--state", type=state_option, metavar="DIR|URL",
                         help="state directory or postgresql:// URL (default: $PAGERDUTY_STATE)")
    trigger.add_argument("--interval", type=float, metavar="S", help="seconds between polls (default: the "
                         "trigger's `interval` input; 1 s for the inbox of webhooks)")
    trigger.add_argument("--connection", metavar="FILE", help="JSON file of connection settings")
    trigger.add_argument("--consumer", type=consumer_option, metavar="NAME", help="this consumer's name: its position "
                         "in the inbox, owned by one process at a time (default: the trigger's name)")
    trigger.add_argument("--replay", action="store_true", help="a new consumer hands over every event kept "
                         "(else it starts after the newest)")
    trigger.add_argument("--ack", metavar="FILE", help="take an event only once the reader appends its id (or "
                         "its line) to FILE; the rest is handed over again at the next run")
    trigger.add_argument("--retention-days", type=float, default=None, metavar="D",
                         help="events kept in the inbox, in days (default 7)")
    trigger.add_argument("--debug", **debug_after)
    commands.add_parser("info", help="plugin metadata and the list of actions")
    sample = commands.add_parser("sample", help="a ready-to-edit action_start message for ACTION")
    sample.add_argument("action")
    spec = commands.add_parser("spec", help="JSON Schemas of one action or all; --check lints the spec")
    spec.add_argument("action", nargs="?")
    spec.add_argument("--check", action="store_true", help="lint plugin.spec.yaml and report problems")
    commands.add_parser("sandbox", help="start the embedded PagerDuty sandbox", add_help=False)
    commands.add_parser("http", help="serve the actions over HTTP (InsightConnect's routes, /run, webhooks)",
                        add_help=False)
    export = commands.add_parser("export", help="write the native package of a platform into DIR")
    export.add_argument("platform", choices=sorted(EXPORTERS))
    export.add_argument("directory", metavar="DIR")
    export.add_argument("--wheel", metavar="FILE", help="stackstorm: the plugin's wheel, carried in the pack "
                                                         "(pip wheel --no-deps -w dist . in this repository)")
    runbook = commands.add_parser("runbook", help="workflow files: check, run, serve, runs, export, schema",
                                  add_help=False,
                                  prefix_chars="\0")  # every argument goes to the runbook command's own parser
    runbook.add_argument("argv", nargs=argparse.REMAINDER)
    add_outbox_parser(commands)
    scopes = commands.add_parser("scopes", help="the scoped-OAuth permissions that actions or a runbook need")
    scopes.add_argument("actions", nargs="*", metavar="ACTION")
    scopes.add_argument("--runbook", metavar="FILE", help="the scopes of every step of this runbook (and its trigger)")
    add_report_parser(commands)
    add_dead_letters_parser(commands)
    add_state_parser(commands)
    return parser


def main(argv=None, stdin=None, stdout=None, stderr=None):
    argv = sys.argv[1:] if argv is None else argv
    if stdout is None:  # the process's own entry point: its warning filters are ours to set
        quiet_insecure_warnings()
    # a platform may start the step with stdin closed: that reads as empty
    io = Streams(stdin or getattr(sys.stdin, "buffer", None), stdout or sys.stdout, stderr or sys.stderr)
    debug, rest = leading_debug(argv)
    if rest[:1] == ["sandbox"]:  # its own parser; --debug before it means its --verbose
        return run_extra_command("sandbox", rest[1:] + ["--verbose"] * debug, io)
    if rest[:1] == ["http"]:
        return run_http(rest[1:] + ["--debug"] * debug, io)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return io.fail({"error": exc.to_dict()}, EXIT_USAGE)
    except SystemExit as exc:  # --help and --version print their own text
        return exc.code or 0
    if not args.command:
        build_parser().print_help(io.stderr)
        return io.fail({"error": UsageError("No command given", "Run `pagerduty-plugin --help`.").to_dict()},
                       EXIT_USAGE)
    handler = StepLog(io.stderr)
    io.debug = getattr(args, "debug", False)
    io.reader_may_stop = args.command in READ_ONLY_COMMANDS
    log = step_logger(handler, io.debug)
    if getattr(args, "state", None):  # --state wins over PAGERDUTY_STATE for every store the command opens
        from pagerduty_plugin.state import location

        location.share(args.state, log.warning)
    command = COMMANDS.get(args.command)
    if command is None:  # sandbox or http after flags that only look global (an abbreviation)
        return io.fail({"error": UsageError(f"Put `{args.command}` first, before any other flag but --debug",
                                            f"Run `pagerduty-plugin {args.command} --help`.").to_dict()}, EXIT_USAGE)
    with interruptible(args.command, io):
        try:
            return command(args, io, handler, log)
        except PluginError as exc:  # a command line its own checks find wrong is a usage error (exit 2)
            return io.fail({"error": exc.to_dict()}, EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED,
                           handler.secrets)
        except Exception as exc:  # a bug is reported as an error with its cause, never a traceback
            io.debug_traceback(handler.secrets)
            return io.fail({"error": bug(exc).to_dict()}, EXIT_FAILED, handler.secrets)


def leading_debug(argv):
    """--debug given before the subcommand (as InsightConnect's runtime puts it, once or more):
    whether it was, and the command line without it."""
    count = 0
    while count < len(argv) and argv[count] == "--debug":
        count += 1
    return count > 0, argv[count:]


def run_http(argv, io):
    try:
        from pagerduty_plugin.server import command as http_command  # gunicorn stays off every other command's path
    except ImportError as exc:
        if getattr(exc, "name", None) != "gunicorn":
            raise
        return io.fail({"error": PluginError(
            "`http` needs gunicorn, which is not installed (it is the optional `server` extra)",
            "Install it beside the plugin: `pip install 'gunicorn>=22,<28'`, or from this repository "
            "`pip install '.[server]'`.").to_dict()}, EXIT_FAILED)
    return http_command.main(argv, io.stdout, io.stderr)


class Signals:
    """While a run/test step works, Ctrl-C, SIGTERM and SIGHUP raise Interrupted once, so the step
    answers with its one JSON error document; once the answer is being written they are ignored
    (the answer is the truth). Previous handlers come back when the step ends."""

    def __init__(self):
        self.previous = {}
        self.fired = self.answering = False

    def __enter__(self):
        import signal

        for name in STEP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                self.previous[number] = signal.signal(number, self.handle)
        return self

    def __exit__(self, *exc):
        import signal

        for number, handler in self.previous.items():
            signal.signal(number, handler)
        return False

    def handle(self, number, frame):
        import signal

        if self.fired or self.answering:
            return
        self.fired = True
        raise Interrupted(signal.Signals(number).name)


def interruptible(command, io):
    """Signal handlers for the commands that run a step in this process (run, test), and only
    from the main thread: a server running steps in-process keeps its own handlers."""
    import contextlib
    import threading

    if command not in ("run", "test") or threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    io.signals = Signals()
    return io.signals


def quiet_insecure_warnings():
    """With verify_tls false, urllib3 warns on every request; the step's log says it once instead."""
    import warnings

    warnings.filterwarnings("ignore", message="Unverified HTTPS request")


class Streams:
    def __init__(self, stdin, stdout, stderr):
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.debug = False
        self.signals = None
        self.reader_may_stop = False  # a reader that stops early (`info | head`) is no loss worth a warning

    def read_json(self, empty):
        """stdin as JSON; `empty` is what an empty stdin means (None: not allowed)."""
        data = self.stdin.read(MAX_STDIN + 1) if self.stdin is not None else b""
        if len(data) > MAX_STDIN:
            raise PluginError("The input on stdin is larger than 1 MiB",
                              "Send less: PagerDuty accepts at most 512 KB in one event.")
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            raise PluginError(f"The input on stdin is not UTF-8 (bad byte at offset {exc.start})",
                              "Send the JSON encoded as UTF-8.") from None
        if not text.strip():
            if empty is None:
                raise PluginError("No message on stdin", "Pipe the platform's JSON message into the command.")
            return empty
        return parse_json(text)

    def write(self, document, secrets=()):
        """Write the one document. Stdout that cannot take it (closed, a reader gone, a full disk)
        never turns the step's result into a failure: it is said on stderr when that can be."""
        if self.signals is not None:
            self.signals.answering = True
        text = dump_json(document, secrets)
        try:
            self.stdout.write(text)
            self.stdout.write("\n")  # apart: a listing's output may be tens of MB, not worth a copy
            self.stdout.flush()
        except (OSError, ValueError, AttributeError) as exc:  # ValueError: closed; AttributeError: no stdout
            self.lost_stdout(exc)

    def lost_stdout(self, exc):
        reason = getattr(exc, "strerror", None) or "it is closed"
        try:
            if not (self.reader_may_stop and isinstance(exc, BrokenPipeError)):
                self.stderr.write(f"WARNING the output could not be written to stdout ({reason})\n")
                self.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        try:  # later flushes (at exit) go nowhere instead of failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass

    def fail(self, document, code, secrets=()):
        self.write(document, secrets)
        return code

    def answer(self, answer, secrets=()):
        self.write(answer.envelope, secrets)
        return EXIT_OK if answer.ok else EXIT_FAILED

    def debug_traceback(self, secrets):
        if self.debug:
            import traceback

            try:
                self.stderr.write(redact(traceback.format_exc(), secrets))
            except (OSError, ValueError, AttributeError):
                pass


# --- commands -----------------------------------------------------------------------------


def cmd_run(args, io, handler, log):
    if args.action:
        return run_plain(args, io, handler, log)
    if args.connection is not None:
        return io.fail({"error": UsageError(
            "--connection is for plain mode (run ACTION); in message mode the connection comes in the message",
            "Put the settings in the message's body.connection, or name the action: "
            "`pagerduty-plugin run ACTION --connection FILE`.").to_dict()}, EXIT_USAGE)
    return run_message(io, handler, log, args.state, args.replay)


def cmd_trigger(args, io, handler, log):
    """Plain mode: one JSON line per event on stdout, each taken once written and flushed, or with
    --ack once the reader acknowledged it (acks.py)."""
    from pagerduty_plugin.trigger_loop import TriggerRun

    if args.interval is not None and not args.interval >= 1:
        raise UsageError(f"--interval {args.interval} is too short", "Give at least 1 second (polling triggers: "
                         "PagerDuty's rate limit is shared with every other client of the account).")
    retention = retention_days(args.retention_days)
    spec = speclib.load()
    connection = connection_settings(spec, args.connection, log)
    values = io.read_json(empty={})
    handler.secrets.update(runner.secret_values(spec, spec.connection, connection))
    from pagerduty_plugin.acks import AckFile, PipeReads

    acks = AckFile(args.ack) if args.ack else PipeReads.of(io.stdout)
    run = TriggerRun(spec, args.name, values, connection, log, args.state, consumer=args.consumer,
                     replay=args.replay, acks=acks, retention_days=retention)

    def deliver(event):
        line = dump_json(event, handler.secrets) + "\n"
        io.stdout.write(line)
        io.stdout.flush()
        if isinstance(acks, PipeReads):
            acks.sent(event["event"]["id"], len(line.encode("utf-8")))

    with stop_on_signals(run.stop):
        try:
            run.run(deliver, once=args.once, interval=args.interval)
        except BrokenPipeError:  # the reader went away: what it did not take stays in the inbox
            os.dup2(os.open(os.devnull, os.O_WRONLY), io.stdout.fileno())
            log.error(f"consumer {run.consumer}: the reader closed stdout; the events it did not take are "
                      "handed over at the next run")
            return EXIT_FAILED
    return EXIT_OK


def add_dead_letters_parser(commands):
    letters = commands.add_parser("dead-letters", help="events a trigger's destination refused for good: "
                                  "list, retry, purge")
    sub = letters.add_subparsers(dest="letters_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    for name, text in (("list", "the refused events, with the reason"),
                       ("retry", "hand them over again at the consumer's next round"),
                       ("purge", "forget them")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--consumer", type=consumer_filter, metavar="NAME",
                             help="only this consumer's (default: every consumer's)")
        command.add_argument("--state", type=state_option, metavar="DIR|URL",
                             help="state directory or postgresql:// URL (default: $PAGERDUTY_STATE)")


def cmd_dead_letters(args, io, handler, log):
    from pagerduty_plugin.state.inbox import Inbox

    inbox = Inbox(args.state)
    try:
        if args.letters_command == "list":
            letters = inbox.dead_letters(args.consumer)
            io.write({"dead_letters": letters, "count": len(letters)})
        elif args.letters_command == "retry":
            io.write({"retrying": inbox.retry_dead_letters(args.consumer)})
        else:
            io.write({"purged": inbox.purge_dead_letters(args.consumer)})
    finally:
        inbox.close()
    return EXIT_OK


def add_state_parser(commands):
    """`state migrate|status` (the work is in state/command.py, imported only when it runs)."""
    state = commands.add_parser("state", help="the durable stores: migrate (schema ahead of a rollout), status")
    sub = state.add_subparsers(dest="state_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    for name, text in (("migrate", "create or upgrade every store's schema (idempotent; says what it applied)"),
                       ("status", "read-only: schema versions, consumers' positions and backlogs, leases and "
                                  "takeovers, runs by status, what retention dropped")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--state", type=state_option, metavar="DIR|URL",
                             help="state directory or postgresql:// URL (default: $PAGERDUTY_STATE)")


def cmd_state(args, io, handler, log):
    from pagerduty_plugin.state import command

    return command.command(args, io, handler, log)


def run_plain(args, io, handler, log):
    spec = speclib.load()
    connection = connection_settings(spec, args.connection, log)
    output = runner.run_step(spec, args.action, io.read_json(empty={}), connection, handler.secrets, log)
    io.write(output, handler.secrets)
    return EXIT_OK


def run_message(io, handler, log, state=None, replay=False):
    return in_envelope(io, handler, log, ("action_start", "connection_test", "trigger_start"), test=False,
                       state=state, replay=replay)


def cmd_test(args, io, handler, log):
    return in_envelope(io, handler, log, ("connection_test", "action_start"), test=True)


def in_envelope(io, handler, log, accepted, test, state=None, replay=False):
    """Message mode: read a platform message, do its step, answer with one envelope."""
    default_type = "connection_test" if test else "action_event"
    try:
        message = io.read_json(empty=None)
    except PluginError as exc:
        return io.fail(messages.refusal(exc, handler.text(), default_type), EXIT_FAILED, handler.secrets)
    messages.note_secrets(speclib.load(), message, handler.secrets)
    if isinstance(message, dict) and message.get("type") == "trigger_start" and "trigger_start" in accepted:
        from pagerduty_plugin import trigger_message

        return io.answer(trigger_message.run_trigger_message(message, handler, log, state, replay), handler.secrets)

    def work(kind, body):
        return messages.do_step(speclib.load(), kind, body, handler.secrets, log, test=test)

    answer = messages.respond(message, accepted, work, handler.text, default_type,
                              on_bug=lambda: io.debug_traceback(handler.secrets))
    return io.answer(answer, handler.secrets)


def cmd_info(args, io, handler, log):
    spec = speclib.load()
    io.write({
        "name": spec.name, "title": spec.title, "description": spec.description,
        "version": spec.version, "vendor": spec.vendor,
        "actions": {n: {"title": a["title"], "description": a["description"]} for n, a in spec.actions.items()},
        "triggers": {n: {"title": t["title"], "description": t["description"]} for n, t in spec.triggers.items()},
        "connection": {n: connection_info(spec, n, f) for n, f in spec.connection.items()},
    })
    return EXIT_OK


def connection_info(spec, name, field):
    info = {k: field[k] for k in ("title", "type", "required") if k in field}
    if spec.env_var(name):
        info["env"] = spec.env_var(name)
    return info


def cmd_sample(args, io, handler, log):
    spec = speclib.load()
    io.write(messages.envelope("action_start", {
        "action": args.action, "meta": {},
        "input": spec.sample_input(args.action), "connection": spec.sample_connection(),
    }))
    return EXIT_OK


def cmd_spec(args, io, handler, log):
    if args.check:
        problems = speclib.lint(speclib.parse_yaml(read_spec_text()))
        io.write({"ok": not problems, "problems": problems, "path": speclib.spec_path()})
        return EXIT_FAILED if problems else EXIT_OK
    spec = speclib.load()
    if args.action:
        io.write(action_schemas(spec, args.action))
        return EXIT_OK
    io.write({"connection": spec.connection_schema(),
              "actions": {name: action_schemas(spec, name) for name in spec.actions}})
    return EXIT_OK


# --- outbox (the durable event queue; the work is in the spec's python.commands.outbox) -------


def add_outbox_parser(commands):
    outbox = commands.add_parser("outbox", help="the durable event queue: status, list, drain, retry, purge")
    common = Parser(add_help=False)
    common.add_argument("--connection", metavar="FILE", help="JSON file of connection settings (else PAGERDUTY_*)")
    common.add_argument("--debug", action="store_true", help="verbose logs on stderr (secrets still masked)")
    sub = outbox.add_subparsers(dest="outbox_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)
    sub.add_parser("status", parents=[common], help="counts per status and routing key, oldest pending age")
    listing = sub.add_parser("list", parents=[common], help="the events, oldest first")
    listing.add_argument("--status", choices=("pending", "sending", "sent", "dead"))
    listing.add_argument("--limit", type=limit_option, default=100)
    drain = sub.add_parser("drain", parents=[common], help="deliver what is due (for cron or a systemd timer)")
    drain.add_argument("--until-empty", action="store_true", help="wait out back-offs until nothing is left")
    drain.add_argument("--max-seconds", type=float, metavar="S", help="stop after S seconds")
    drain.add_argument("--keys", metavar="FILE", help="more routing keys to send for, one a line")
    drain.add_argument("--forever", action="store_true", help="keep draining until SIGTERM (as `http` does)")
    retry = sub.add_parser("retry", parents=[common], help="dead events back to pending")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", metavar="DEDUP_KEY", help="the dead events of this dedup key")
    which.add_argument("--all", action="store_true", help="every dead event")
    purge = sub.add_parser("purge", parents=[common], help="delete finished (sent or dead) events")
    purge.add_argument("--status", choices=("sent", "dead"), default="sent")
    purge.add_argument("--older-than", metavar="D", default="0", help="age like 30s, 15m, 12h, 7d (default 0)")


def cmd_outbox(args, io, handler, log):
    spec = speclib.load()
    settings = connection_settings(spec, args.connection, log)
    handler.secrets.update(runner.secret_values(spec, spec.connection, settings))
    connection = runner.open_connection(spec, settings, log)
    command = runner.load_object(spec.python["commands"]["outbox"])
    try:
        document = command(args, connection, log, handler.secrets)
    except UsageError as exc:  # a flag's value it alone can judge (a duration, a limit)
        return io.fail({"error": exc.to_dict()}, EXIT_USAGE, handler.secrets)
    io.write(document, handler.secrets)
    return EXIT_OK


# --- report (the analytics report; the work is in the spec's python.commands.report) ----------


def add_report_parser(commands):
    report = commands.add_parser("report", help="MTTA, MTTR, load and uptime: CSV, charts and an HTML page in DIR")
    report.add_argument("--since", help="start of the period (ISO 8601; default 30 days before --until)")
    report.add_argument("--until", help="end of the period (ISO 8601; default now)")
    report.add_argument("--service", action="append", metavar="ID_OR_NAME", help="only this service (repeatable)")
    report.add_argument("--team", action="append", metavar="ID_OR_NAME", help="only this team (repeatable)")
    report.add_argument("--unit", choices=("day", "week", "month"), help="the period of each row (default day)")
    report.add_argument("--out", metavar="DIR", default="pagerduty-report", help="where the files go")
    report.add_argument("--connection", metavar="FILE", help="JSON file of connection settings (else PAGERDUTY_*)")
    report.add_argument("--debug", action="store_true", help="verbose logs on stderr (secrets still masked)")


def cmd_report(args, io, handler, log):
    spec = speclib.load()
    settings = connection_settings(spec, args.connection, log)
    handler.secrets.update(runner.secret_values(spec, spec.connection, settings))
    connection = runner.open_connection(spec, settings, log)
    try:
        document = runner.load_object(spec.python["commands"]["report"])(args, spec, connection, log, io.stderr)
    finally:
        connection.close()
    io.write(document, handler.secrets)
    return EXIT_OK


def cmd_export(args, io, handler, log):
    """Generate the platform's package from the spec; one JSON line says what was written."""
    spec = speclib.load()
    options = {}
    if args.wheel is not None:
        if args.platform != "stackstorm":
            raise UsageError(f"--wheel is for the stackstorm export, not {args.platform}",
                             "Leave --wheel out: the Rundeck plugin runs the plugin installed on its server.")
        options["wheel"] = args.wheel
    try:
        written = runner.load_object(EXPORTERS[args.platform])(spec, args.directory, **options)
    except OSError as exc:
        raise PluginError(f"Cannot write the {args.platform} export into {args.directory}: "
                          f"{exc.strerror or exc}", "Give a directory you can write to.") from None
    io.write({"platform": args.platform, "directory": os.path.abspath(args.directory), **written})
    return EXIT_OK


def cmd_runbook(args, io, handler, log):
    """`runbook …`: parsed and run by pagerduty_plugin.runbooks (jmespath stays off `run ACTION`'s path)."""
    from pagerduty_plugin.runbooks import command as runbook_command

    try:
        return runbook_command.main(args.argv, io, handler, log)
    except UsageError as exc:
        return io.fail({"error": exc.to_dict()}, EXIT_USAGE)
    except SystemExit as exc:  # --help prints its own text
        return exc.code or 0


def cmd_scopes(args, io, handler, log):
    """The union of the scopes (the spec's python.scopes) of the actions named and of a runbook's
    steps and trigger: what to give a scoped OAuth app, and what the plugin asks its token for."""
    spec = speclib.load()
    actions, triggers = list(args.actions), []
    if args.runbook is not None:
        from pagerduty_plugin.runbooks import model

        runbook = model.load(args.runbook, spec)
        actions += [step.action for step in runbook.steps]
        triggers += [runbook.on["trigger"]] if runbook.on and runbook.on.get("trigger") else []
    if not actions and not triggers:
        raise UsageError("Name the actions, or a runbook with --runbook FILE",
                         "For example: `pagerduty-plugin scopes get_incident add_note`.")
    document = {"scopes": sorted(set(spec.scopes(actions)) | set(spec.scopes(triggers, "triggers"))),
                "actions": {name: spec.scopes([name]) for name in dict.fromkeys(actions)}}
    if triggers:
        document["triggers"] = {name: spec.scopes([name], "triggers") for name in triggers}
    by_path = [name for name in document["actions"] if name in spec.scopes_by_path()]
    if by_path:
        document["scopes_by_path"] = by_path
        document["note"] = (f"{', '.join(by_path)} needs the scopes of the path each step gives it (PagerDuty's "
                            "API reference names them): add them to the list and set it as the connection's scopes "
                            "(PAGERDUTY_SCOPES).")
    io.write(document)
    return EXIT_OK


COMMANDS = {"run": cmd_run, "test": cmd_test, "trigger": cmd_trigger, "info": cmd_info, "sample": cmd_sample,
            "spec": cmd_spec, "export": cmd_export, "runbook": cmd_runbook, "outbox": cmd_outbox,
            "scopes": cmd_scopes, "report": cmd_report, "dead-letters": cmd_dead_letters,
            "state": cmd_state}



def run_extra_command(name, argv, io):
    """Commands implemented outside the runner (the sandbox), found through the spec."""
    try:
        spec = speclib.load()
        command = runner.load_object(spec.python["commands"][name])
    except PluginError as exc:
        return io.fail({"error": exc.to_dict()}, EXIT_FAILED)
    return command(argv)


# --- helpers ------------------------------------------------------------------------------


def action_schemas(spec, name):
    action = spec.action(name)
    return {"action": name, "title": action["title"], "description": action["description"],
            "input": spec.input_schema(name), "output": spec.output_schema(name)}


def read_spec_text():
    try:
        with open(speclib.spec_path(), "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise PluginError(f"Cannot read the plugin spec: {exc.strerror}", "Check PAGERDUTY_PLUGIN_SPEC.")
