"""`make demo`: start the embedded sandbox and run a real chain of steps against it.

Each step is the installed `pagerduty-plugin run ACTION` command, exactly as a CI job or a
runbook tool would run it: input JSON on stdin, connection from PAGERDUTY_* variables, one
JSON document on stdout. The output of one step feeds the input of the next.

Then the loop closes: PagerDuty (the sandbox) sends a signed webhook about a new incident to
`pagerduty-plugin http`, which keeps it in its inbox; a trigger hands the event over, and the
triage runbook of examples/runbooks reacts to it on its own. Last, PagerDuty goes down: an alert
fired with the outbox on is kept, and delivered once PagerDuty is back.

DEMO_TLS=1 runs the same chain against `pagerduty-plugin sandbox --tls` (HTTPS with a throwaway
CA, trusted through the connection's ca_file, PAGERDUTY_CA_FILE).
"""

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.path.dirname(sys.executable)
PLUGIN = os.path.join(BIN, "pagerduty-plugin")


def start_sandbox(tls=False):
    process = subprocess.Popen([PLUGIN, "sandbox", "--port", "0", "--seed", "demo", *(["--tls"] if tls else [])],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the sandbox did not start (exit {process.wait(10)})")
    return process, json.loads(line)


def wants_tls():
    return os.environ.get("DEMO_TLS", "").strip().lower() in ("1", "true", "yes")


def step(number, title, action, values, env, summary, shown=lambda output: output):
    print(f"\n== {number}. {title}")
    print(f"$ echo '{json.dumps(values)}' | pagerduty-plugin run {action}")
    done = subprocess.run([PLUGIN, "run", action], input=json.dumps(values), capture_output=True,
                          text=True, env=env)
    output = json.loads(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"step {number} failed (exit {done.returncode}): {json.dumps(output, indent=2)}")
    print("-> " + summary(output))
    print(shorten(json.dumps(shown(output), indent=2)))
    return output


def without_secrets(output):
    """A new subscription's answer as the demo shows it: its signing secret is not for the screen, and
    the subscription's own secret field (null: PagerDuty answers the secret once, as signing_secret) is left out."""
    subscription = dict(output["webhook_subscription"])
    subscription["delivery_method"] = {k: v for k, v in subscription["delivery_method"].items() if k != "secret"}
    return {**output, "webhook_subscription": subscription, "signing_secret": "(not shown)"}


def shorten(text, lines=10):
    rows = text.splitlines()
    return "\n".join(rows[:lines] + ([f"   ... ({len(rows) - lines} more lines of output)"] if len(rows) > lines else []))


def incident_line(incident):
    who = ", ".join(a["assignee"].get("summary", a["assignee"]["id"]) for a in incident.get("assignments") or [])
    return (f"incident {incident['id']} #{incident['incident_number']} is {incident['status']}: "
            f"{incident['title']!r}" + (f", assigned to {who}" if who else ""))


def main():
    sandbox, info = start_sandbox(tls=wants_tls())
    shown = ("api_url", "events_url", "ca_file") if info.get("ca_file") else ("api_url", "events_url")
    print("Embedded PagerDuty sandbox running:", json.dumps({k: info[k] for k in shown}))
    print(f"Watch it in a browser: {info['api_url']}/")
    env = {**os.environ, "PAGERDUTY_API_URL": info["api_url"], "PAGERDUTY_EVENTS_URL": info["events_url"],
           "PAGERDUTY_API_KEY": info["api_key"], "PAGERDUTY_ROUTING_KEY": info["routing_key"],
           "PAGERDUTY_FROM": info["from_email"]}
    if info.get("ca_file"):
        env["PAGERDUTY_CA_FILE"] = info["ca_file"]
    try:
        run_chain(env)
        with tempfile.TemporaryDirectory(prefix="pagerduty-demo-") as state:
            react_to_events(env, state)
            survive_an_outage(env, info, state)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print("\nDemo finished: every step above ran through the plugin's own actions against the sandbox.")


def run_chain(env):
    trigger = step(1, "A monitor triggers an alert (Events API v2)", "send_trigger_event",
                   {"description": "Disk 95% full on db-01", "severity": "critical", "source": "db-01",
                    "details": {"free": "5%"}}, env,
                   lambda out: f"{out['status']}: {out['message']}, dedup_key {out['dedup_key']}")
    found = step(2, "Find the incident the alert opened", "list_incidents",
                 {"incident_key": trigger["dedup_key"], "date_range": "all"}, env,
                 lambda out: f"{out['count']} found: " + incident_line(out["incidents"][0]))
    incident = found["incidents"][0]["id"]
    step(3, "Add a note to the incident", "add_note",
         {"incident_id": incident, "note": "Rotating logs on db-01; will extend the volume."}, env,
         lambda out: f"note {out['note']['id']} by {out['note']['user']['summary']}")
    step(4, "Acknowledge it", "update_status", {"incident_id": incident, "status": "acknowledged"}, env,
         lambda out: incident_line(out["incident"]))
    step(5, "Ask a second responder for help", "add_responders",
         {"incident_id": incident, "users": ["nia.oncall@example.com"], "message": "Need a DBA on db-01"},
         env, lambda out: "requested: " + ", ".join(
             t["responder_request_target"].get("summary", t["responder_request_target"]["id"])
             for t in out["responder_request"]["responder_request_targets"]))
    step(6, "The monitor recovers and resolves the alert", "send_resolve_event",
         {"incident_key": trigger["dedup_key"]}, env, lambda out: f"{out['status']}: {out['message']}")
    step(7, "The incident, resolved", "get_incident", {"incident_id": incident}, env,
         lambda out: incident_line(out["incident"]))



def react_to_events(env, state):
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}/webhooks/pagerduty"
    subscription = step(8, "Subscribe to PagerDuty's v3 webhooks, pointed at the plugin's own receiver",
                        "create_webhook_subscription", {"url": receiver_url, "events": ["incident.triggered"]}, env,
                        lambda out: f"subscription {out['webhook_subscription']['id']}; its signing secret is "
                                    "answered this once (kept by the receiver, never printed)", without_secrets)
    runbooks = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runbooks")
    print(f"\n== 9. Start the receiver: pagerduty-plugin http --port {port} --runbooks examples/runbooks")
    server = subprocess.Popen([PLUGIN, "http", "--port", str(port), "--state", state, "--runbooks", runbooks],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**env, "PAGERDUTY_WEBHOOK_SECRETS": subscription["signing_secret"]})
    try:
        print("-> listening on " + json.loads(server.stdout.readline())["url"])
        created = step(10, "A new Checkout API incident: PagerDuty sends a signed webhook", "create_incident",
                       {"title": "Checkout API error rate 12%", "service": "Checkout API", "urgency": "high"}, env,
                       lambda out: incident_line(out["incident"]))
        incident = created["incident"]["id"]
        print("\n== 11. The event, as the incident_event trigger hands it over (verified, kept, once)")
        print("$ echo '{}' | pagerduty-plugin trigger incident_event --once --consumer demo --replay")
        event = wait_for_event(env, state)
        print(f"-> {event['event_type']} about {event['data']['id']} ({event['data']['title']!r}), "
              f"event {event['id']}")
        print("\n== 12. The triage runbook reacted on its own (runbook serve, inside http --runbooks)")
        print("$ pagerduty-plugin runbook runs")
        run = wait_for_run(env, state)
        print(f"-> {run['runbook']}: {run['status']}, steps: "
              + ", ".join(f"{s['id']} {s['status']}" for s in run["answer"]["steps"]))
        step(13, "The runbook's note on the incident", "list_notes", {"incident_id": incident}, env,
             lambda out: " | ".join(note["content"] for note in out["notes"]))
    finally:
        server.terminate()
        server.wait(timeout=30)


