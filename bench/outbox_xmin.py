"""The PostgreSQL outbox with the xmin horizon held back, against the same drain without.

A transaction that stays open (a long REPEATABLE READ report, pg_dump, an idle replication slot, a
client left `idle in transaction`) keeps every row version dead since it began: vacuum may not
remove them and index scans may not skip them. A queue updates each row twice (pending -> sending
-> sent), so every claim then walks past more dead versions (PgQue's published run: 797 -> 517
jobs/s). This bench drains the same events twice on one server, in one run: once plainly, once
with another session holding a REPEATABLE READ snapshot and a transaction id from before the events
were written until the drain ends. It reports both rates, their ratio, and the dead row versions
PostgreSQL counted.

The sender accepts every event at once (no HTTP): what is measured is the queue itself, the part a
held horizon slows down; against PagerDuty the network adds the same time to both runs.

The two drains alternate `--rounds` times (the machine's load moves); the best of each is reported.

Usage: .venv/bin/python bench/outbox_xmin.py [--events 10000] [--lanes 1000] [--rounds 2] [--postgresql URL]
(without --postgresql a throw-away server is started as the tests do: unit_test/postgres_server.py)
"""

import argparse
import json
import logging
import os
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "unit_test"))

ROUTING_KEY = "b" * 32


class Accepting:
    """An Events API that takes every event at once."""

    def send(self, path, event):
        return {"status": "success"}


def fresh_database(server_url):
    import psycopg

    name = "xmin_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def fill(store, events, lanes):
    from pagerduty_plugin.state.outbox import key_ref

    ref = key_ref(ROUTING_KEY)
    for n in range(events):
        lane, step = n % lanes, n // lanes
        event = {"event_action": "trigger" if step == 0 else "acknowledge", "dedup_key": f"xmin-{lane}"}
        store.add(ref, event, event["event_action"])


def drain(server_url, events, lanes, hold):
    """events/s of one drain; with `hold`, another session keeps its snapshot open throughout."""
    import psycopg

    from pagerduty_plugin.outbox.sender import Drainer
    from pagerduty_plugin.state.outbox import Limits, open_outbox

    url = fresh_database(server_url)
    store = open_outbox(url, limits=Limits(rate=10 ** 7))
    holder = None
    if hold:
        holder = psycopg.connect(url)
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT count(*) FROM outbox_events")  # the snapshot is taken
        holder.execute("SELECT pg_current_xact_id()")  # and an xid: the horizon stays here
    try:
        fill(store, events, lanes)
        drainer = Drainer(store, Accepting(), [ROUTING_KEY], logging.getLogger("bench"))
        started = time.perf_counter()
        summary = drainer.drain(until_empty=True)
        elapsed = time.perf_counter() - started
        if summary["sent"] != events:
            raise SystemExit(f"the drain delivered {summary['sent']} of {events} events")
        with psycopg.connect(url, autocommit=True) as db:
            time.sleep(1.0)  # the statistics the backends report a moment later
            dead = db.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'outbox_events'").fetchone()
            horizon = db.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_xmin IS NOT NULL "
                                 "AND state = 'idle in transaction'").fetchone()[0]
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()
        store.close()
    return events / elapsed, (dead[0] if dead else None), horizon


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--lanes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgresql", metavar="URL", help="a server to create throw-away databases on")
    args = parser.parse_args()
    server = None
    if args.postgresql:
        server_url = args.postgresql
    else:
        import postgres_server

        server = postgres_server.start()
        server_url = server.url
    try:
        plains, helds = [], []
        for _ in range(args.rounds):
            plains.append(drain(server_url, args.events, args.lanes, hold=False))
            helds.append(drain(server_url, args.events, args.lanes, hold=True))
        plain, plain_dead, _ = max(plains)
        held, held_dead, holders = max(helds)
    finally:
        if server is not None:
            server.stop()
    print(f"drain, {args.events:,} events in {args.lanes:,} lanes: {plain:,.0f} events/s "
          f"(dead row versions left: {plain_dead})")
    print(f"the same with a transaction holding the xmin horizon ({holders} idle in transaction): {held:,.0f} events/s "
          f"(dead row versions left: {held_dead}); ratio {held / plain:.2f}")
    print(json.dumps({"bench": "outbox_xmin", "events": args.events, "lanes": args.lanes, "rounds": args.rounds,
                      "drain_per_s": round(plain), "drain_held_per_s": round(held), "ratio": round(held / plain, 3),
                      "dead_tuples": plain_dead, "dead_tuples_held": held_dead}))


if __name__ == "__main__":
    main()
