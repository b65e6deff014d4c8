"""Runbooks started by events: the pieces `runbook serve DIR` and `http --runbooks DIR` are built from.

    books, problems = load_dir("runbooks/")
    for book in books:
        run_for_event(book, "incident_event", event, connection, store, log=log, secrets=secrets)

Exactly once per event: the run is claimed in the runs store (UNIQUE runbook + event id, committed)
before its first step, so a redelivered event or a restart after the claim never runs it again; a
claim the store cannot record raises RunStoreError, and the caller leaves the event for later. A
run whose process died is taken over once its lease ends (RunStore.take_over) and run again from
its first step: steps must be idempotent for an effect to happen exactly once.
"""

import glob
import os

from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.runbooks.check import check
from pagerduty_plugin.runbooks.execute import run
from pagerduty_plugin.runbooks.model import parse_file


def load_dir(directory, spec):
    """(runbooks that passed the check, problems of the others) for every *.yaml / *.yml in directory."""
    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise PluginError(f"The runbooks' directory {directory} {what}",
                          "Give the directory that holds the runbook files (*.yaml), e.g. examples/runbooks.")
    folder = glob.escape(directory)  # a [ or * in the directory's name is no pattern
    paths = sorted(glob.glob(os.path.join(folder, "*.yaml")) + glob.glob(os.path.join(folder, "*.yml")))
    if not paths:
        raise PluginError(f"The directory {directory} holds no runbook (*.yaml or *.yml)",
                          "Give the directory that holds the runbook files, e.g. examples/runbooks.")
    books, problems = [], []
    for path in paths:
        try:
            book = parse_file(path)
        except PluginError as exc:
            problems.append({"file": path, "step": None, "field": None, "message": exc.cause})
            continue
        found = check(book, spec)
        if found:
            problems += found
        else:
            books.append(book)
    return books, problems


def run_for_event(runbook, trigger_name, event, connection, store, log=None, secrets=None, spec=None, owner=None):
    """(run_id, answer) when the event matches the runbook's `on:` and has no run yet, else None.
    owner: the process that beats for the run (state/runs.py)."""
    if not runbook.matches(trigger_name, event) or not event.get("id"):
        return None
    run_id = store.claim(runbook.name, str(event["id"]), owner, event)
    if run_id is None:
        return None  # run, or running (a process that dies mid-run has it taken over): never twice
    return run_id, run_claimed(runbook, run_id, event, connection, store, log, secrets, spec, owner)


def run_claimed(runbook, run_id, event, connection, store, log=None, secrets=None, spec=None, owner=None):
    """Run a claimed run (a new claim, or one taken over: then again from its first step); its answer,
    recorded only while owner still owns the run (RunStore.finish). Between steps the run checks that
    it is still owner's: one taken over meanwhile (its owner was cut off from the store for a lease)
    stops there, so the run is doubled by one step at most; its answer is then `taken_over`, not recorded."""
    try:
        answer = run(runbook, {}, connection, event=event, log=log, secrets=secrets, spec=spec,
                     between_steps=owner and (lambda: still_owned(store, run_id, owner, log)))
    except TakenOver as exc:
        if log is not None:
            log.warning(exc.cause)
        return {"status": "taken_over", "steps": [], "outputs": {}, "error": exc.to_dict()}
    except PluginError as exc:  # inputs the event cannot fill: recorded as a failed run
        answer = {"status": "failed", "steps": [], "outputs": {}, "error": exc.to_dict()}
    store.finish(run_id, answer, owner)
    return answer


class TakenOver(PluginError):
    """The run is no longer this process's: another took it over while this one was cut off."""


def still_owned(store, run_id, owner, log=None):
    """Raise TakenOver when the run is no longer owner's; a store that cannot answer now is no proof
    of it: the run goes on (its answer is recorded only if it is still owner's then)."""
    from pagerduty_plugin.state.runs import RunStoreError

    try:
        owned = store.owns(run_id, owner)
    except RunStoreError as exc:
        if log is not None:
            log.warning(f"run {run_id}: cannot check it is still this process's ({exc.cause}); it goes on")
        return
    if not owned:
        raise TakenOver(f"Run {run_id} was taken over by another process while this one could not reach the runs "
                        "store; this process stops it before its next step",
                        "Nothing to do: the process that took it over runs it from its first step and records "
                        "its answer.", {"run_id": run_id})
