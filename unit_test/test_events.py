"""Events API v2 actions against the sandbox: exact bodies, dedup keys, retries, errors."""

import time

import pytest


def sent_events(sandbox):
    """Unmasked bodies of the events the sandbox received, in order."""
    return [e["request_json"] for e in sandbox.exchanges if e["path"].startswith("/v2/") and not e["hook"]]


def incidents_with_key(sandbox, key):
    import requests

    answer = requests.get(f"{sandbox.info['api_url']}/incidents",
                          params={"incident_key": key, "date_range": "all"},
                          headers={"Authorization": f"Token token={sandbox.info['api_key']}",
                                   "Accept": "application/vnd.pagerduty+json;version=2"}, timeout=5)
    return answer.json()["incidents"]


def test_trigger_sends_the_exact_event(act, sandbox):
    result = act("send_trigger_event", description="Disk full on db-01", incident_key="db-01/disk",
                 severity="critical", source="db-01", component="postgres", group="prod", **{"class": "disk"},
                 timestamp="2024-05-01T12:00:00Z", details={"free": "1%"}, client="Nagios",
                 client_url="https://nagios.example.com",
                 links=[{"href": "https://x.example.com", "text": "X"}],
                 images=[{"src": "https://x.example.com/g.png"}])
    assert result.code == 0
    assert result.output == {"status": "success", "message": "Event processed",
                             "incident_key": "db-01/disk", "dedup_key": "db-01/disk"}
    assert sent_events(sandbox) == [{
        "routing_key": sandbox.info["routing_key"], "event_action": "trigger", "dedup_key": "db-01/disk",
        "payload": {"summary": "Disk full on db-01", "source": "db-01", "severity": "critical",
                    "timestamp": "2024-05-01T12:00:00Z", "component": "postgres", "group": "prod",
                    "class": "disk", "custom_details": {"free": "1%"}},
        "client": "Nagios", "client_url": "https://nagios.example.com",
        "links": [{"href": "https://x.example.com", "text": "X"}],
        "images": [{"src": "https://x.example.com/g.png"}],
    }]


def test_trigger_defaults_and_generated_key(act, sandbox):
    import socket

    result = act("send_trigger_event", description="CPU hot")
    event = sent_events(sandbox)[0]
    assert event["payload"] == {"summary": "CPU hot", "source": socket.gethostname(), "severity": "error"}
    assert len(event["dedup_key"]) == 32 and result.output["dedup_key"] == event["dedup_key"]
    assert len(incidents_with_key(sandbox, event["dedup_key"])) == 1


def test_old_contexts_become_links_and_images(act, sandbox):
    act("send_trigger_event", description="x", contexts=[
        {"type": "link", "href": "https://a.example.com", "text": "A"},
        {"type": "image", "src": "https://a.example.com/i.png", "alt": "graph"}])
    event = sent_events(sandbox)[0]
    assert event["links"] == [{"href": "https://a.example.com", "text": "A"}]
    assert event["images"] == [{"src": "https://a.example.com/i.png", "alt": "graph"}]


def test_service_key_overrides_the_connection_routing_key(act, sandbox):
    other = sandbox.seed_ids["routing_keys"][1] if "routing_keys" in sandbox.seed_ids else sandbox.info["routing_key"]
    act("send_trigger_event", description="x", service_key={"secretKey": other})
    assert sent_events(sandbox)[0]["routing_key"] == other


@pytest.mark.no_conformance
def test_retried_trigger_keeps_its_dedup_key_and_opens_one_incident(act, sandbox):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=1, status=503)
    result = act("send_trigger_event", description="flaky network")
    assert result.code == 0
    first, second = sent_events(sandbox)
    assert first["dedup_key"] == second["dedup_key"] == result.output["dedup_key"]
    assert len(incidents_with_key(sandbox, first["dedup_key"])) == 1
    assert "retry 1 of 3" in result.body["log"]


