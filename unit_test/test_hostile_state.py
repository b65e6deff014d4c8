"""A state-setting PUT repeated after an unanswered first try: the repeat's "already resolved"
(1001) or "already acknowledged" (1002) means the first try worked. Through the CLI against the
sandbox: the state is set as the first try would have set it, and a delay fault holds that first try far past the
step's timeout, so its answer never comes (an order that holds under any load, not a race of two sleeps)."""

import pytest
from conftest import invoke, start_message
from hostile_server import HostileServer, Reply, connection_to
from incident_support import api, open_incident, set_status
from test_hostile_paging import FULL_INCIDENT


@pytest.mark.no_conformance
@pytest.mark.parametrize("status, words", [("resolved", "already resolved"), ("acknowledged", "already acknowledged")])
def test_a_repeat_that_finds_the_state_set_is_a_success(act, sandbox, connection, journal, status, words):
    incident = open_incident(sandbox, title=f"slow {status}")
    set_status(sandbox, incident["id"], status)  # what the unanswered first try carried out
    mark = len(journal())
    sandbox.add_fault(method="PUT", path=f"/incidents/{incident['id']}", count=1, delay=8)
    result = act("update_status", _connection={**connection, "timeout": 1}, incident_id=incident["id"],
                 status=status)
    assert result.code == 0, result.stdout
    assert result.output["incident"]["status"] == status
    assert f"{words} on the repeat after an unanswered try; read back, it is {status}" in result.body["log"]
    answered = [e for e in journal()[mark:] if "fault" not in e]  # the held first try is journaled once answered
    assert [(e["method"], e["status"]) for e in answered] == [("PUT", 400), ("GET", 200)]


def test_a_read_back_in_another_state_keeps_the_refusal():
    incident = dict(FULL_INCIDENT, status="resolved")
    answers = iter([Reply(503, {"error": {"code": 2000, "message": "Service Unavailable"}}),
                    Reply(400, {"error": {"code": 1001, "message": "Incident Already Resolved"}})])

    def answer(request):
        return next(answers) if request.method == "PUT" else Reply(200, {"incident": incident})

    with HostileServer(answer) as server:
        result = invoke(["run"], start_message("update_status", {"incident_id": "PTARGET", "status": "acknowledged"},
                                               connection_to(server.url, max_retries=1)))
    assert result.code == 1 and result.error["cause"].startswith("Incident PTARGET is already resolved")
    assert [r.method for r in server.requests] == ["PUT", "PUT", "GET"]


@pytest.mark.no_conformance
def test_already_resolved_without_an_uncertain_try_stays_an_error(act, sandbox):
    incident = open_incident(sandbox, title="resolved before")
    set_status(sandbox, incident["id"], "resolved")
    result = act("update_status", incident_id=incident["id"], status="resolved")
    assert result.code == 1 and "already resolved" in result.error["cause"]
    assert api(sandbox, "GET", f"/incidents/{incident['id']}")["incident"]["status"] == "resolved"
