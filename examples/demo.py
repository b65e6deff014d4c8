"""`make demo`: start the embedded sandbox and run a real chain of steps against it.

Each step is the installed `pagerduty-plugin run ACTION` command, exactly as a CI job or a
runbook tool would run it: input JSON on stdin, connection from PAGERDUTY_* variables, one
JSON document on stdout. The output of one step feeds the input of the next.

DEMO_TLS=1 runs the same chain against `pagerduty-plugin sandbox --tls` (HTTPS with a throwaway
CA, trusted through the connection's ca_file, PAGERDUTY_CA_FILE).
"""

import json
import os
import subprocess
import sys

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


def step(number, title, action, values, env, summary):
    print(f"\n== {number}. {title}")
    print(f"$ echo '{json.dumps(values)}' | pagerduty-plugin run {action}")
    done = subprocess.run([PLUGIN, "run", action], input=json.dumps(values), capture_output=True,
                          text=True, env=env)
    output = json.loads(done.stdout)
    if done.returncode != 0:
        raise SystemExit(f"step {number} failed (exit {done.returncode}): {json.dumps(output, indent=2)}")
    print("-> " + summary(output))
    print(shorten(json.dumps(output, indent=2)))
    return output


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


if __name__ == "__main__":
    main()
