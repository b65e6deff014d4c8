"""A stand-in of XSOAR's `demisto` object for the tests (the real one is XSOAR's server side).

Restates the part of the contract the generated integration uses, as demisto/content's
`Tests/demistomock/demistomock.py` declares it: command(), args(), params(), results(),
incidents(), getLastRun()/setLastRun(), getIntegrationContext()/setIntegrationContext(),
integrationInstance(), debug()/info()/error(). The state comes from the JSON file named by
$XSOAR_STANDIN and is written back to it, with every result, when the process exits, so each
command runs in a process of its own, as XSOAR runs them.
"""

import atexit
import json
import os

_PATH = os.environ["XSOAR_STANDIN"]
with open(_PATH, encoding="utf-8") as _fh:
    _state = json.load(_fh)
_state.setdefault("results", [])
_state.setdefault("logs", [])


def _save():
    with open(_PATH, "w", encoding="utf-8") as fh:
        json.dump(_state, fh)


atexit.register(_save)


def command():
    return _state["command"]


def args():
    return dict(_state.get("args") or {})


def params():
    return dict(_state.get("params") or {})


def results(entry):
    _state["results"].append(entry)


def incidents(found):
    _state["incidents"] = found


def getLastRun():
    return dict(_state.get("last_run") or {})


def setLastRun(value):
    _state["last_run"] = value


def getIntegrationContext():
    return dict(_state.get("integration_context") or {})


def setIntegrationContext(value):
    _state["integration_context"] = value


def integrationInstance():
    return _state.get("instance", "PagerDuty Plugin_instance_1")


def debug(text):
    _state["logs"].append(str(text))


info = error = debug
