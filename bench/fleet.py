"""A fleet's webhook receipts on one state: one `http` server against three, and PostgreSQL against SQLite.

Sender processes (so the clients' GIL is not what is measured) post signed v3 webhooks with fresh
X-Webhook-Ids, round-robin over the servers; every answer comes after the event is committed. All
figures are taken on the same machine in the same run, so only their ratios mean anything:

- receipts per second of three `http` servers (one worker each) on one state against one server
  (on this 2-core machine the three share its cores with the senders: the ratio says what the shared
  store costs, not what three machines would give);
- the p99 a PostgreSQL inbox adds to a receipt against a SQLite one (one server, the same senders).

The shared state is a SQLite directory and, when this build keeps its whole state in PostgreSQL
(`state status --state postgresql://…` works), a fresh database on a server this script starts
(unit_test/postgres_server.py; installed from Debian's package when missing and run as root), with fsync
and synchronous_commit on, as durable as the SQLite inbox (synchronous=FULL).

Usage: .venv/bin/python bench/fleet.py [--per-sender 250] [--senders 6] [--rounds 2]
"""

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "unit_test"))
SECRET = "whsec-bench-fleet-" + "x" * 20


def body():
    return json.dumps({"event": {
        "id": uuid.uuid4().hex, "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": "2026-12-07T07:00:00.000Z", "agent": None, "client": None,
        "data": {"id": "PFLEET1", "type": "incident", "title": "disk full on db-01", "status": "triggered",
                 "urgency": "high", "teams": [], "assignees": []}}}).encode()


def sender(args):
    urls, count, offset = args
    sessions = [requests.Session() for _ in urls]
    timings = []
    for number in range(count):
        which = (number + offset) % len(urls)
        payload = body()
        signature = "v1=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
        started = time.perf_counter()
        answer = sessions[which].post(urls[which] + "/webhooks/pagerduty", data=payload, timeout=10, headers={
            "X-PagerDuty-Signature": signature, "X-Webhook-Id": uuid.uuid4().hex, "Content-Type": "application/json"})
        timings.append(time.perf_counter() - started)
        if answer.status_code != 202:
            raise SystemExit(f"unexpected answer {answer.status_code}: {answer.text[:200]}")
    return timings


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_servers(count, state):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")},
           "PAGERDUTY_WEBHOOK_SECRETS": SECRET}
    servers = []
    for _ in range(count):
        process = subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "http", "--port", str(free_port()),
                                    "--state", state], stdout=subprocess.PIPE, env=env, cwd=ROOT)
        servers.append((process, json.loads(process.stdout.readline())["url"]))
    return servers


def stop(servers):
    for process, _ in servers:
        process.terminate()
    for process, _ in servers:
        process.wait(30)


def measure(pool, state, count, senders, per_sender):
    servers = start_servers(count, state)
    urls = [url for _, url in servers]
    try:
        pool.map(sender, [(urls, 10, n) for n in range(senders)])  # warm the workers, connections and store
        started = time.perf_counter()
        results = pool.map(sender, [(urls, per_sender, n) for n in range(senders)])
        elapsed = time.perf_counter() - started
    finally:
        stop(servers)
    timings = sorted(t for result in results for t in result)
    return {"per_second": len(timings) / elapsed, "p99_ms": timings[int(len(timings) * 0.99)] * 1000}


def postgres_state():
    """(a fresh PostgreSQL state URL, the server) or (None, why not)."""
    import postgres_server

    try:
        server = postgres_server.start()
    except postgres_server.Unavailable as exc:
        return None, f"no PostgreSQL: {exc}"
    url = server.fresh_database("bench_fleet")
    durable(server.url)
    done = subprocess.run([sys.executable, "-m", "pagerduty_plugin", "state", "status", "--state", url],
                          capture_output=True, cwd=ROOT)
    if done.returncode != 0:
        server.stop()
        return None, "this build cannot keep its state in PostgreSQL (`state status` refused it)"
    return url, server


def durable(url):
    """The test server starts without fsync (postgres_server.py); here a commit is on disk before it returns,
    as SQLite's synchronous=FULL inbox does, so the two are compared like for like."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            db.execute(f"ALTER SYSTEM SET {setting} = on")
        db.execute("SELECT pg_reload_conf()")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-sender", type=int, default=250)
    parser.add_argument("--senders", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    stores = {"sqlite": tempfile.mkdtemp(prefix="pagerduty-bench-fleet-")}
    url, server = postgres_state()
    if url is None:
        print(f"PostgreSQL left out: {server}")
    else:
        stores["postgresql"] = url
    results = {}
    try:
        with multiprocessing.Pool(args.senders) as pool:
            for _ in range(args.rounds):  # alternated, so drift on a shared machine hits every figure alike
                for store, state in stores.items():
                    for count in (1, 3):
                        results.setdefault((store, count), []).append(
                            measure(pool, state, count, args.senders, args.per_sender))
    finally:
        if url is not None:
            server.stop()
    figures = {}
    for (store, count), rounds in results.items():
        figure = {k: statistics.median(r[k] for r in rounds) for k in ("per_second", "p99_ms")}
        figures[f"{store}_{count}"] = figure
        print(f"{store}, {count} server(s): {figure['per_second']:.0f} receipts/s, p99 {figure['p99_ms']:.1f} ms")
    summary = {"bench": "fleet", "senders": args.senders, "receipts": args.senders * args.per_sender}
    for store in stores:
        ratio = figures[f"{store}_3"]["per_second"] / figures[f"{store}_1"]["per_second"]
        summary[f"{store}_three_over_one"] = round(ratio, 2)
        print(f"{store}: three servers on one store give {ratio:.2f} times one server's receipts/s")
    if "postgresql" in stores:
        added = figures["postgresql_1"]["p99_ms"] - figures["sqlite_1"]["p99_ms"]
        summary["postgresql_added_p99_ms"] = round(added, 1)
        print(f"PostgreSQL inbox against SQLite, one server: p99 {added:+.1f} ms "
              f"({figures['postgresql_1']['p99_ms']:.1f} against {figures['sqlite_1']['p99_ms']:.1f} ms)")
    summary.update({key: {k: round(v, 1) for k, v in value.items()} for key, value in figures.items()})
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