def test_acknowledge_and_resolve_act_on_the_alert(act, sandbox):
    second_key = sandbox.seed_ids["second_routing_key"]
    act("send_trigger_event", description="x", incident_key="k-1", service_key=second_key)
    ack = act("send_acknowledge_event", incident_key="k-1", description="looking", details={"by": "bot"},
              service_key={"secretKey": second_key})
    assert ack.code == 0
    assert ack.output == {"status": "success", "message": "Event processed", "incident_key": "k-1",
                          "dedup_key": "k-1"}
    assert incidents_with_key(sandbox, "k-1")[0]["status"] == "acknowledged"
    resolve = act("send_resolve_event", incident_key="k-1", service_key=second_key)
    assert resolve.code == 0 and resolve.output["dedup_key"] == "k-1"
    assert incidents_with_key(sandbox, "k-1")[0]["status"] == "resolved"
    events = sent_events(sandbox)
    assert events[1] == {"routing_key": second_key, "event_action": "acknowledge", "dedup_key": "k-1"}
    assert events[2] == {"routing_key": second_key, "event_action": "resolve", "dedup_key": "k-1"}
    assert "description and details are not sent" in ack.body["log"]


def test_acknowledge_without_an_open_alert_is_accepted(act):
    assert act("send_acknowledge_event", incident_key="never-triggered").code == 0


def test_change_event(act, sandbox):
    result = act("send_change_event", summary="Deployed api 2.4.1", source="ci", custom_details={"build": 7},
                 timestamp="2024-05-01T12:00:00Z", links=[{"href": "https://ci.example.com/7"}])
    assert result.code == 0 and result.output["status"] == "success"
    change = [e for e in sandbox.exchanges if e["path"] == "/v2/change/enqueue"][0]["request_json"]
    assert change == {"routing_key": sandbox.info["routing_key"],
                      "payload": {"summary": "Deployed api 2.4.1", "source": "ci",
                                  "timestamp": "2024-05-01T12:00:00Z", "custom_details": {"build": 7}},
                      "links": [{"href": "https://ci.example.com/7"}]}


def test_a_400_quotes_pagerdutys_errors(act, connection, journal):
    unknown = {**connection, "routing_key": "0123456789abcdef0123456789abcdef"}
    result = act("send_trigger_event", _connection=unknown, description="x")
    assert result.code == 1
    assert result.error["cause"].startswith("PagerDuty refused the event")
    assert result.error["data"]["status"] == 400 and result.error["data"]["errors"]
    assert all(reason in result.error["cause"] for reason in result.error["data"]["errors"])
    assert len(journal()) == 1, "a 400 is never retried"


@pytest.mark.no_conformance
def test_rate_limit_is_retried_then_reported(act, sandbox, connection, journal):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=10, status=429, headers=False)
    result = act("send_trigger_event", _connection={**connection, "max_retries": 2}, description="x")
    assert result.code == 1
    assert "rate limiting" in result.error["cause"] and len(journal()) == 3  # 1 + max_retries


@pytest.mark.no_conformance
def test_outage_gives_a_clear_error(act, sandbox, journal):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=10, status=502)
    result = act("send_trigger_event", description="x")
    assert result.code == 1 and "HTTP 502 after 4 tries" in result.error["cause"]
    key = result.error["data"]["dedup_key"]
    assert f"Run the step again with incident_key={key}" in result.error["assistance"]


@pytest.mark.no_conformance
def test_a_failed_trigger_names_the_key_that_makes_a_rerun_safe(act, sandbox, connection, journal):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=10, status=502)
    failed = act("send_trigger_event", _connection={**connection, "max_retries": 0}, description="Disk full")
    key = failed.error["data"]["dedup_key"]
    assert failed.code == 1 and [e["json"]["dedup_key"] for e in journal()] == [key]
    assert f"incident_key={key}" in failed.error["assistance"] and "second" in failed.error["assistance"]
    sandbox.clear_faults()
    for _ in range(2):  # the re-run the assistance asks for, twice: still one alert
        assert act("send_trigger_event", description="Disk full", incident_key=key).output["dedup_key"] == key
    assert len(incidents_with_key(sandbox, key)) == 1


