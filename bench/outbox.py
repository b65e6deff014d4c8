"""The outbox: how fast events are written into it, how fast a drainer delivers them to the sandbox,
and what a durable `run send_trigger_event` costs at start-up against a direct one.

- write rate: events written one by one (each its own fsynced transaction, as a step writes it)
  into a SQLite outbox; with --postgresql URL also into PostgreSQL.
- drain rate: 3,000 events for 300 dedup keys delivered by one `pagerduty-plugin outbox drain`
  process (and by 3 at once) to a sandbox process on loopback, against a bare requests loop
  POSTing the same events to the same sandbox (the baseline).
- cold start: durable and direct `run send_trigger_event` processes interleaved, medians compared.

Usage: .venv/bin/python bench/outbox.py [--runs 20] [--events 3000] [--postgresql URL]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
PLUGIN = os.path.join(VENV_BIN, "pagerduty-plugin")
sys.path.insert(0, ROOT)


def start_sandbox():
    process = subprocess.Popen([PLUGIN, "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())


def events(count, lanes=300):
    """count events over `lanes` dedup keys: a trigger first, then acknowledges, as a monitor sends them."""
    for n in range(count):
        lane, step = n % lanes, n // lanes
        event = {"event_action": "trigger" if step == 0 else "acknowledge", "dedup_key": f"bench-{lane}"}
        if step == 0:
            event["payload"] = {"summary": f"bench {lane}", "source": "bench", "severity": "info"}
        yield event


def write_rate(url, routing_key, count):
    from pagerduty_plugin.state.outbox import key_ref, open_outbox

    store = open_outbox(url)
    ref = key_ref(routing_key)
    started = time.perf_counter()
    for event in events(count):
        store.add(ref, event, event["event_action"])
    elapsed = time.perf_counter() - started
    store.close()
    return count / elapsed


def drain_rate(info, count, drainers):
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/outbox.sqlite3"
        write_rate(url, info["routing_key"], count)
        env = {**os.environ, "PAGERDUTY_ROUTING_KEY": info["routing_key"], "PAGERDUTY_EVENTS_URL": info["events_url"],
               "PAGERDUTY_OUTBOX": url, "PAGERDUTY_OUTBOX_RATE": "100000"}  # the queue's speed, not PagerDuty's budget
        started = time.perf_counter()
        processes = [subprocess.Popen([PLUGIN, "outbox", "drain", "--until-empty"], env=env, stdout=subprocess.PIPE)
                     for _ in range(drainers)]
        sent = sum(json.loads(p.communicate()[0])["sent"] for p in processes)
        elapsed = time.perf_counter() - started
    if sent != count:
        raise SystemExit(f"the drain delivered {sent} of {count} events")
    return count / elapsed


def bare_post_rate(info, count):
    import requests

    session = requests.Session()
    url = info["events_url"] + "/enqueue"
    started = time.perf_counter()
    for event in events(count):
        answer = session.post(url, data=json.dumps({**event, "routing_key": info["routing_key"]}),
                              headers={"Content-Type": "application/json"}, timeout=30)
        answer.raise_for_status()
    return count / (time.perf_counter() - started)


def timed(command, stdin, env):
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or json.loads(done.stdout).get("status") != "success":
        raise SystemExit(f"the step failed: {done.stdout.decode()} {done.stderr.decode()}")
    return elapsed


def cold_start(info, runs):
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PAGERDUTY_ROUTING_KEY": info["routing_key"], "PAGERDUTY_EVENTS_URL": info["events_url"]}
        durable_env = {**env, "PAGERDUTY_OUTBOX": f"sqlite:///{tmp}/outbox.sqlite3"}
        step = [PLUGIN, "run", "send_trigger_event"]
        stdin = b'{"description": "disk full on db-01", "severity": "critical"}'
        timed(step, stdin, env)
        timed(step, stdin, durable_env)  # warm: spec cache, bytecode, the outbox file's schema
        direct, durable = [], []
        for _ in range(runs):
            direct.append(timed(step, stdin, env))
            durable.append(timed(step, stdin, durable_env))
    return statistics.median(direct) * 1000, statistics.median(durable) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--postgresql", metavar="URL", help="also measure the write rate into this (empty) database")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "pagerduty_plugin"], check=True, cwd=ROOT)
    sandbox, info = start_sandbox()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_writes = write_rate(f"sqlite:///{tmp}/outbox.sqlite3", info["routing_key"], args.events)
        pg_writes = write_rate(args.postgresql, info["routing_key"], args.events) if args.postgresql else None
        bare = bare_post_rate(info, args.events)
        one = drain_rate(info, args.events, 1)
        three = drain_rate(info, args.events, 3)
        direct_ms, durable_ms = cold_start(info, args.runs)
    finally:
        sandbox.terminate()
        sandbox.wait()
    print(f"write rate, SQLite (one fsynced transaction an event): {sqlite_writes:,.0f} events/s (target >= 500)")
    if pg_writes:
        print(f"write rate, PostgreSQL: {pg_writes:,.0f} events/s")
    print(f"drain rate, 1 drainer: {one:,.0f} events/s; 3 drainers: {three:,.0f} events/s; "
          f"bare requests loop POSTing the same events: {bare:,.0f} events/s (ratio {one / bare:.2f})")
    print(f"cold start, durable run send_trigger_event: median {durable_ms:.0f} ms; direct: {direct_ms:.0f} ms; "
          f"ratio {durable_ms / direct_ms:.2f} (target <= 1.3)")
    print(json.dumps({"bench": "outbox", "events": args.events, "runs": args.runs,
                      "sqlite_writes_per_s": round(sqlite_writes), "postgresql_writes_per_s": pg_writes and round(pg_writes),
                      "drain_per_s": round(one), "drain_3_per_s": round(three), "bare_post_per_s": round(bare),
                      "durable_ms": round(durable_ms, 1), "direct_ms": round(direct_ms, 1),
                      "cold_start_ratio": round(durable_ms / direct_ms, 3)}))


if __name__ == "__main__":
    main()
