"""A consumer group's claims: members claiming one event at a time (consumer_group.BATCH = 1, as
`runbook serve` does) against ten at a time (BATCH = 10, as before), in the same run.

An inbox is filled with events once per store; each measurement drains all of them through a fresh
consumer group (replay) of 1 or 3 member processes, each member a consumer_group.GroupRun driven as
`runbook serve` drives it (begin; rounds of claim, deliver, done until a claim comes back empty, 1 s
between rounds; close), BATCH set in the member's process. Members start together (they have begun,
so joined the group, before the clock starts) and the clock stops once every event is delivered.
"Rounds beyond the first" counts the rounds a member began again after a claim came back empty while
events were still to deliver: each one idled that member up to 1 s. Two deliveries:

- a no-op: what is measured is the inbox's work alone (a claim, the event checked, a done per
  event), the most the per-event claim can cost (a real delivery also writes its run's claim);
- 50 ms of waiting (time.sleep, as a runbook step's HTTP call to PagerDuty waits), with fewer events.

The figure is events per second and the ratio BATCH=1 / BATCH=10 for each store, members and
delivery (medians over --repeat rounds, the four settings alternated within a round so drift on a
shared machine hits them alike): below 1, claiming one at a time costs that share of throughput.
The stores are a SQLite state directory and, when one can be had, PostgreSQL: two fresh databases
(bench_group_claims_noop and _slow, one per delivery) on the server of --postgresql URL (a role that
may create databases; the server's own settings), else on a server this script starts
(unit_test/postgres_server.py; installed from Debian's package when missing and run as root), with
fsync and synchronous_commit on as bench/fleet.py does, as durable as the SQLite inbox.

Usage: .venv/bin/python bench/group_claims.py [--events 2000] [--slow-events 150] [--repeat 3]
                                              [--postgresql URL | --no-postgresql]
"""

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "unit_test"))

from consumers import fill  # noqa: E402  (bench/consumers.py: N webhook events in an inbox)
from fleet import durable  # noqa: E402  (bench/fleet.py: a commit on disk before it returns)

NOWHERE = {"api_key": "u+bench-not-used-000000", "api_url": "http://127.0.0.1:9"}  # webhooks only: no request
BATCHES = (1, 10)
MEMBERS = (1, 3)
SLOW_DELIVERY = 0.05  # seconds: a runbook step's HTTP call to PagerDuty
SERVE_PAUSE = 1.0  # seconds between two rounds of `runbook serve` (runbooks/command.py, serve_rounds)


def member(state, consumer, batch, delay, counted, expected, ready, go, delivered, stop, rounds):
    """One member process: joins the group, waits for the start, then does `runbook serve`'s rounds (a round
    hands over until a claim comes back empty; 1 s between rounds) until the parent stops it."""
    from pagerduty_plugin import consumer_group
    from pagerduty_plugin import spec as speclib

    consumer_group.BATCH = batch  # the bench's control: what the change set from 10 to 1
    log = logging.getLogger("bench.group_claims")

    def deliver(event):
        if delay:
            time.sleep(delay)
        with counted.get_lock():
            counted.value += 1
            if counted.value == expected:
                delivered.set()

    run = consumer_group.GroupRun(speclib.load(), "incident_event", {}, NOWHERE, log, state, consumer=consumer,
                                  replay=True, stop=stop)
    done = 0
    try:
        run.begin(wait=False)
        ready.put(True)
        go.wait()
        while not stop.is_set():
            run.round(deliver)
            done += 1
            stop.wait(SERVE_PAUSE)
    finally:
        run.close()
        rounds.put(done)


