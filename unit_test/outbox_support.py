"""What the outbox tests share: the store URLs (SQLite file, or a database on a real PostgreSQL
started once per test process), connections with an outbox, and the sandbox journal's deliveries."""

import atexit
import os
import subprocess
import sys
import uuid

import pytest

import postgres_server
from conftest import ROOT

_server = {}


def postgres():
    """The PostgreSQL server of this test process (started on first use), or a skip saying why."""
    if "server" not in _server:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _server["server"] = None
            _server["reason"] = "psycopg is not installed (pip install '.[postgresql]' in this repository)"
        else:
            try:
                _server["server"] = postgres_server.start()
                atexit.register(_server["server"].stop)
            except (postgres_server.Unavailable, OSError, subprocess.SubprocessError) as exc:
                _server["server"], _server["reason"] = None, f"no PostgreSQL server could be had: {exc}"
    if _server["server"] is None:
        pytest.skip(_server["reason"])
    return _server["server"]


def store_url(kind, tmp_path):
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/outbox.sqlite3"
    return postgres().fresh_database("t" + uuid.uuid4().hex[:12])


def with_outbox(connection, url, **settings):
    return {**connection, "outbox": url, "max_retries": 0, "timeout": 5, **settings}


def deliveries(sandbox, after=0):
    """Accepted events in the order the sandbox took them: [(dedup_key, event_action, body)]."""
    found = []
    for exchange in sandbox.exchanges_after(after):
        if exchange["hook"] or exchange["path"] != "/v2/enqueue" or exchange["status"] != 202:
            continue
        body = exchange["request_json"]
        found.append((body.get("dedup_key"), body.get("event_action"), body))
    return found


def plain_env(sandbox, url, **extra):
    """A drainer's environment; the outbox's per-key budget (120 a minute by default) is lifted: the
    sandbox limits no rate unless asked, and thousands of events would take minutes."""
    return {"PAGERDUTY_ROUTING_KEY": sandbox.info["routing_key"], "PAGERDUTY_EVENTS_URL": sandbox.info["events_url"],
            "PAGERDUTY_OUTBOX": url, "PAGERDUTY_TIMEOUT": "5", "PAGERDUTY_MAX_RETRIES": "0",
            "PAGERDUTY_OUTBOX_RATE": "100000", **extra}


def start_drainer(env, *args):
    """`pagerduty-plugin outbox drain ...` as its own process (what cron or a fleet host runs)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERDUTY_")}
    full_env.update(env)
    return subprocess.Popen([sys.executable, "-m", "pagerduty_plugin", "outbox", "drain", *args], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def fill(url, routing_key, lanes, per_lane):
    """Write lanes x per_lane events straight into the store, as the steps do (a step's own send is
    what the other tests cover): per lane a trigger, acknowledges, and a resolve last, the lanes
    interleaved. Returns {dedup_key: [event_action, ...]} in written order."""
    from pagerduty_plugin.state.outbox import key_ref, open_outbox

    store = open_outbox(url)
    ref = key_ref(routing_key)
    written = {}
    for step in range(per_lane):
        for lane in range(lanes):
            dedup = f"lane-{lane}"
            action = "trigger" if step == 0 else ("resolve" if step == per_lane - 1 else "acknowledge")
            event = {"event_action": action, "dedup_key": dedup}
            if action == "trigger":
                event["payload"] = {"summary": f"{dedup} #{step}", "source": "outbox-test", "severity": "error"}
            store.add(ref, event, action)
            written.setdefault(dedup, []).append(action)
    store.close()
    return written
