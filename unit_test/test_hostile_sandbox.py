"""The sandbox against hostile requests: a hook body that is not an object, NaN in a body,
and a journal fed large bodies (it stays within its byte budget)."""

import pytest
import requests
from conftest import invoke, start_message

from pagerduty_plugin.sandbox import Sandbox


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3"])
def test_a_hook_body_that_is_not_an_object_is_a_400(sandbox, body):
    answer = requests.post(sandbox.info["api_url"] + "/_sandbox/incidents", data=body, timeout=5)
    assert answer.status_code == 400 and "must be a JSON object" in answer.text


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_is_refused_by_the_events_api(sandbox, constant):
    raw = ('{"routing_key": "%s", "event_action": "trigger", "payload": {"summary": "x", "source": "y", '
           '"severity": "info", "custom_details": {"x": %s}}}') % (sandbox.info["routing_key"], constant)
    answer = requests.post(sandbox.info["events_url"] + "/enqueue", data=raw, timeout=5)
    assert answer.status_code == 400


def test_nan_is_refused_by_the_rest_api(sandbox):
    headers = {"Authorization": f"Token token={sandbox.info['api_key']}", "From": sandbox.info["from_email"],
               "Content-Type": "application/json"}
    service = requests.get(sandbox.info["api_url"] + "/services", headers=headers, timeout=5).json()["services"][0]
    raw = ('{"incident": {"type": "incident", "title": "nan", "service": {"id": "%s", "type": "service_reference"},'
           ' "body": {"type": "incident_body", "details": {"x": NaN}}}}') % service["id"]
    answer = requests.post(sandbox.info["api_url"] + "/incidents", data=raw, headers=headers, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 2001


def test_the_journal_keeps_its_bodies_within_a_byte_budget():
    budget = 1024 * 1024
    with Sandbox(seed="demo", journal_bytes=budget) as small:
        info = small.info
        connection = {"routing_key": info["routing_key"], "events_url": info["events_url"], "timeout": 5}
        for n in range(8):
            details = {"blob": "x" * 200_000, "n": n}
            result = invoke(["run"], start_message("send_trigger_event", {"description": f"big {n}",
                                                                          "details": details}, connection))
            assert result.code == 0, result.stdout
        assert small.journal_log.bytes_kept <= budget
        entries = small.journal()
        assert entries[0].get("bodies_dropped") is True and entries[0]["json"] is None
        assert entries[-1]["json"]["payload"]["custom_details"]["n"] == 7
