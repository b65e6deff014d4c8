"""`pagerduty-plugin state migrate|status [--state DIR|URL]`: the durable stores' schemas brought up
to date ahead of a rollout, and what an operator watches in a fleet (consumers' backlogs, leases
and their takeovers, runs by status, what retention dropped untaken). The same on a state directory.
"""

from pagerduty_plugin.state import location

STORES = ("inbox", "runs", "outbox")  # the outbox at its default place: the state's


def open_store(name, state):
    if name == "inbox":
        from pagerduty_plugin.state.inbox import Inbox

        return Inbox(state)
    if name == "outbox":
        from pagerduty_plugin.state.outbox import open_outbox

        return open_outbox("sqlite://", state)
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
