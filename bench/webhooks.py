"""Webhook receipts into the durable inbox: `pagerduty-plugin http` with 8 concurrent senders.

Each sender (a process of its own, so the client's GIL is not what is measured) posts signed v3
webhooks with fresh X-Webhook-Ids; every answer comes after the event is committed to SQLite
(WAL, synchronous=FULL). The baseline, measured the same way against the same server in the same
run, is GET /api/v1/status: the added latency of a receipt is its percentile minus the
baseline's. Target: p99 of a receipt under 50 ms (PagerDuty waits 5 s).

Usage: .venv/bin/python bench/webhooks.py [--per-sender 300] [--senders 8] [--workers 2]
"""

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests

SECRET = "whsec-bench-" + "x" * 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def body(number):
    return json.dumps({"event": {
        "id": uuid.uuid4().hex, "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-11-26T07:00:00.000Z", "agent": None, "client": None,
        "data": {"id": f"P{number:06d}", "type": "incident", "title": "disk full on db-01", "status": "triggered",
                 "service": {"id": "PSVC001", "type": "service_reference", "summary": "Payments DB"},
                 "urgency": "high", "teams": [], "assignees": []}}}).encode()


def sender(args):
    url, count, kind = args
    session = requests.Session()
    timings = []
    for number in range(count):
        started = time.perf_counter()
        if kind == "webhook":
            payload = body(number)
            signature = "v1=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
            answer = session.post(url + "/webhooks/pagerduty", data=payload, timeout=10, headers={
                "X-PagerDuty-Signature": signature, "X-Webhook-Id": uuid.uuid4().hex,
                "Content-Type": "application/json"})
            ok = answer.status_code == 202
        else:
            ok = session.get(url + "/api/v1/status", timeout=10).status_code == 200
        timings.append(time.perf_counter() - started)
        if not ok:
            raise SystemExit(f"{kind}: unexpected answer")
    return timings


def measure(pool, url, kind, senders, per_sender):
    started = time.perf_counter()
    results = pool.map(sender, [(url, per_sender, kind)] * senders)
    elapsed = time.perf_counter() - started
    timings = sorted(t for result in results for t in result)
    return {"per_second": len(timings) / elapsed, "p50_ms": percentile(timings, 50) * 1000,
            "p99_ms": percentile(timings, 99) * 1000, "count": len(timings)}


def percentile(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-sender", type=int, default=300)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="pagerduty-bench-")
    env = {**os.environ, "PAGERDUTY_WEBHOOK_SECRETS": SECRET}
    server = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "http", "--port", "0", "--state", state,
                               "--workers", str(args.workers)], stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        url = json.loads(server.stdout.readline())["url"]
        with multiprocessing.Pool(args.senders) as pool:
            measure(pool, url, "status", args.senders, 20)  # warm the workers and the connections
            rounds = [(measure(pool, url, "status", args.senders, args.per_sender),
                       measure(pool, url, "webhook", args.senders, args.per_sender)) for _ in range(2)]
    finally:
        server.terminate()
        server.wait(30)
    stored = count_stored(state)
    base = {k: statistics.median(r[0][k] for r in rounds) for k in ("per_second", "p50_ms", "p99_ms")}
    hook = {k: statistics.median(r[1][k] for r in rounds) for k in ("per_second", "p50_ms", "p99_ms")}
    print(f"webhook receipts: {hook['per_second']:.0f}/s with {args.senders} senders; "
          f"p50 {hook['p50_ms']:.1f} ms, p99 {hook['p99_ms']:.1f} ms; {stored} events stored")
    print(f"GET /api/v1/status (baseline): {base['per_second']:.0f}/s; p50 {base['p50_ms']:.1f} ms, "
          f"p99 {base['p99_ms']:.1f} ms")
    added = hook["p99_ms"] - base["p99_ms"]
    print(f"added latency of a receipt: p50 {hook['p50_ms'] - base['p50_ms']:.1f} ms, p99 {added:.1f} ms "
          f"(target p99 under 50 ms); receipts/s are {hook['per_second'] / base['per_second']:.2f} of the baseline's")
    print(json.dumps({"bench": "webhooks", "senders": args.senders, "workers": args.workers,
                      "receipts_per_second": round(hook["per_second"]), "receipt_p99_ms": round(hook["p99_ms"], 1),
                      "status_p99_ms": round(base["p99_ms"], 1), "added_p99_ms": round(added, 1),
                      "stored": stored}))


def count_stored(state):
    import sqlite3

    with sqlite3.connect(os.path.join(state, "inbox.sqlite")) as db:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]


if __name__ == "__main__":
    main()
