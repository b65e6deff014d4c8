"""Command line: run, test, info, sample, spec, sandbox (DESIGN §4).

Stdout carries exactly one JSON document; logs go to stderr (and, in message mode, to the
envelope's `log`). Exit 0 on success, 1 when the step fails, 2 when the command line is wrong.
"""

import argparse
import json
import math
import os
import sys

from pagerduty_plugin import __version__, runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.errors import (
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted, PluginError, UsageError, bug, contains_secret, mask_secrets,
    redact,
)
from pagerduty_plugin.logs import StepLog, step_logger

MAX_STDIN = 1024 * 1024  # a step's message is at most 1 MiB (PagerDuty caps an event at 512 KB)
MAX_DEPTH = 100  # JSON nesting accepted on input; deeper would exhaust Python's recursion later
STEP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
MESSAGE_VERSION = "v1"


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"Invalid command line: {message}", f"Run `{self.prog} --help` for usage.")


def build_parser():
    parser = Parser(prog="pagerduty-plugin", description="PagerDuty plugin pack for automation platforms.")
    parser.add_argument("--version", action="version", version=f"pagerduty-plugin {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    run = commands.add_parser("run", help="run an action (platform message, or ACTION with its input on stdin)")
    run.add_argument("action", nargs="?", help="plain mode: the action to run; stdin is its input object")
    run.add_argument("--connection", metavar="FILE", help="plain mode: JSON file of connection settings")
    run.add_argument("--debug", action="store_true", help="verbose logs on stderr (secrets still masked)")
    test = commands.add_parser("test", help="test the connection of a platform message on stdin")
    test.add_argument("--debug", action="store_true")
    commands.add_parser("info", help="plugin metadata and the list of actions")
    sample = commands.add_parser("sample", help="a ready-to-edit action_start message for ACTION")
    sample.add_argument("action")
    spec = commands.add_parser("spec", help="JSON Schemas of one action or all; --check lints the spec")
    spec.add_argument("action", nargs="?")
    spec.add_argument("--check", action="store_true", help="lint plugin.spec.yaml and report problems")
    commands.add_parser("sandbox", help="start the embedded PagerDuty sandbox", add_help=False)
    return parser


def main(argv=None, stdin=None, stdout=None, stderr=None):
    argv = sys.argv[1:] if argv is None else argv
    # a platform may start the step with stdin closed: that reads as empty
    io = Streams(stdin or getattr(sys.stdin, "buffer", None), stdout or sys.stdout, stderr or sys.stderr)
    if argv[:1] == ["sandbox"]:
        return run_extra_command("sandbox", argv[1:], io)
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
    log = step_logger(handler, io.debug)
    command = COMMANDS[args.command]
    with interruptible(args.command, io):
        try:
            return command(args, io, handler, log)
        except PluginError as exc:
            return io.fail({"error": exc.to_dict()}, EXIT_FAILED, handler.secrets)
        except Exception as exc:  # a bug is reported as an error with its cause, never a traceback
            io.debug_traceback(handler.secrets)
            return io.fail({"error": bug(exc).to_dict()}, EXIT_FAILED, handler.secrets)


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


class Streams:
    def __init__(self, stdin, stdout, stderr):
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.debug = False
        self.signals = None

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

    def debug_traceback(self, secrets):
        if self.debug:
            import traceback

            try:
                self.stderr.write(redact(traceback.format_exc(), secrets))
            except (OSError, ValueError, AttributeError):
                pass


def parse_json(text, source="The input on stdin"):
    """Strict JSON: NaN and Infinity are not JSON and PagerDuty refuses them."""
    def refuse(name):
        raise ValueError(f"{name} is not a JSON value")

    try:
        value = json.loads(text, parse_constant=refuse)
    except RecursionError:
        value = None
    except ValueError as exc:
        raise PluginError(f"{source} is not valid JSON: {exc}",
                          "Check the quoting and commas; it must be one JSON object.") from None
    if value is None and text.strip() != "null" or too_deep(value):
        raise PluginError(f"{source} is nested too deeply (more than {MAX_DEPTH} levels)",
                          "Send a flatter JSON object.", {"max_depth": MAX_DEPTH})
    return value


def too_deep(value):
    """True when value nests objects and lists more than MAX_DEPTH levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def dump_json(document, secrets):
    """One line of ASCII JSON (safe on any console encoding), secrets masked inside its strings."""
    text = compact_json(document)
    if contains_secret(text, secrets):
        text = compact_json(mask_secrets(document, secrets))
    return text


def compact_json(document):
    # no spaces after separators: a 10,000-incident listing is 6% smaller and 13% faster to write
    return json.dumps(document, ensure_ascii=True, allow_nan=False, separators=(",", ":"), check_circular=False)


# --- commands -----------------------------------------------------------------------------


def cmd_run(args, io, handler, log):
    if args.action:
        return run_plain(args, io, handler, log)
    if args.connection is not None:
        return io.fail({"error": UsageError(
            "--connection is for plain mode (run ACTION); in message mode the connection comes in the message",
            "Put the settings in the message's body.connection, or name the action: "
            "`pagerduty-plugin run ACTION --connection FILE`.").to_dict()}, EXIT_USAGE)
    return run_message(io, handler, log)


def run_plain(args, io, handler, log):
    spec = speclib.load()
    if args.connection is not None:
        connection = connection_from_file(args.connection, log)
    else:
        connection = connection_from_env(spec)
    output = run_step(spec, args.action, io.read_json(empty={}), connection, handler, log)
    io.write(output, handler.secrets)
    return EXIT_OK


def run_message(io, handler, log):
    def work(body):
        name = body.get("action")
        if not isinstance(name, str) or not name:
            raise PluginError("The message names no action", "Set body.action to an action name.")
        return run_step(speclib.load(), name, body.get("input"), body.get("connection"), handler, log)

    return in_envelope(io, handler, "action_event", ("action_start",), work)


def run_step(spec, name, values, connection, handler, log):
    """Note the step's secrets (so every later line masks them), then run the action."""
    handler.secrets.update(runner.secret_values(spec, spec.connection, connection))
    handler.secrets.update(runner.secret_values(spec, (spec.actions.get(name) or {}).get("input"), values))
    return runner.run_action(spec, name, values, connection, log)


def cmd_test(args, io, handler, log):
    def work(body):
        spec = speclib.load()
        handler.secrets.update(runner.secret_values(spec, spec.connection, body.get("connection")))
        return runner.test_connection(spec, body.get("connection"), log)

    return in_envelope(io, handler, "connection_test", ("connection_test", "action_start"), work,
                       failed_output={"success": False})


def in_envelope(io, handler, kind, accepted, work, failed_output=None):
    """Message mode: read a platform message, do the work, answer with one envelope."""
    meta = {}
    try:
        body = message_body(io.read_json(empty=None), accepted)
        meta = body.get("meta") or {}
        output = work(body)
    except Exception as exc:  # every failure, a bug included, is an error envelope
        error = exc if isinstance(exc, PluginError) else bug(exc)
        if not isinstance(exc, PluginError):
            io.debug_traceback(handler.secrets)
        failed = {**error_body(error, meta, handler), "output": failed_output}
        return io.fail(event(kind, failed), EXIT_FAILED, handler.secrets)
    io.write(event(kind, {"status": "ok", "meta": meta, "output": output, "log": handler.text()}),
             handler.secrets)
    return EXIT_OK


def cmd_info(args, io, handler, log):
    spec = speclib.load()
    io.write({
        "name": spec.name, "title": spec.title, "description": spec.description,
        "version": spec.version, "vendor": spec.vendor,
        "actions": {n: {"title": a["title"], "description": a["description"]} for n, a in spec.actions.items()},
        "triggers": {n: {"title": t["title"], "description": t["description"]} for n, t in spec.triggers.items()},
        "connection": {n: {k: f[k] for k in ("title", "type", "required", "env") if k in f}
                       for n, f in spec.connection.items()},
    })
    return EXIT_OK


def cmd_sample(args, io, handler, log):
    spec = speclib.load()
    action = spec.action(args.action)
    io.write(event("action_start", {
        "action": args.action, "meta": {},
        "input": speclib.examples(action.get("input")), "connection": speclib.examples(spec.connection),
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


COMMANDS = {"run": cmd_run, "test": cmd_test, "info": cmd_info, "sample": cmd_sample, "spec": cmd_spec}


def run_extra_command(name, argv, io):
    """Commands implemented outside the runner (the sandbox), found through the spec."""
    try:
        spec = speclib.load()
        command = runner.load_object(spec.python["commands"][name])
    except PluginError as exc:
        return io.fail({"error": exc.to_dict()}, EXIT_FAILED)
    return command(argv)


# --- helpers ------------------------------------------------------------------------------


def event(kind, body):
    return {"version": MESSAGE_VERSION, "type": kind, "body": body}


def error_body(exc, meta, handler):
    return {"status": "error", "meta": meta, "output": None, "log": handler.text(),
            "error": exc.cause, "exception": exc.to_dict()}


def message_body(message, kinds):
    if not isinstance(message, dict) or not isinstance(message.get("body"), dict):
        raise PluginError("The message is not a platform message: it needs a 'body' object",
                          'Send {"version": "v1", "type": "action_start", "body": {"action": ..., "input": ...}}, '
                          "or use `pagerduty-plugin run ACTION` for plain input.")
    if message.get("version", MESSAGE_VERSION) != MESSAGE_VERSION:
        raise PluginError(f"Unsupported message version {message.get('version')!r}",
                          f"This plugin reads version {MESSAGE_VERSION} messages.")
    if message.get("type") not in kinds:
        raise PluginError(f"Unexpected message type {message.get('type')!r} for this command",
                          f"Expected type {' or '.join(kinds)}.")
    return message["body"]


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


def connection_from_file(path, log):
    """The settings in a regular file of at most 1 MiB: a FIFO or a device (/dev/zero) would
    block or never end, so they are refused before a byte is read. A file that other users may
    read is used, with a warning: it holds the API key."""
    import stat

    assistance = "Give --connection the path of a UTF-8 JSON file of connection settings."
    if not path.strip():
        raise PluginError("--connection names no file (the path is empty)", assistance, {"field": "connection"})
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens without waiting
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise PluginError(f"The connection file {path} is not a regular file", assistance,
                                  {"field": "connection"})
            data = fh.read(MAX_STDIN + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(f"Cannot read the connection file {path}: {getattr(exc, 'strerror', None) or exc}",
                          assistance, {"field": "connection"}) from None
    if len(data) > MAX_STDIN:
        raise PluginError(f"The connection file {path} is larger than 1 MiB", assistance, {"field": "connection"})
    if mode & 0o044:
        log.warning(f"The connection file {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                    f"it holds the API key: chmod 600 {path}")
    return parse_json(text, f"The connection file {path}")


def connection_from_env(spec):
    """Plain mode: each connection field named by its `env` variable in the spec."""
    settings = {}
    for name, field in spec.connection.items():
        raw = os.environ.get(field.get("env") or "")
        if raw is not None and raw != "":
            settings[name] = env_value(field, raw)
    return settings


def env_value(field, raw):
    kind = field.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind in ("number", "float"):
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
    except ValueError:
        raise PluginError(f"{field['env']} must be a number, not {raw!r}", f"Set {field['env']} to a number.")
    if kind == "boolean":
        lowered = raw.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise PluginError(f"{field['env']} must be true or false, not {raw!r}", f"Set {field['env']}=true or false.")
        return lowered in ("1", "true", "yes", "on")
    return raw