def survive_an_outage(env, info, state):
    print("\n== 14. PagerDuty goes down: every event now answers 503 (a sandbox fault)")
    sandbox_hook(info, "POST", "/_sandbox/faults", {"method": "POST", "path": "/v2/*", "status": 503, "count": None})
    durable = {**env, "PAGERDUTY_OUTBOX": f"sqlite:///{os.path.join(state, 'outbox.sqlite')}",
               "PAGERDUTY_MAX_RETRIES": "1"}
    print("$ export PAGERDUTY_OUTBOX=sqlite:///…/outbox.sqlite")
    queued = step(15, "A monitor fires an alert during the outage: kept, not lost", "send_trigger_event",
                  {"description": "Checkout latency p99 4 s", "severity": "error", "source": "web-01"}, durable,
                  lambda out: f"{out['status']}, dedup_key {out['dedup_key']} (exit 0: the event is safe)")
    outbox(16, "What waits in the outbox", ["status"], durable,
           lambda out: f"{out['counts']['pending']} pending, oldest {out['oldest_pending_seconds']:.0f} s")
    sandbox_hook(info, "DELETE", "/_sandbox/faults")
    print("\n== PagerDuty is back")
    outbox(17, "Deliver what waited (cron or `http` does this on its own)", ["drain", "--until-empty"], durable,
           lambda out: f"{out['sent']} sent, {out['open']} left")
    step(18, "The alert's incident, opened after the outage", "list_incidents",
         {"incident_key": queued["dedup_key"], "date_range": "all"}, env,
         lambda out: f"{out['count']} found: " + incident_line(out["incidents"][0]))


def outbox(number, title, args, env, summary):
    print(f"\n== {number}. {title}")
    print("$ pagerduty-plugin outbox " + " ".join(args))
    done = subprocess.run([PLUGIN, "outbox", *args], capture_output=True, text=True, env=env)
    output = json.loads(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"step {number} failed (exit {done.returncode}): {json.dumps(output, indent=2)}")
    print("-> " + summary(output))


def sandbox_hook(info, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(info["api_url"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=info["ca_file"]) if info.get("ca_file") else None
    with urllib.request.urlopen(request, timeout=10, context=context):
        pass


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_event(env, state, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([PLUGIN, "trigger", "incident_event", "--once", "--consumer", "demo", "--replay",
                               "--state", state], input="{}", capture_output=True, text=True, env=env)
        if done.stdout.strip():
            return json.loads(done.stdout.splitlines()[0])["event"]
        time.sleep(0.3)
    raise SystemExit("no webhook arrived in 20 s")


def wait_for_run(env, state, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run([PLUGIN, "runbook", "runs", "--state", state], capture_output=True, text=True,
                              env=env)
        finished = [run for run in json.loads(done.stdout)["runs"] if run["status"] != "running"]
        if finished:
            return finished[0]
        time.sleep(0.3)
    raise SystemExit("the runbook did not run in 30 s")


if __name__ == "__main__":
    main()