def drain(state, consumer, batch, members, delay, expected):
    """(seconds for `members` member processes to deliver every event through a new group, the rounds beyond
    each member's first: a member's claim came back empty before every event was delivered)"""
    context = multiprocessing.get_context("fork")  # the parent holds no store open here
    counted = context.Value("i", 0)
    ready, rounds = context.Queue(), context.Queue()
    go, delivered, stop = context.Event(), context.Event(), context.Event()
    processes = [context.Process(target=member, args=(state, consumer, batch, delay, counted, expected, ready, go,
                                                      delivered, stop, rounds)) for _ in range(members)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    started = time.perf_counter()
    go.set()
    while not delivered.wait(1.0):
        if not any(process.is_alive() for process in processes):
            raise SystemExit(f"{consumer}: the members ended with {counted.value} of {expected} events delivered")
    elapsed = time.perf_counter() - started
    stop.set()
    early = sum(rounds.get(timeout=120) for _ in processes) - members
    for process in processes:
        process.join(60)
    if counted.value != expected:
        raise SystemExit(f"{consumer}: {counted.value} events delivered, {expected} expected")
    return elapsed, early


def postgres_states(given, names):
    """({name: the URL of a fresh database}, the server to stop, why not) on the server at `given` or on one
    this script starts (None, None, why) when none can be had."""
    server = None
    if not given:
        import postgres_server

        try:
            server = postgres_server.start()
        except postgres_server.Unavailable as exc:
            return None, None, f"no PostgreSQL: {exc}"
        given = server.url
        durable(given)
    import psycopg

    with psycopg.connect(given, autocommit=True) as db:
        for name in names:
            db.execute(f'DROP DATABASE IF EXISTS "bench_group_claims_{name}"')
            db.execute(f'CREATE DATABASE "bench_group_claims_{name}"')
    return {name: given.rsplit("/", 1)[0] + f"/bench_group_claims_{name}" for name in names}, server, None


def measure(stores, deliveries, repeat):
    """{(store, delivery, members, batch): [events/s per round]}"""
    rates = {}
    for round_number in range(repeat):
        for store, state in stores.items():
            for delivery, (delay, events) in deliveries.items():
                for members in MEMBERS:
                    for batch in BATCHES:
                        consumer = f"bench-{delivery}-{members}-{batch}-{round_number}"
                        elapsed, early = drain(state[delivery], consumer, batch, members, delay, events)
                        rates.setdefault((store, delivery, members, batch), []).append((events / elapsed, early))
    return rates


def report(rates, stores, deliveries):
    summary = {"bench": "group_claims"}
    for store in stores:
        for delivery, (_, events) in deliveries.items():
            for members in MEMBERS:
                one, ten = (statistics.median(rate for rate, _ in rates[(store, delivery, members, b)])
                            for b in BATCHES)
                early = {b: sum(e for _, e in rates[(store, delivery, members, b)]) for b in BATCHES}
                key = f"{store}_{delivery}_{members}_member{'s' if members > 1 else ''}"
                summary[key] = {"events": events, "batch_1_per_s": round(one, 1), "batch_10_per_s": round(ten, 1),
                                "ratio_1_over_10": round(one / ten, 2), "extra_rounds_batch_1": early[1],
                                "extra_rounds_batch_10": early[10]}
                print(f"{store}, {delivery} delivery, {members} member(s), {events} events: BATCH=1 {one:.0f}/s, "
                      f"BATCH=10 {ten:.0f}/s, ratio {one / ten:.2f} (rounds beyond the first, all repeats: "
                      f"BATCH=1 {early[1]}, BATCH=10 {early[10]})")
    print(json.dumps(summary))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000, help="events of the no-op delivery's inbox")
    parser.add_argument("--slow-events", type=int, default=150, help="events of the 50 ms delivery's inbox")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgresql", metavar="URL",
                        help="a server to make the bench's databases on instead of starting one")
    parser.add_argument("--no-postgresql", action="store_true", help="SQLite only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    deliveries = {"no-op": (0.0, args.events), "50ms": (SLOW_DELIVERY, args.slow_events)}
    names = {"no-op": "noop", "50ms": "slow"}
    workdir = tempfile.mkdtemp(prefix="pagerduty-bench-group-claims-")
    stores = {"sqlite": {delivery: os.path.join(workdir, name) for delivery, name in names.items()}}
    databases, server, why = ((None, None, "--no-postgresql") if args.no_postgresql
                              else postgres_states(args.postgresql, names.values()))
    if databases is None:
        print(f"PostgreSQL left out: {why}")
    else:
        stores["postgresql"] = {delivery: databases[name] for delivery, name in names.items()}
    try:
        for states in stores.values():
            for delivery, (_, events) in deliveries.items():
                fill(states[delivery], events)
        report(measure(stores, deliveries, args.repeat), stores, deliveries)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
