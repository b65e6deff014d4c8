"""Benchmark: a 5-step runbook against the same 5 steps run directly (not a test).

    .venv/bin/python bench/runbook.py [--rounds 100]

Both sides run in this one process against the embedded sandbox (in a thread), alternating round by
round so drift hits both alike. The runbook side reads and checks the YAML file, resolves every
`${{ … }}` and masks the answer (what `runbook run` does, less process start-up); the direct side
calls runner.run_action five times in a loop with the inputs already known. Prints one JSON
document, then the ratio of the medians (target ≤ 1.3).
"""
import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pagerduty_plugin import runbooks, runner  # noqa: E402
from pagerduty_plugin import spec as speclib  # noqa: E402
from pagerduty_plugin.sandbox import Sandbox  # noqa: E402

RUNBOOK = """
name: bench-five-steps
inputs:
  incident_id: {type: string, required: true}
steps:
  - id: incident
    action: get_incident
    input: {incident_id: "${{ inputs.incident_id }}"}
  - id: oncall
    action: get_on_call
    input: {escalation_policy_id: "${{ steps.incident.output.incident.escalation_policy.id }}"}
  - id: note
    if: "${{ steps.incident.output.incident.urgency == 'high' }}"
    action: add_note
    input:
      incident_id: "${{ inputs.incident_id }}"
      note: "On call now: ${{ join(', ', steps.oncall.output.users[].summary) }}"
  - id: teams
    action: list_teams
  - id: priorities
    action: list_priorities
outputs:
  on_call: "${{ steps.oncall.output.users[].summary }}"
"""


def direct(spec, connection, incident_id, policy_id, note, log):
    runner.run_action(spec, "get_incident", {"incident_id": incident_id}, connection, log)
    runner.run_action(spec, "get_on_call", {"escalation_policy_id": policy_id}, connection, log)
    runner.run_action(spec, "add_note", {"incident_id": incident_id, "note": note}, connection, log)
    runner.run_action(spec, "list_teams", {}, connection, log)
    runner.run_action(spec, "list_priorities", {}, connection, log)


def with_runbook(spec, connection, path, incident_id, log):
    book = runbooks.load(path, spec)
    answer = runbooks.run(book, {"incident_id": incident_id}, connection, log=log, spec=spec)
    assert answer["status"] == "ok", answer
    return answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    log = logging.getLogger("bench.runbook")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    spec = speclib.load()
    with Sandbox(seed="demo") as sandbox, tempfile.TemporaryDirectory() as tmp:
        info = sandbox.info
        connection = {"api_key": info["api_key"], "api_url": info["api_url"], "events_url": info["events_url"],
                      "from_email": info["from_email"], "routing_key": info["routing_key"]}
        path = os.path.join(tmp, "bench.yaml")
        with open(path, "w") as fh:
            fh.write(RUNBOOK)
        incident_id = sandbox.seed_ids["incidents"]["triggered"][1]
        answer = with_runbook(spec, connection, path, incident_id, log)  # warm both paths (validator caches)
        policy_id = answer["steps"][0]["output"]["incident"]["escalation_policy"]["id"]
        note = "On call now: " + ", ".join(answer["outputs"]["on_call"])
        direct(spec, connection, incident_id, policy_id, note, log)
        times = {"runbook": [], "direct": []}
        for _ in range(args.rounds):
            start = time.perf_counter()
            direct(spec, connection, incident_id, policy_id, note, log)
            times["direct"].append(time.perf_counter() - start)
            start = time.perf_counter()
            with_runbook(spec, connection, path, incident_id, log)
            times["runbook"].append(time.perf_counter() - start)
    medians = {side: statistics.median(values) * 1000 for side, values in times.items()}
    ratio = medians["runbook"] / medians["direct"]
    print(json.dumps({"rounds": args.rounds, "runbook_ms": round(medians["runbook"], 2),
                      "direct_ms": round(medians["direct"], 2), "ratio": round(ratio, 3), "target": 1.3}))
    print(f"5-step runbook (load, check, run): {medians['runbook']:.1f} ms; the same 5 steps run directly: "
          f"{medians['direct']:.1f} ms; ratio {ratio:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
