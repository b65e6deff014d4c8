"""Handing events over: `trigger incident_event --once` with N events in the inbox, three ways.

- to a file: each event is taken once written and flushed (the baseline, same run);
- to a pipe read by `cat`: each event is taken once the reader has read it out of the pipe;
- `--ack FILE`, a reader appending each event's line to FILE: taken once acknowledged (a second
  run applies acknowledgements that came after the first ended).

The figure is each way's events per second as a ratio to the file's.

Usage: .venv/bin/python bench/consumers.py [--events 5000] [--repeat 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pagerduty_plugin.state.inbox import WEBHOOK_SOURCE, Inbox  # noqa: E402

READER = """
import sys
with open(sys.argv[1], "a") as acks:
    for line in sys.stdin:
        acks.write(line)
        acks.flush()
"""


def fill(state, count):
    inbox = Inbox(state)
    events = [(uuid.uuid4().hex, {"event": {
        "id": uuid.uuid4().hex, "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-11-26T07:00:00.000Z", "agent": None, "client": None,
        "data": {"id": f"P{n:06d}", "type": "incident", "title": "disk full on db-01", "urgency": "high",
                 "service": {"id": "PSVC001", "type": "service_reference"}, "teams": []}}}) for n in range(count)]
    inbox.add_each(WEBHOOK_SOURCE, events)
    inbox.close()


def command(state, consumer, *extra):
    return [sys.executable, "-m", "pagerduty_plugin", "trigger", "incident_event", "--once", "--replay",
            "--consumer", consumer, "--state", state, *extra]


def env():
    return {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}


def to_file(state, consumer, workdir):
    with open(os.path.join(workdir, f"{consumer}.ndjson"), "w") as out:
        subprocess.run(command(state, consumer), stdin=subprocess.DEVNULL, stdout=out, env=env(), cwd=ROOT, check=True)


def to_pipe(state, consumer, workdir):
    trigger = subprocess.Popen(command(state, consumer), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               env=env(), cwd=ROOT)
    reader = subprocess.Popen(["cat"], stdin=trigger.stdout, stdout=subprocess.DEVNULL)
    trigger.stdout.close()
    assert trigger.wait() == 0 and reader.wait() == 0


def acknowledged(state, consumer, workdir):
    acks = os.path.join(workdir, f"{consumer}.acks")
    trigger = subprocess.Popen(command(state, consumer, "--ack", acks), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, env=env(), cwd=ROOT)
    reader = subprocess.Popen([sys.executable, "-c", READER, acks], stdin=trigger.stdout)
    trigger.stdout.close()
    assert trigger.wait() == 0 and reader.wait() == 0
    subprocess.run(command(state, consumer, "--ack", acks), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env(), cwd=ROOT, check=True)  # applies the acknowledgements that came after the first run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ways = {"file (baseline)": ("file", to_file), "pipe, taken once read": ("pipe", to_pipe),
            "--ack FILE": ("ack", acknowledged)}
    rates = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as workdir:
        state = os.path.join(workdir, "state")
        fill(state, args.events)
        for round_number in range(args.repeat):
            for name, (short, way) in ways.items():
                consumer = f"{short}-{round_number}"
                started = time.perf_counter()
                way(state, consumer, workdir)
                rates[name].append(args.events / (time.perf_counter() - started))
    base = statistics.median(rates["file (baseline)"])
    print(json.dumps({name: {"events_per_s": round(statistics.median(r)), "ratio_to_file": round(
        statistics.median(r) / base, 2)} for name, r in rates.items()}, indent=1))


if __name__ == "__main__":
    main()
