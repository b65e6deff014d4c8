"""`make demo`: start the embedded sandbox and run a real chain of steps against it.

Each step is the installed `pagerduty-plugin run ACTION` command, exactly as a CI job or a
runbook tool would run it: input JSON on stdin, connection from PAGERDUTY_* variables, one
JSON document on stdout. The output of one step feeds the input of the next.
"""

import json
import os
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
PLUGIN = os.path.join(BIN, "pagerduty-plugin")


def start_sandbox():
    process = subprocess.Popen([PLUGIN, "sandbox", "--port", "0", "--seed", "demo"],
                               stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())


def step(number, title, action, values, env):
    print(f"\n== {number}. {title}")
    print(f"$ echo '{json.dumps(values)}' | pagerduty-plugin run {action}")
    done = subprocess.run([PLUGIN, "run", action], input=json.dumps(values), capture_output=True,
                          text=True, env=env)
    output = json.loads(done.stdout)
    print(shorten(json.dumps(output, indent=2)))
    if done.returncode != 0:
        raise SystemExit(f"step {number} failed (exit {done.returncode}): {output}")
    return output


def shorten(text, lines=14):
    rows = text.splitlines()
    return "\n".join(rows[:lines] + ([f"  ... ({len(rows) - lines} more lines)"] if len(rows) > lines else []))


def main():
    sandbox, info = start_sandbox()
    print("Embedded PagerDuty sandbox running:", json.dumps({k: info[k] for k in ("api_url", "events_url")}))
    env = {**os.environ, "PAGERDUTY_API_URL": info["api_url"], "PAGERDUTY_EVENTS_URL": info["events_url"],
           "PAGERDUTY_API_KEY": info["api_key"], "PAGERDUTY_ROUTING_KEY": info["routing_key"],
           "PAGERDUTY_FROM": info["from_email"]}
    try:
        run_chain(env)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    print("\nDemo finished: every step above ran through the plugin's own actions against the sandbox.")


def run_chain(env):
    trigger = step(1, "A monitor triggers an alert (Events API v2)", "send_trigger_event",
                   {"description": "Disk 95% full on db-01", "severity": "critical", "source": "db-01",
                    "details": {"free": "5%"}}, env)
    found = step(2, "Find the incident the alert opened", "list_incidents",
                 {"incident_key": trigger["dedup_key"], "date_range": "all"}, env)
    incident = found["incidents"][0]["id"]
    step(3, "Add a note to the incident", "add_note",
         {"incident_id": incident, "note": "Rotating logs on db-01; will extend the volume."}, env)
    step(4, "Acknowledge it", "update_status", {"incident_id": incident, "status": "acknowledged"}, env)
    step(5, "Ask a second responder for help", "add_responders",
         {"incident_id": incident, "users": ["liam.responder@example.com"], "message": "Need a DBA on db-01"}, env)
    step(6, "The monitor recovers and resolves the alert", "send_resolve_event",
         {"incident_key": trigger["dedup_key"]}, env)
    step(7, "The incident, resolved", "get_incident", {"incident_id": incident}, env)


if __name__ == "__main__":
    main()