def test_a_trigger_pagerduty_refused_keeps_its_assistance(act, connection):
    unknown = {**connection, "routing_key": "0123456789abcdef0123456789abcdef"}
    result = act("send_trigger_event", _connection=unknown, description="x")
    assert result.error["data"]["dedup_key"] and "incident_key=" not in result.error["assistance"]


@pytest.mark.no_conformance
def test_a_given_incident_key_is_already_the_rerun_key(act, sandbox, connection):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=10, status=502)
    result = act("send_trigger_event", _connection={**connection, "max_retries": 0}, description="x",
                 incident_key="db-01/disk")
    assert result.error["data"]["dedup_key"] == "db-01/disk" and "incident_key=" not in result.error["assistance"]


@pytest.mark.no_conformance
def test_malformed_answer_gives_a_clear_error(act, sandbox):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=1, malformed=True)
    result = act("send_trigger_event", description="x")
    assert result.code == 1 and "not JSON" in result.error["cause"]
    assert f"incident_key={result.error['data']['dedup_key']}" in result.error["assistance"]


@pytest.mark.parametrize("context, cause", [
    ({"type": "link", "text": "Dashboard"}, "contexts[1] is a link without href"),
    ({"type": "image", "href": "https://a.example.com", "alt": "graph"}, "contexts[1] is an image without src"),
    ({"type": "image", "src": "  "}, "contexts[1] is an image without src"),
])
def test_a_context_without_its_address_is_refused_before_sending(act, journal, context, cause):
    contexts = [{"type": "link", "href": "https://a.example.com"}, context]
    result = act("send_trigger_event", description="x", contexts=contexts)
    assert result.code == 1 and result.error["cause"] == cause and journal() == []
    assert result.error["data"] == {"field": "contexts[1]"}


def test_unreachable_host_is_named(act, connection):
    closed = {**connection, "events_url": "http://127.0.0.1:9/v2", "max_retries": 0}
    result = act("send_trigger_event", _connection=closed, description="x")
    assert result.code == 1 and "127.0.0.1:9" in result.error["cause"]


@pytest.mark.no_conformance
def test_timeout_is_retried_for_events(act, sandbox, connection, journal):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=1, delay=2)
    result = act("send_trigger_event", _connection={**connection, "timeout": 1}, description="slow")
    assert result.code == 0 and "no answer in time; retry 1" in result.stderr
    deadline = time.monotonic() + 5  # the delayed first try is journaled once it is answered
    while len(journal()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first, second = [e["json"]["dedup_key"] for e in journal()]
    assert first == second


def test_event_over_512_kb_is_refused_before_sending(act, journal):
    result = act("send_trigger_event", description="big", details={f"k{i}": "x" * 60000 for i in range(9)})
    assert result.code == 1 and "512 KB" in result.error["cause"] and journal() == []


def test_missing_routing_key_is_refused_before_sending(act, connection, journal):
    no_key = {k: v for k, v in connection.items() if k != "routing_key"}
    result = act("send_trigger_event", _connection=no_key, description="x")
    assert result.code == 1 and "routing key" in result.error["cause"] and journal() == []


def test_malformed_routing_key_is_refused_before_sending(act, journal):
    result = act("send_trigger_event", description="x", service_key="not-a-key")
    assert result.code == 1 and "32 letters and digits" in result.error["cause"] and journal() == []


@pytest.mark.no_conformance
def test_an_error_page_that_is_not_json_still_reports_the_status(act, sandbox, connection):
    sandbox.add_fault(method="POST", path="/v2/enqueue", count=10, status=502, malformed=True)
    result = act("send_trigger_event", _connection={**connection, "max_retries": 0}, description="x")
    assert result.code == 1 and "HTTP 502" in result.error["cause"], result.error
