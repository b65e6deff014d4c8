"""Change events: kept by the sandbox when the Events API accepts them, served through the REST API, and
listed by the list_change_events action."""

import pytest
import requests


def _rest(sandbox, path, **params):
    info = sandbox.info
    return requests.get(info["api_url"] + path, params=params, timeout=5,
                        headers={"Authorization": f"Token token={info['api_key']}",
                                 "Accept": "application/vnd.pagerduty+json;version=2"})


def _send(act, summary, **values):
    result = act("send_change_event", summary=summary, **values)
    assert result.code == 0, result.output
    return result


@pytest.mark.full_answers  # reads change event fields (id) the contract's examples leave out
def test_a_sent_change_event_is_kept_and_served(act, sandbox):
    _send(act, "Deployed api 2.4.1", source="ci", custom_details={"build": 7}, timestamp="2024-05-01T12:00:00Z",
          links=[{"href": "https://ci.example.com/7", "text": "build 7"}])
    listed = _rest(sandbox, "/change_events").json()["change_events"]
    assert len(listed) == 1
    change = listed[0]
    service = sandbox.seed_ids["services"][0]
    assert change["type"] == "change_event" and len(change["id"]) == 26
    assert (change["summary"], change["source"], change["timestamp"]) == ("Deployed api 2.4.1", "ci",
                                                                           "2024-05-01T12:00:00Z")
    assert change["custom_details"] == {"build": 7}
    assert change["links"] == [{"href": "https://ci.example.com/7", "text": "build 7"}]
    assert [s["id"] for s in change["services"]] == [service]
    assert change["integration"]["type"].endswith("inbound_integration_reference")
    assert _rest(sandbox, f"/change_events/{change['id']}").json()["change_event"] == change
    assert _rest(sandbox, change["self"][len(sandbox.info["api_url"]):]).status_code == 200
    assert [c["id"] for c in _rest(sandbox, f"/services/{service}/change_events").json()["change_events"]] == [
        change["id"]]
    other = next(s for s in sandbox.seed_ids["services"] if s != service)
    assert _rest(sandbox, f"/services/{other}/change_events").json()["change_events"] == []
    assert _rest(sandbox, "/change_events/01BBYA6PEVW6A852BUO6QYUE7O").status_code == 404


def test_filters_and_paging(act, sandbox):
    for n, when in enumerate(("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z")):
        _send(act, f"change {n}", timestamp=when)
    newest_first = [c["summary"] for c in _rest(sandbox, "/change_events").json()["change_events"]]
    assert newest_first == ["change 2", "change 1", "change 0"]
    window = _rest(sandbox, "/change_events", since="2024-05-01T10:30:00Z", until="2024-05-01T12:00:00Z").json()
    assert [c["summary"] for c in window["change_events"]] == ["change 1"]
    page = _rest(sandbox, "/change_events", limit=2, offset=0, total="true").json()
    assert (len(page["change_events"]), page["more"], page["total"]) == (2, True, 3)
    assert _rest(sandbox, "/change_events", **{"integration_ids[]": "PNOSUCH"}).json()["change_events"] == []
    assert _rest(sandbox, "/change_events", since="yesterday").status_code == 400


def test_related_change_events_of_an_incident(act, sandbox):
    _send(act, "Deployed before the incident")
    trigger = act("send_trigger_event", description="Errors after the deploy", severity="error", source="api")
    incident = _rest(sandbox, "/incidents", incident_key=trigger.output["dedup_key"],
                     date_range="all").json()["incidents"][0]
    related = _rest(sandbox, f"/incidents/{incident['id']}/related_change_events").json()["change_events"]
    assert [(c["summary"], c["correlation_reason"]) for c in related] == [
        ("Deployed before the incident", {"reason": "related_service"})]
    result = act("list_change_events", incident_id=incident["id"])
    assert result.code == 0 and [c["summary"] for c in result.output["change_events"]] == [
        "Deployed before the incident"]


@pytest.mark.full_answers  # reads change event fields (id) the contract's examples leave out
def test_list_change_events_action(act, sandbox):
    _send(act, "Config change on the web service", timestamp="2024-05-01T09:00:00Z")
    _send(act, "Deploy 2", timestamp="2024-05-02T09:00:00Z")
    everything = act("list_change_events")
    assert everything.code == 0
    assert everything.output["count"] == 2 and everything.output["truncated"] is False
    assert [c["summary"] for c in everything.output["change_events"]] == ["Deploy 2", "Config change on the web service"]
    service = everything.output["change_events"][0]["services"][0]
    by_name = act("list_change_events", service=service["summary"], since="2024-05-02T00:00:00Z")
    assert [c["summary"] for c in by_name.output["change_events"]] == ["Deploy 2"]
    capped = act("list_change_events", max_results=1)
    assert (capped.output["count"], capped.output["truncated"]) == (1, True)


def test_incident_id_with_other_filters_is_refused_before_any_request(act, journal):
    result = act("list_change_events", incident_id="PABC123", service="Web")
    assert result.code == 1
    assert result.error["data"]["fields"] == ["incident_id", "service"]  # the spec's rule, named
    assert journal() == []
    bad = act("list_change_events", integration_ids=["../users"])
    assert bad.code == 1 and journal() == []
