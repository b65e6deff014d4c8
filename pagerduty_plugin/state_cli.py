"""`pagerduty-plugin state migrate|status [--state DIR|URL]`: the durable stores' schemas brought up
to date ahead of a rollout, and what an operator watches in a fleet (consumers' backlogs, leases
and their takeovers, runs by status, what retention dropped untaken). The same on a state directory.
"""

from pagerduty_plugin.state import location

STORES = ("inbox", "runs")


def add_parser(commands, parser_class):
    state = commands.add_parser("state", help="the durable stores: migrate (schema ahead of a rollout), status")
    sub = state.add_subparsers(dest="state_command", metavar="SUBCOMMAND", parser_class=parser_class, required=True)
    for name, text in (("migrate", "create or upgrade every store's schema (idempotent; says what it applied)"),
                       ("status", "schema versions, consumers' positions and backlogs, leases and takeovers, runs by "
                                  "status, what retention dropped")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--state", metavar="DIR|URL", help="state directory or postgresql:// URL "
                             "(default: $PAGERDUTY_STATE)")


def open_store(name, state):
    if name == "inbox":
        from pagerduty_plugin.state.inbox import Inbox

        return Inbox(state)
    from pagerduty_plugin.state.runs import RunStore

    return RunStore(state)


def command(args, io, handler, log):
    state = location.resolve(args.state)
    found = {}
    for name in STORES:
        store = open_store(name, state)  # opening a store migrates it
        try:
            if args.state_command == "migrate":
                found[name] = {"applied": store.migrated, "version": store.status()["schema_version"]}
            else:
                found[name] = store.status()
        finally:
            store.close()
    io.write({"state": location.shown(state), **found})
    return 0
