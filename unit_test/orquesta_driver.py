"""Runs exported workflows with Orquesta's own code (run in a venv holding orquesta, as a subprocess): each is
inspected as st2 inspects it before a start, then driven through Orquesta's WorkflowConductor the way st2's
workflow service drives it (st2common/st2common/services/workflows.py: request_next_tasks marks each task's
actions running, request_task_execution runs the actions, an action-less task succeeds at once,
update_task_state feeds each action's status and result back; python-script results are {"result": value}).

Protocol, one JSON document a line: stdin gives {"name", "workflow" (YAML text), "input"} per scenario (then
EOF); for each action the driver asks on stdout {"call": {"action": ref, "input": {...}}} and reads
{"status": "succeeded"|"failed", "result": value}; at the end of a scenario it writes {"done": {...}}.
"""

import json
import sys

from orquesta import conducting, events, statuses
from orquesta.specs import native as native_specs

MAX_ROUNDS = 1000


def ask(action, values):
    sys.stdout.write(json.dumps({"call": {"action": action, "input": values}}) + "\n")
    sys.stdout.flush()
    return json.loads(sys.stdin.readline())


def run(scenario):
    spec = native_specs.WorkflowSpec(scenario["workflow"])
    errors = spec.inspect()
    if errors:
        return {"inspection": errors}
    conductor = conducting.WorkflowConductor(spec, inputs=scenario.get("input") or {})
    conductor.request_workflow_status(statuses.RUNNING)
    for _ in range(MAX_ROUNDS):
        tasks = conductor.get_next_tasks()
        if not tasks:
            break
        for task in tasks:  # request_next_tasks: each task's actions marked running first
            for _action in task["actions"]:
                conductor.update_task_state(task["id"], task["route"], events.ActionExecutionEvent(statuses.RUNNING))
        for task in tasks:
            if task["spec"].action is None:  # action-less: running, then succeeded at once
                for status in (statuses.RUNNING, statuses.SUCCEEDED):
                    conductor.update_task_state(task["id"], task["route"], events.ActionExecutionEvent(status))
                continue
            for action in task["actions"]:
                answer = ask(action["action"], action["input"])
                event = events.ActionExecutionEvent(answer["status"], result={"result": answer["result"]})
                conductor.update_task_state(task["id"], task["route"], event)
    conductor.render_workflow_output()
    return {"status": conductor.get_workflow_status(), "output": conductor.get_workflow_output(),
            "errors": [e.get("message") for e in conductor.errors]}


def main():
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps({"done": run(json.loads(line))}, default=str) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
