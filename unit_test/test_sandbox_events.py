"""Events API v2: validation, answers, and how alerts become incidents."""
import pytest

from openapi_conformance import checking
from pagerduty_plugin.sandbox import Sandbox
from sandbox_fixtures import Api


def _incidents_with_key(api, key):
    return api.get("/incidents", params={"incident_key": key, "date_range": "all"}).json()["incidents"]


def test_trigger_opens_incident_with_alert(module_sandbox, api):
    r = api.trigger("CPU on fire", dedup_key="host-1/cpu", links=[{"href": "https://grafana.example.com"}],
                    images=[{"src": "https://img.example.com/cpu.png", "alt": "cpu"}])
    assert r.status_code == 202
    assert r.json() == {"status": "success", "message": "Event processed", "dedup_key": "host-1/cpu"}
    [incident] = _incidents_with_key(api, "host-1/cpu")
    assert incident["title"] == "CPU on fire" and incident["status"] == "triggered"
    assert incident["service"]["id"] == module_sandbox.seed_ids["services"][0]
    assert incident["alert_counts"] == {"all": 1, "triggered": 1, "resolved": 0}
    [alert] = api.get(f"/incidents/{incident['id']}/alerts").json()["alerts"]
    assert alert["alert_key"] == "host-1/cpu" and alert["severity"] == "critical" and alert["status"] == "triggered"
    assert {c["type"] for c in alert["body"]["contexts"]} == {"link", "image"}


def test_trigger_without_dedup_key_gets_one(api):
    key = api.trigger("no key").json()["dedup_key"]
    assert len(key) == 32
    assert len(_incidents_with_key(api, key)) == 1


def test_duplicate_trigger_is_deduplicated(api):
    api.trigger("first", dedup_key="dup")
    api.trigger("second", dedup_key="dup")
    [incident] = _incidents_with_key(api, "dup")
    assert incident["alert_counts"]["all"] == 1


def test_routing_key_selects_the_service(module_sandbox, api):
    api.trigger("payments", dedup_key="pay", routing_key=module_sandbox.seed_ids["second_routing_key"])
    [incident] = _incidents_with_key(api, "pay")
    assert incident["service"]["id"] == module_sandbox.seed_ids["services"][1]


def test_acknowledge_then_resolve(api):
    api.trigger("x", dedup_key="k1")
    body = {"routing_key": api.sandbox.info["routing_key"], "dedup_key": "k1"}
    assert api.event(dict(body, event_action="acknowledge")).status_code == 202
    assert _incidents_with_key(api, "k1")[0]["status"] == "acknowledged"
    assert api.event(dict(body, event_action="resolve")).json()["dedup_key"] == "k1"
    [incident] = _incidents_with_key(api, "k1")
    assert incident["status"] == "resolved" and incident["alert_counts"]["resolved"] == 1
    types = [e["type"] for e in api.get(f"/incidents/{incident['id']}/log_entries").json()["log_entries"]]
    assert types[:2] == ["resolve_log_entry", "acknowledge_log_entry"]


def test_ack_or_resolve_with_nothing_open_is_accepted_and_changes_nothing(module_sandbox, api):
    before = api.get("/incidents", params={"total": "true"}).json()["total"]
    for action in ("acknowledge", "resolve"):
        r = api.event({"routing_key": module_sandbox.info["routing_key"], "event_action": action, "dedup_key": "ghost"})
        assert r.status_code == 202 and r.json()["dedup_key"] == "ghost"
    assert api.get("/incidents", params={"total": "true"}).json()["total"] == before


def test_trigger_after_resolve_opens_a_new_incident(api):
    api.trigger("x", dedup_key="again")
    api.event({"routing_key": api.sandbox.info["routing_key"], "event_action": "resolve", "dedup_key": "again"})
    api.trigger("x", dedup_key="again")
    incidents = _incidents_with_key(api, "again")
    assert [i["status"] for i in incidents] == ["resolved", "triggered"]
    assert incidents[1]["incident_number"] > incidents[0]["incident_number"]


def test_events_never_reopen_a_rest_resolved_incident(api):
    api.trigger("x", dedup_key="closed")
    [incident] = _incidents_with_key(api, "closed")
    assert api.update_incident(incident["id"], status="resolved").status_code == 200
    api.event({"routing_key": api.sandbox.info["routing_key"], "event_action": "acknowledge", "dedup_key": "closed"})
    assert _incidents_with_key(api, "closed")[0]["status"] == "resolved"


