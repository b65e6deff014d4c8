"""`pagerduty-plugin runbook check|run|runs|export|schema`: one JSON document on stdout each."""

import os
import re
import sqlite3
import threading

from pagerduty_plugin import files
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.command_io import (Parser, consumer_option, dump_json, limit_option, parse_json, retention_days,
                                         state_option, stop_on_signals)
from pagerduty_plugin.connection_settings import connection_settings
from pagerduty_plugin.errors import EXIT_FAILED, EXIT_OK, PluginError, bug
from pagerduty_plugin.runbooks import model

PASSING = ("ok", "skipped", "planned")


def build_parser():
    parser = Parser(prog="pagerduty-plugin runbook", description="Workflow files that chain actions.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)
    check = commands.add_parser("check", help="check runbooks against the spec; sends nothing")
    check.add_argument("files", nargs="+", metavar="FILE")
    run = commands.add_parser("run", help="run a runbook (its answer is kept in the state directory)")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--input", metavar="JSON", help="the runbook's inputs as a JSON object")
    run.add_argument("--input-file", metavar="FILE", help="more inputs as a JSON object from a file (`-`: stdin), "
                     "for passwords: a command line is visible to other users")
    run.add_argument("--input-env", action="append", default=[], metavar="NAME=VARIABLE",
                     help="the input NAME from the environment variable VARIABLE (repeat it)")
    run.add_argument("--dry-run", action="store_true", help="print the plan resolved as far as it can; send nothing")
    run.add_argument("--event", metavar="FILE", help="run as if started by this v3 webhook event (JSON file)")
    run.add_argument("--connection", metavar="FILE", help="JSON file of connection settings (else PAGERDUTY_*)")
    run.add_argument("--state", type=state_option, metavar="DIR|URL",
                     help="state directory or postgresql:// URL (default: $PAGERDUTY_STATE)")
    run.add_argument("--debug", action="store_true", help="verbose logs on stderr (secrets still masked)")
    serve = commands.add_parser("serve", help="run the runbooks of DIR whose on: matches each event of the "
                                "triggers' inbox, once per event; one JSON line per run")
    serve.add_argument("directory", metavar="DIR")
    serve.add_argument("--once", action="store_true", help="one round (polling triggers poll once), then exit")
    serve.add_argument("--connection", metavar="FILE", help="JSON file of connection settings (else PAGERDUTY_*)")
    serve.add_argument("--state", type=state_option, metavar="DIR|URL",
                       help="state directory or postgresql:// URL (default: $PAGERDUTY_STATE)")
    serve.add_argument("--consumer", type=consumer_option, metavar="NAME", default="runbooks",
                       help="the consumer group's name in the inbox: every serve with this name, on any host, shares "
                       "its events (default: runbooks)")
    serve.add_argument("--replay", action="store_true", help="a new consumer runs the runbooks for every event "
                       "kept (else it starts after the newest)")
    serve.add_argument("--retention-days", type=float, default=None, metavar="D",
                       help="events kept in the inbox and finished runs kept, in days (default 7)")
    serve.add_argument("--debug", action="store_true", help="verbose logs on stderr (secrets still masked)")
    runs = commands.add_parser("runs", help="the latest runs and their answers")
    runs.add_argument("--state", type=state_option, metavar="DIR|URL",
                      help="state directory or postgresql:// URL (default: $PAGERDUTY_STATE)")
    runs.add_argument("--limit", type=limit_option, default=20, metavar="N")
    export = commands.add_parser("export", help="write the runbook as another platform's workflow")
    export.add_argument("--to", required=True, choices=["orquesta"])
    export.add_argument("file", metavar="FILE")
    export.add_argument("--out", metavar="PATH", help="where to write it: a file, or a folder for NAME.orquesta.yaml "
                        "(default: the working folder)")
    commands.add_parser("schema", help="the JSON Schema of the runbook language, for editors "
                        "(`runbook schema > runbook.schema.json`)")
    return parser


def main(argv, io, handler, log):
    args = build_parser().parse_args(argv)
    if getattr(args, "debug", False):
        io.debug = True
        log.setLevel("DEBUG")
    return COMMANDS[args.command](args, io, handler, log)


def cmd_check(args, io, handler, log):
    from pagerduty_plugin.runbooks.check import check

    spec = speclib.load()
    problems, names = [], {}
    for path in args.files:
        try:
            runbook = model.parse_file(path)
        except PluginError as exc:  # an unreadable file is one more problem, the others are still checked
            problems.append({"file": path, "step": None, "field": None, "message": exc.cause})
            names[path] = {"name": None, "steps": 0, "ok": False}
            continue
        found = check(runbook, spec)
        problems += found
        names[path] = {"name": runbook.name, "steps": len(runbook.steps), "ok": not found}
    io.write({"ok": not problems, "runbooks": names, "problems": problems})
    return EXIT_FAILED if problems else EXIT_OK


def cmd_run(args, io, handler, log):
    from pagerduty_plugin.runbooks import dry_run, execute

    spec = speclib.load()
    inputs = parse_json(args.input, "--input") if args.input else {}
    if not isinstance(inputs, dict):
        raise PluginError("--input must be a JSON object of the runbook's inputs", 'e.g. --input \'{"hours": 4}\'')
    event = read_event(args.event) if args.event else None
    runbook = model.load(args.file, spec)
    warn_of_secrets_on_the_command_line(runbook, inputs, io)
    inputs.update(inputs_from_file(args.input_file, io) if args.input_file else {})
    inputs.update(inputs_from_env(args.input_env))
    if args.dry_run:
        answer = dry_run.plan(runbook, inputs, event, spec, handler.secrets)
        io.write(answer, handler.secrets)
        return EXIT_OK if answer["status"] in PASSING else EXIT_FAILED
    if event is not None and runbook.on and not runbook.matches(None, event):
        io.write({"status": "skipped", "reason": "the event does not match the runbook's on: block",
                  "steps": [], "outputs": {}})
        return EXIT_OK
    from pagerduty_plugin.state import location

    location.share(args.state, log.warning)  # every store of the process in the --state given
    connection = connection_settings(spec, args.connection, log)
    from pagerduty_plugin.state import leases
    from pagerduty_plugin.state.runs import RunStore

    store, owner = RunStore(args.state, warn=log.warning), leases.owner_id()
    run_id = store.claim(runbook.name, owner=owner)
    beats = RunStore(args.state)
    heartbeat = leases.Heartbeat(lambda: beats.beat(owner), leases.LEASE_SECONDS / 3,
                                 lambda exc: log.warning(f"the run's heartbeat failed ({exc}); trying again")).start()
    try:
        answer = execute.run(runbook, inputs, connection, event=event, log=log, secrets=handler.secrets, spec=spec)
    except Exception as exc:  # recorded as a failed run (a bug too), never left `running`
        error = exc if isinstance(exc, PluginError) else bug(exc)
        answer = {"status": "failed", "steps": [], "outputs": {}, "error": error.to_dict()}
    finally:
        heartbeat.stop()
        beats.close()
    store.finish(run_id, answer, owner)
    if not store.flush():
        log.warning(f"run {run_id}: its answer could not be recorded in {store.path}")
    io.write({**answer, "run_id": run_id}, handler.secrets)
    return EXIT_OK if answer["status"] in PASSING else EXIT_FAILED


def inputs_from_file(path, io):
    """--input-file: a JSON object of inputs from a file, or from stdin (`-`)."""
    if path == "-":
        found = io.read_json(empty={})
    else:
        found = parse_json(read_text(path, "input"), f"The input file {path}")
    if not isinstance(found, dict):
        raise PluginError(f"The input file {path} must hold a JSON object of the runbook's inputs",
                          'e.g. {"password": "…"}', {"field": "--input-file"})
    return found


def inputs_from_env(entries):
    """--input-env NAME=VARIABLE: each input's text from the environment."""
    found = {}
    for entry in entries:
        name, _, variable = entry.partition("=")
        if not name or not variable:
            raise PluginError(f"--input-env {entry!r} is not NAME=VARIABLE", "e.g. --input-env password=DB_PASSWORD",
                              {"field": "--input-env"})
        if variable not in os.environ:
            raise PluginError(f"--input-env {name}: the environment has no {variable}", f"Set {variable}.",
                              {"field": name})
        found[name] = os.environ[variable]
    return found


def warn_of_secrets_on_the_command_line(runbook, inputs, io):
    named = [name for name in inputs if runbook.inputs.get(name, {}).get("type") in model.SECRET_INPUT_TYPES]
    if named:
        io.stderr.write(f"warning: --input carries the secret input(s) {', '.join(named)}: other users may see a "
                        "command line; give them with --input-file or --input-env\n")


def read_event(path):
    """A v3 webhook event from a file: the webhook body {"event": {...}} or the event itself."""
    text = read_text(path, "event")
    document = parse_json(text, f"The event file {path}")
    event = document.get("event") if isinstance(document, dict) and "event_type" not in document else document
    if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
        raise PluginError(f"The event file {path} holds no v3 webhook event",
                          'Give {"event": {"id", "event_type", "resource_type", "occurred_at", "data"}} '
                          "or the event object itself.")
    return event


def read_text(path, what):
    return files.read_text(path, f"{what} file", f"Give the path of a UTF-8 JSON {what} file.").text


def cmd_serve(args, io, handler, log):
    """Events from the inbox start the runbooks whose on: matches, exactly once per event (the run is
    claimed in the runs store before its first step; an event whose claim is not recorded stays
    untaken), across restarts. Every serve with one --consumer, on any host, is a member of one
    consumer group (consumer_group.py): they share its events."""
    from pagerduty_plugin.runbooks.event_runs import load_dir, run_claimed, run_for_event
    from pagerduty_plugin.state import leases
    from pagerduty_plugin.state.runs import RunStore, RunStoreError
    from pagerduty_plugin.consumer_group import GroupRun

    spec = speclib.load()
    books, problems = load_dir(args.directory, spec)
    if problems:
        raise PluginError(f"{len(problems)} problem(s) in the runbooks of {args.directory}: "
                          f"{model.describe(problems[0])}",
                          f"Fix them; `pagerduty-plugin runbook check {args.directory}/*.yaml` lists every one.",
                          {"problems": problems})
    started = [book for book in books if book.on]
    if not started:
        raise PluginError(f"No runbook in {args.directory} has an on: block",
                          "Add `on: {trigger: incident_event, event_types: [...]}` to the runbooks to start by events.")
    from pagerduty_plugin.state import location

    location.share(args.state, log.warning)  # every store of the process in the --state given
    retention = retention_days(args.retention_days)
    connection = connection_settings(spec, args.connection, log)
    store = RunStore(args.state, warn=log.warning)
    purge_runs(store, retention, log)
    say_abandoned(store, log)
    stop = threading.Event()
    owner = leases.owner_id()  # one process, one owner of its consumers' leases and of its runs
    triggers = {name: GroupRun(spec, name, {}, connection, log, args.state, consumer=f"{args.consumer}:{name}",
                               stop=stop, replay=args.replay, retention_days=retention, owner=owner,
                               legacy_prefix="runbooks:")
                for name in sorted({book.on.get("trigger") or "incident_event" for book in started})}
    beats = RunStore(args.state, warn=log.warning)  # the heartbeat's own connection
    heartbeat = leases.Heartbeat(lambda: beats.beat(owner), leases.LEASE_SECONDS / 3,
                                 lambda exc: log.warning(f"the runs' heartbeat failed ({exc}); trying again"))

    gone = []  # stdout's error once its reader went away: the runs go on, recorded in the runs store

    def said(book, event, run_id, answer):
        if gone:
            return
        try:
            io.stdout.write(dump_json({"runbook": book.name, "event": event["id"], "run_id": run_id,
                                       "status": answer["status"]}, handler.secrets) + "\n")
            io.stdout.flush()
        except OSError as exc:  # not the store's failure: the run is recorded, its event must not be retried
            gone.append(exc)
            stdout_to_devnull(io.stdout)
            log.warning(f"stdout cannot be written ({exc.strerror or exc}): runs go on without their lines; "
                        "`pagerduty-plugin runbook runs` shows their answers")

    def start_runbooks(trigger):
        def deliver(event):
            for book in started:
                try:
                    result = run_for_event(book, trigger, event["event"], connection, store, log=log,
                                           secrets=handler.secrets, spec=spec, owner=owner)
                except RunStoreError:
                    raise  # the claim is not recorded: the event stays untaken, tried again next round
                except Exception as exc:  # a bug in one run must not stop the others (it stays claimed)
                    log.error(f"runbook {book.name}: event {event['event'].get('id')}: {bug(exc).cause}")
                    continue
                if result is not None:
                    said(book, event["event"], *result)
        return deliver

    by_name = {book.name: book for book in started}

    def take_over():
        """Runs whose process died (their lease ended): this process runs them again from the start.
        And runs this process claimed though the claim raised (its answer lost): it runs them now."""
        for run_id, name, event in store.recorded_in_doubt(owner):
            log.warning(f"runbook {name}: run {run_id} for event {event.get('id')} was claimed though the claim "
                        "failed (its answer was lost); running it now")
            run_again(run_id, name, event)
        for run_id, name, event, before in store.take_over(owner, sorted(by_name)):
            log.warning(f"runbook {name}: taking over run {run_id} for event {event.get('id')} from "
                        f"{before or 'a process that died'}, whose lease ended; running it again from its first step")
            run_again(run_id, name, event)

    def run_again(run_id, name, event):
        try:
            answer = run_claimed(by_name[name], run_id, event, connection, store, log=log,
                                 secrets=handler.secrets, spec=spec, owner=owner)
        except Exception as exc:  # noqa: BLE001 - as a run of a new event: said, the others go on
            log.error(f"runbook {name}: event {event.get('id')}: {bug(exc).cause}")
            return
        said(by_name[name], event, run_id, answer)

    with stop_on_signals(stop):
        try:
            for run in triggers.values():
                if not run.begin(wait=not args.once):
                    return EXIT_OK
            heartbeat.start()
            serve_rounds(triggers, start_runbooks, store, stop, args.once, log, retention, take_over)
        finally:
            heartbeat.stop()
            for run in triggers.values():
                run.close()
            beats.close()
            flush_at_exit(store, log)
            store.close()
    return EXIT_OK


def flush_at_exit(store, log, tries=5, wait=None):
    """The answers the runs store refused (a blip during a deploy's restart): tried again a few times,
    `wait` (2 s) apart, then what is left is said on stderr as one structured warning: those runs stay
    `running` and are taken over, run again, a lease later. True when every answer was written."""
    import time

    wait = wait or (lambda: time.sleep(2.0))
    for attempt in range(tries):
        if store.flush():
            return True
        if attempt < tries - 1:
            wait()
    left = [{"run_id": run_id, "status": answer.get("status", "failed"), "owner": owner}
            for run_id, (answer, owner) in store.unfinished.items()]
    warning = PluginError(f"runbook serve exits with {len(left)} run answer(s) the runs store {store.path} refused "
                          f"{tries} times", "Those runs stay `running`: once their lease ends a `runbook serve` "
                          "takes them over and runs them again from their first step (steps must be idempotent); "
                          "check the store.", {"runs": left})
    log.warning(dump_json({"warning": warning.to_dict()}, set()))  # the log masks secrets itself
    return False


def stdout_to_devnull(stdout):
    """Later writes, and the one at exit, go nowhere instead of raising again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a file (a test's buffer): nothing to redirect
        pass


def serve_rounds(triggers, start_runbooks, store, stop, once, log, retention, take_over=None):
    """Rounds until stopped. A round the stores fail (a claim not recorded, a read-only disk) is
    said and tried again: what it did not take stays in the inbox. Each round takes over the runs
    whose process died; finished runs past the retention are purged every hour."""
    import time

    from pagerduty_plugin.state.inbox import LeaseLost
    from pagerduty_plugin.trigger_loop import PURGE_PERIOD

    next_purge = time.monotonic() + PURGE_PERIOD
    while not stop.is_set():
        if time.monotonic() >= next_purge:
            next_purge = time.monotonic() + PURGE_PERIOD
            try:
                purge_runs(store, retention, log)
            except PluginError as exc:
                log.warning(f"runbooks: {exc.cause}")
        if take_over is not None:
            try:
                take_over()
            except PluginError as exc:
                if once:
                    raise
                log.warning(f"runbooks: {exc.cause}; the runs to take over are looked for again")
        for name, run in triggers.items():
            try:
                run.round(start_runbooks(name), keep_going=not once)
            except (PluginError, sqlite3.Error, OSError) as exc:
                if once or isinstance(exc, LeaseLost):
                    raise
                log.warning(f"runbooks: {getattr(exc, 'cause', exc)}; the events not taken are tried again")
            store.flush()
        if once:
            break
        stop.wait(1.0)


def purge_runs(store, retention, log):
    for what, count in sorted(store.purge(retention).items()):
        log.info(f"retention: {count} {what} older than {retention:g} days deleted (`state status` counts them)")


def say_abandoned(store, log):
    """Runs whose process died mid-run: listed for the operator (those started by an event of a
    runbook this process serves are taken over)."""
    for run in store.abandoned():
        log.warning(f"runbook {run['runbook']}: run {run['id']} for event "
                    f"{run['event_id']} was abandoned by {run['owner'] or 'a process that died'} (started "
                    f"{run['started_at']}); `pagerduty-plugin runbook runs` lists it")


def cmd_runs(args, io, handler, log):
    from pagerduty_plugin.state.runs import RunStore

    store = RunStore(args.state)
    runs = store.latest(args.limit)
    io.write({"runs": runs, "count": len(runs), "state": store.path})
    return EXIT_OK


def cmd_export(args, io, handler, log):
    from pagerduty_plugin.runbooks import orquesta

    spec = speclib.load()
    runbook = model.load(args.file, spec)
    text, tasks = orquesta.export(runbook, spec)
    out = export_path(args.out, runbook.name)
    try:
        directory = os.path.dirname(os.path.abspath(out))
        os.makedirs(directory, exist_ok=True)
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise PluginError(f"Cannot write {out}: {exc.strerror}", "Give --out a path this user can write.") from None
    io.write({"written": out, "to": "orquesta", "runbook": runbook.name, "tasks": tasks,
              "action_refs": [orquesta.STEP_ACTION], "actions": sorted({s.action for s in runbook.steps})})
    return EXIT_OK


def export_path(out, name):
    """Where the export goes: --out (a file, or a folder to put it in), else the working folder. The
    file's name comes from the runbook's name made safe: `../x` or `/etc/x` never leave the folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).lstrip(".") or "runbook"
    if out is None:
        return f"{safe}.orquesta.yaml"
    return os.path.join(out, f"{safe}.orquesta.yaml") if os.path.isdir(out) else out


def cmd_schema(args, io, handler, log):
    from pagerduty_plugin.runbooks import language

    io.reader_may_stop = True  # it only prints, as `info` does: `runbook schema | head` is no loss
    io.write(language.schema())
    return EXIT_OK


COMMANDS = {"check": cmd_check, "run": cmd_run, "serve": cmd_serve, "runs": cmd_runs, "export": cmd_export,
            "schema": cmd_schema}