@pytest.mark.parametrize("mutate,needle", [
    (lambda e: e.pop("routing_key"), "routing_key"),
    (lambda e: e.update(routing_key="short"), "32 characters"),
    (lambda e: e.update(routing_key="0" * 32), "routing key"),
    (lambda e: e.update(event_action="explode"), "event_action"),
    (lambda e: e.pop("payload"), "payload"),
    (lambda e: e["payload"].pop("summary"), "payload.summary"),
    (lambda e: e["payload"].pop("source"), "payload.source"),
    (lambda e: e["payload"].update(severity="fatal"), "payload.severity"),
    (lambda e: e["payload"].update(summary="s" * 1025), "payload.summary"),
    (lambda e: e.update(dedup_key="d" * 256), "dedup_key"),
    (lambda e: e.update(event_action="resolve", dedup_key=None), "dedup_key"),
    (lambda e: e["payload"].update(timestamp="yesterday"), "timestamp"),
    (lambda e: e.update(links=[{"text": "no href"}]), "href"),
])
def test_invalid_events(module_sandbox, api, mutate, needle):
    event = {"routing_key": module_sandbox.info["routing_key"], "event_action": "trigger",
             "payload": {"summary": "s", "source": "h", "severity": "info"}}
    mutate(event)
    r = api.event(event)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "invalid event" and body["message"]
    assert any(needle in e for e in body["errors"]), body


def test_not_json_and_too_large(module_sandbox, api):
    import requests
    r = requests.post(api.events_base + "/enqueue", data=b"{oops", timeout=5)
    assert r.status_code == 400 and r.json()["status"] == "invalid event"
    big = {"routing_key": module_sandbox.info["routing_key"], "event_action": "trigger",
           "payload": {"summary": "s", "source": "h", "severity": "info", "custom_details": {"x": "y" * 600000}}}
    assert api.event(big).status_code == 400


def test_change_events(module_sandbox, api):
    before = api.get("/incidents", params={"total": "true"}).json()["total"]
    r = api.event({"routing_key": module_sandbox.info["routing_key"],
                   "payload": {"summary": "Deployed v42", "source": "ci", "timestamp": "2026-01-01T00:00:00+0000"},
                   "links": [{"href": "https://ci.example.com/42"}]}, path="/change/enqueue")
    assert r.status_code == 202 and r.json()["status"] == "success"
    assert api.get("/incidents", params={"total": "true"}).json()["total"] == before
    bad = api.event({"routing_key": module_sandbox.info["routing_key"], "payload": {}}, path="/change/enqueue")
    assert bad.status_code == 400


def test_service_in_maintenance_opens_nothing(module_sandbox, api):
    service = module_sandbox.seed_ids["services"][0]
    r = api.post("/maintenance_windows", json={"maintenance_window": {
        "type": "maintenance_window", "start_time": "2020-01-01T00:00:00Z", "end_time": "2099-01-01T00:00:00Z",
        "services": [{"id": service, "type": "service_reference"}]}})
    assert r.status_code == 201
    assert api.trigger("quiet", dedup_key="mw").status_code == 202
    assert _incidents_with_key(api, "mw") == []
    assert api.get(f"/services/{service}").json()["service"]["status"] == "maintenance"


def test_events_rate_limit_answers_bare_429(request):
    with Sandbox(rate_limit=2) as sb, checking(sb, request):
        api = Api(sb)
        codes = [api.trigger("x").status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        r = api.trigger("x")
        assert "ratelimit-limit" not in r.headers
        assert api.trigger("x", routing_key=sb.seed_ids["second_routing_key"]).status_code == 202


def test_event_answers_carry_no_rest_ratelimit_headers(api):
    """Only the REST API sends ratelimit-*; an Events API answer never does (PagerDuty's own behaviour)."""
    accepted, refused = api.trigger("counted"), api.event({})
    assert (accepted.status_code, refused.status_code) == (202, 400)
    for answer in (accepted, refused):
        assert not {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} & set(answer.headers)
    assert "ratelimit-limit" in api.get("/users").headers


def test_generated_dedup_keys_never_repeat_across_resets(sandbox, api):
    """A client that kept a generated key must never find it on a new alert after a reset."""
    seen = set()
    for _ in range(3):
        sandbox.reset()
        answers = [api.trigger(f"no key {i}").json()["dedup_key"] for i in range(3)]
        made = api.create_incident("REST-made")["incident_key"]
        assert not (set(answers) | {made}) & seen
        seen |= set(answers) | {made}
    assert len(seen) == 12 and all(len(key) == 32 for key in seen)
