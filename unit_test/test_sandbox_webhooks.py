"""The sandbox as PagerDuty's side of webhooks v3: subscriptions over REST, and signed deliveries of
incident changes to a receiver of the test's own (which checks every signature with hmac itself)."""
import time

import pytest

from pagerduty_plugin.sandbox import Sandbox
from sandbox_fixtures import Api, error_code
from webhook_receiver import Receiver

ALL_INCIDENT_EVENTS = [
    "incident.acknowledged", "incident.annotated", "incident.delegated", "incident.escalated",
    "incident.priority_updated", "incident.reassigned", "incident.reopened", "incident.resolved",
    "incident.responder.added", "incident.status_update_published", "incident.triggered",
    "incident.unacknowledged",
]


@pytest.fixture
def receiver(module_sandbox):
    module_sandbox.webhooks.policy.update(backoff=0.05, backoff_cap=0.2, max_attempts=5, timeout=5)
    with Receiver() as server:
        yield server
    module_sandbox.wait_webhooks(5)


def subscribe(api, receiver, events=None, filter_=None, url=None, **fields):
    body = {"webhook_subscription": {
        "type": "webhook_subscription",
        "delivery_method": {"type": "http_delivery_method", "url": url or receiver.url,
                            "custom_headers": [{"name": "X-Test-Header", "value": "from-the-subscription"}]},
        "events": events or ALL_INCIDENT_EVENTS,
        "filter": filter_ or {"type": "account_reference"}, **fields}}
    answer = api.post("/webhook_subscriptions", json=body)
    assert answer.status_code == 200, answer.text
    sub = answer.json()["webhook_subscription"]
    receiver.secrets.append(sub["delivery_method"]["secret"])
    return sub


def types_of(events):
    return [e["event_type"] for e in events]


# --- subscriptions over REST ---------------------------------------------------------------------
def test_create_answers_the_secret_once(api, receiver):
    sub = subscribe(api, receiver, description="runbooks")
    secret = sub["delivery_method"]["secret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert sub["type"] == "webhook_subscription" and sub["active"] is True
    assert sub["delivery_method"]["temporarily_disabled"] is False
    assert sub["delivery_method"]["custom_headers"] == [{"name": "X-Test-Header", "value": "-- redacted --"}]
    shown = api.get(f"/webhook_subscriptions/{sub['id']}").json()["webhook_subscription"]
    assert shown["delivery_method"]["secret"] is None
    assert {**shown, "delivery_method": None} == {**sub, "delivery_method": None}
    listed = api.get("/webhook_subscriptions").json()
    assert [s["delivery_method"]["secret"] for s in listed["webhook_subscriptions"]] == [None]
    assert listed["more"] is False and listed["limit"] == 25
    assert secret not in api.put(f"/webhook_subscriptions/{sub['id']}",
                                 json={"webhook_subscription": {"description": "x"}}).text


def test_list_filters_by_scope(api, receiver, module_sandbox):
    service_id = module_sandbox.seed_ids["services"][1]
    account = subscribe(api, receiver)
    on_service = subscribe(api, receiver, filter_={"type": "service_reference", "id": service_id})

    def ids(**params):
        answer = api.get("/webhook_subscriptions", params=params)
        assert answer.status_code == 200, answer.text
        return [s["id"] for s in answer.json()["webhook_subscriptions"]]

    assert ids() == [account["id"], on_service["id"]]
    assert ids(filter_type="service", filter_id=service_id) == [on_service["id"]]
    assert ids(filter_type="account") == [account["id"]]
    assert ids(filter_type="team", filter_id=module_sandbox.seed_ids["teams"][0]) == []
    assert api.get("/webhook_subscriptions", params={"filter_type": "service"}).status_code == 400
    assert api.get("/webhook_subscriptions", params={"filter_type": "galaxy"}).status_code == 400


def test_update_delete_and_not_found(api, receiver):
    sub = subscribe(api, receiver)
    changed = api.put(f"/webhook_subscriptions/{sub['id']}",
                      json={"webhook_subscription": {"events": ["incident.resolved"], "active": False}})
    assert changed.status_code == 200
    assert changed.json()["webhook_subscription"]["events"] == ["incident.resolved"]
    assert changed.json()["webhook_subscription"]["active"] is False
    refused = api.put(f"/webhook_subscriptions/{sub['id']}", json={"webhook_subscription": {
        "delivery_method": {"type": "http_delivery_method", "url": "http://127.0.0.1:9/x"}}})
    assert refused.status_code == 400 and error_code(refused) == 2001
    bad = api.put(f"/webhook_subscriptions/{sub['id']}",
                  json={"webhook_subscription": {"events": ["incident.resolved"], "active": "yes"}})
    assert bad.status_code == 400
    unchanged = api.get(f"/webhook_subscriptions/{sub['id']}").json()["webhook_subscription"]
    assert unchanged["events"] == ["incident.resolved"] and unchanged["active"] is False
    gone = api.delete(f"/webhook_subscriptions/{sub['id']}")
    assert gone.status_code == 204 and gone.content == b""
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/enable"), ("POST", "/ping")):
        answer = api.request(method, f"/webhook_subscriptions/{sub['id']}{path}")
        assert answer.status_code == 404 and error_code(answer) == 2100


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(events=["incident.exploded"]), "unknown event types"),
    (lambda s: s.update(events=[]), "non-empty"),
    (lambda s: s.update(events=["incident.triggered", "incident.triggered"]), "repeat"),
    (lambda s: s["delivery_method"].update(url="ftp://example.com/x"), "http or https URL"),
    (lambda s: s["delivery_method"].update(url="not a url"), "http or https URL"),
    (lambda s: s["delivery_method"].update(type="email_delivery_method"), "delivery_method.type"),
    (lambda s: s["delivery_method"].update(custom_headers=[{"name": "Bad Name", "value": "x"}]), "header name"),
    (lambda s: s["delivery_method"].update(custom_headers=[{"name": "X-A", "value": "a\r\nX-B: b"}]), "one line"),
    (lambda s: s["delivery_method"].update(custom_headers=[{"name": "X-A", "value": "1"},
                                                           {"name": "x-a", "value": "2"}]), "unique"),
    (lambda s: s.update(filter={"type": "service_reference"}), "filter.id is required"),
    (lambda s: s.update(filter={"type": "service_reference", "id": "PNOPE00"}), "does not exist"),
    (lambda s: s.update(filter={"type": "galaxy_reference"}), "filter.type"),
    (lambda s: s.pop("filter"), "filter is required"),
    (lambda s: s.pop("type"), "type is required"),
])
def test_create_refuses_bad_input(api, change, message):
    body = {"type": "webhook_subscription", "events": ["incident.triggered"], "filter": {"type": "account_reference"},
            "delivery_method": {"type": "http_delivery_method", "url": "http://127.0.0.1:9/hook"}}
    change(body)
    answer = api.post("/webhook_subscriptions", json={"webhook_subscription": body})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == 2001
    assert any(message in text for text in answer.json()["error"]["errors"]), answer.json()
    assert api.get("/webhook_subscriptions").json()["webhook_subscriptions"] == []


def test_at_most_ten_per_scope(api, receiver, module_sandbox):
    for _ in range(10):
        subscribe(api, receiver)
    body = {"webhook_subscription": {"type": "webhook_subscription", "events": ["incident.triggered"],
                                     "filter": {"type": "account_reference"},
                                     "delivery_method": {"type": "http_delivery_method", "url": receiver.url}}}
    refused = api.post("/webhook_subscriptions", json=body)
    assert refused.status_code == 400 and "At most 10" in refused.json()["error"]["errors"][0]
    body["webhook_subscription"]["filter"] = {"type": "service_reference", "id": module_sandbox.seed_ids["services"][0]}
    assert api.post("/webhook_subscriptions", json=body).status_code == 200   # another scope has room


def test_read_only_key_cannot_write(module_sandbox):
    readonly = Api(module_sandbox, key=module_sandbox.readonly_api_key)
    answer = readonly.post("/webhook_subscriptions", json={"webhook_subscription": {}})
    assert answer.status_code == 403
    assert readonly.get("/webhook_subscriptions").status_code == 200


# --- deliveries ------------------------------------------------------------------------------------
def test_trigger_through_events_delivers_a_signed_webhook(api, receiver, module_sandbox):
    sub = subscribe(api, receiver)
    dedup = api.trigger("disk full on db-1", dedup_key="db-1/disk").json()["dedup_key"]
    [hook] = receiver.wait_for(1)
    assert hook.signed, "the signature must be HMAC-SHA256(secret, raw body), v1=<hex>"
    assert hook.headers["X-PagerDuty-Signature"].startswith("v1=")
    assert hook.headers["Content-Type"] == "application/json"
    assert hook.headers["User-Agent"] == "PagerDuty-Webhook/V3.0"
    assert hook.headers["X-Webhook-Subscription"] == sub["id"]
    assert hook.headers["X-Test-Header"] == "from-the-subscription"   # not redacted on the wire
    assert hook.path == "/webhooks/pagerduty"
    event = hook.event
    assert set(event) == {"id", "event_type", "resource_type", "occurred_at", "agent", "client", "data"}
    assert event["event_type"] == "incident.triggered" and event["resource_type"] == "incident"
    assert event["occurred_at"].endswith("Z") and len(event["id"]) == 26
    assert event["agent"]["type"] == "service_reference"
    data = event["data"]
    [incident] = api.get("/incidents", params={"incident_key": dedup}).json()["incidents"]
    assert data["type"] == "incident" and data["id"] == incident["id"]
    assert data["number"] == incident["incident_number"] and data["title"] == "disk full on db-1"
    assert data["status"] == "triggered" and data["incident_key"] == "db-1/disk"
    assert data["service"]["id"] == incident["service"]["id"]
    assert data["service"]["type"] == "service_reference"
    assert [a["id"] for a in data["assignees"]] == [a["assignee"]["id"] for a in incident["assignments"]]
    assert data["escalation_policy"]["id"] == incident["escalation_policy"]["id"]
    assert [t["id"] for t in data["teams"]] == [t["id"] for t in incident["teams"]]
    assert data["urgency"] == "high" and data["priority"] is None and data["resolve_reason"] is None
    assert module_sandbox.wait_webhooks(5)
    [record] = module_sandbox.webhook_deliveries()
    assert record["status"] == "delivered" and record["webhook_id"] == hook.webhook_id
    assert record["attempts"][0]["status_code"] == 202
    assert sub["delivery_method"]["secret"] not in str(record)


def test_trigger_through_rest_names_the_user(api, receiver, module_sandbox):
    subscribe(api, receiver, events=["incident.triggered"])
    incident = api.create_incident("Checkout is down", urgency="low")
    [hook] = receiver.wait_for(1)
    assert hook.signed and hook.event["data"]["id"] == incident["id"]
    assert hook.event["data"]["urgency"] == "low"
    assert hook.event["agent"]["type"] == "user_reference"
    assert hook.event["agent"]["id"] == module_sandbox.seed_ids["users"]["admin"]


def test_acknowledge_note_and_resolve_each_deliver(api, receiver):
    subscribe(api, receiver)
    incident = api.create_incident("Queue backlog")
    assert api.update_incident(incident["id"], status="acknowledged").status_code == 200
    note = api.post(f"/incidents/{incident['id']}/notes", json={"note": {"content": "looking at it"}})
    assert note.status_code == 200
    assert api.update_incident(incident["id"], status="resolved").status_code == 200
    hooks = receiver.wait_for(4)
    assert types_of(h.event for h in hooks) == ["incident.triggered", "incident.acknowledged",
                                                "incident.annotated", "incident.resolved"]
    assert all(h.signed for h in hooks)
    assert hooks[1].event["data"]["status"] == "acknowledged"
    annotated = hooks[2].event["data"]
    assert annotated == {"incident": annotated["incident"], "id": note.json()["note"]["id"],
                         "content": "looking at it", "trimmed": False, "type": "incident_note"}
    assert annotated["incident"]["id"] == incident["id"]
    assert annotated["incident"]["type"] == "incident_reference"
    assert hooks[3].event["data"]["status"] == "resolved"
    assert len({h.webhook_id for h in hooks}) == 4 and len({h.event["id"] for h in hooks}) == 4


def test_events_api_acknowledge_and_resolve_deliver(api, receiver):
    subscribe(api, receiver, events=["incident.acknowledged", "incident.resolved"])
    api.trigger("flapping", dedup_key="flap")
    for action in ("acknowledge", "resolve"):
        body = {"routing_key": api.sandbox.info["routing_key"], "event_action": action, "dedup_key": "flap"}
        assert api.event(body).status_code == 202
    hooks = receiver.wait_for(2)
    assert types_of(h.event for h in hooks) == ["incident.acknowledged", "incident.resolved"]
    assert hooks[1].event["agent"]["type"] == "service_reference"


def test_every_change_the_api_makes_has_its_event(api, receiver, module_sandbox):
    subscribe(api, receiver)
    ids = module_sandbox.seed_ids
    incident = api.create_incident("Everything at once")
    path = f"/incidents/{incident['id']}"
    priority = api.get("/priorities").json()["priorities"][0]
    users = api.get("/users").json()["users"]
    other_user = next(u["id"] for u in users if u["id"] != ids["users"]["admin"])
    policies = api.get("/escalation_policies").json()["escalation_policies"]
    other_policy = next(p["id"] for p in policies if p["id"] != incident["escalation_policy"]["id"])
    steps = [
        api.update_incident(incident["id"], priority={"id": priority["id"], "type": "priority_reference"}),
        api.update_incident(incident["id"], assignments=[{"assignee": {"id": other_user,
                                                                       "type": "user_reference"}}]),
        api.update_incident(incident["id"], escalation_policy={"id": other_policy,
                                                               "type": "escalation_policy_reference"}),
        api.update_incident(incident["id"], escalation_level=2),
        api.update_incident(incident["id"], status="acknowledged"),
        api.update_incident(incident["id"], status="triggered"),
        api.post(f"{path}/status_updates", json={"message": "Fix is rolling out"}),
        api.post(f"{path}/responder_requests", json={
            "requester_id": ids["users"]["admin"], "message": "need a DBA",
            "responder_request_targets": [{"responder_request_target": {"id": other_user,
                                                                        "type": "user_reference"}}]}),
        api.update_incident(incident["id"], status="resolved"),
        api.update_incident(incident["id"], status="triggered"),
    ]
    assert all(answer.status_code in (200, 201) for answer in steps), [a.text for a in steps if a.status_code >= 300]
    expected = ["incident.triggered", "incident.priority_updated", "incident.reassigned", "incident.delegated",
                "incident.escalated", "incident.acknowledged", "incident.unacknowledged",
                "incident.status_update_published", "incident.responder.added", "incident.resolved",
                "incident.reopened"]
    hooks = receiver.wait_for(len(expected))
    assert types_of(h.event for h in hooks) == expected
    by_type = {h.event["event_type"]: h.event["data"] for h in hooks}
    assert by_type["incident.priority_updated"]["priority"]["id"] == priority["id"]
    assert [a["id"] for a in by_type["incident.reassigned"]["assignees"]] == [other_user]
    assert by_type["incident.delegated"]["escalation_policy"]["id"] == other_policy
    status_update = by_type["incident.status_update_published"]
    assert status_update["type"] == "incident_status_update" and status_update["message"] == "Fix is rolling out"
    responder = by_type["incident.responder.added"]
    assert responder["type"] == "incident_responder" and responder["user"]["id"] == other_user
    assert responder["state"] == "pending" and responder["message"] == "need a DBA"
    assert by_type["incident.reopened"]["status"] == "triggered"


def test_merge_resolves_the_sources_with_a_reason(api, receiver):
    subscribe(api, receiver, events=["incident.resolved"])
    target, source = api.create_incident("target"), api.create_incident("source")
    answer = api.put(f"/incidents/{target['id']}/merge", json={"source_incidents": [
        {"id": source["id"], "type": "incident_reference"}]})
    assert answer.status_code == 200
    [hook] = receiver.wait_for(1)
    assert hook.event["data"]["id"] == source["id"]
    assert hook.event["data"]["resolve_reason"]["incident"]["id"] == target["id"]


def test_service_and_team_filters(api, receiver, module_sandbox):
    services = module_sandbox.seed_ids["services"]
    first = api.get(f"/services/{services[0]}").json()["service"]
    second = next(s for s in api.get("/services").json()["services"]
                  if s["id"] != first["id"] and {t["id"] for t in s["teams"]} != {t["id"] for t in first["teams"]})
    subscribe(api, receiver, events=["incident.triggered"], filter_={"type": "service_reference", "id": second["id"]})
    subscribe(api, receiver, events=["incident.triggered"],
              filter_={"type": "team_reference", "id": first["teams"][0]["id"]})
    on_first = api.create_incident("on the first service", service_id=first["id"])
    on_second = api.create_incident("on the second service", service_id=second["id"])
    hooks = receiver.wait_for(2)
    module_sandbox.wait_webhooks(5)
    got = {(h.headers["X-Webhook-Subscription"], h.event["data"]["id"]) for h in receiver.received}
    subs = [s["id"] for s in api.get("/webhook_subscriptions").json()["webhook_subscriptions"]]
    assert got == {(subs[0], on_second["id"]), (subs[1], on_first["id"])}
    assert len(receiver.received) == 2 and all(h.signed for h in hooks)


def test_only_the_subscribed_types_and_active_subscriptions(api, receiver, module_sandbox):
    sub = subscribe(api, receiver, events=["incident.resolved"])
    incident = api.create_incident("quiet")
    api.put(f"/webhook_subscriptions/{sub['id']}", json={"webhook_subscription": {"active": False}})
    api.update_incident(incident["id"], status="resolved")
    assert module_sandbox.wait_webhooks(5)
    assert receiver.received == [] and module_sandbox.webhook_deliveries() == []


def test_retry_on_500_then_success_keeps_the_webhook_id(api, receiver, module_sandbox):
    subscribe(api, receiver, events=["incident.triggered"])
    receiver.answers = [500, 503, 429]
    api.create_incident("flaky receiver")
    hooks = receiver.wait_for(4)
    assert [h.status for h in hooks] == [500, 503, 429, 202]
    assert len({h.webhook_id for h in hooks}) == 1 and len({h.event["id"] for h in hooks}) == 1
    assert all(h.raw == hooks[0].raw and h.signed for h in hooks)
    module_sandbox.wait_webhooks(5)
    [record] = module_sandbox.webhook_deliveries()
    assert record["status"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [500, 503, 429, 202]
    gaps = [b["at"] - a["at"] for a, b in zip(record["attempts"], record["attempts"][1:])]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09, gaps   # back-off: 0.05 s, doubling


def test_4xx_is_dropped_and_three_drops_disable(api, receiver, module_sandbox):
    sub = subscribe(api, receiver, events=["incident.triggered", "incident.acknowledged"])
    receiver.answers = [400, 410, 404]
    incidents = [api.create_incident(f"refused {i}") for i in range(3)]
    receiver.wait_for(3)
    assert module_sandbox.wait_webhooks(5)
    assert [r["status"] for r in module_sandbox.webhook_deliveries()] == ["dropped"] * 3
    assert all(len(r["attempts"]) == 1 for r in module_sandbox.webhook_deliveries())   # no retry of a 4xx
    shown = api.get(f"/webhook_subscriptions/{sub['id']}").json()["webhook_subscription"]
    assert shown["delivery_method"]["temporarily_disabled"] is True
    api.update_incident(incidents[0]["id"], status="acknowledged")   # not sent while disabled
    assert module_sandbox.wait_webhooks(5) and len(receiver.received) == 3
    enabled = api.post(f"/webhook_subscriptions/{sub['id']}/enable")
    assert enabled.status_code == 200
    assert enabled.json()["webhook_subscription"]["delivery_method"]["temporarily_disabled"] is False
    assert enabled.json()["webhook_subscription"]["delivery_method"]["secret"] is None
    api.update_incident(incidents[1]["id"], status="acknowledged")
    [*_, hook] = receiver.wait_for(4)
    assert hook.event["event_type"] == "incident.acknowledged" and hook.status == 202


def test_a_success_resets_the_drop_count(api, receiver, module_sandbox):
    sub = subscribe(api, receiver, events=["incident.triggered"])
    receiver.answers = [400, 400, 202, 400, 400]
    for i in range(5):
        api.create_incident(f"mixed {i}")
    receiver.wait_for(5)
    module_sandbox.wait_webhooks(5)
    shown = api.get(f"/webhook_subscriptions/{sub['id']}").json()["webhook_subscription"]
    assert shown["delivery_method"]["temporarily_disabled"] is False


def test_ping_delivers_pagey_ping(api, receiver, module_sandbox):
    sub = subscribe(api, receiver, events=["incident.resolved"])
    answer = api.post(f"/webhook_subscriptions/{sub['id']}/ping")
    assert answer.status_code == 202 and answer.content == b""
    [hook] = receiver.wait_for(1)
    assert hook.signed
    assert hook.event["event_type"] == "pagey.ping" and hook.event["resource_type"] == "pagey"
    assert hook.event["agent"] is None and hook.event["client"] is None
    assert hook.event["data"] == {"message": "Hello from your friend Pagey!", "type": "ping"}


def test_order_per_incident_survives_retries(api, receiver, module_sandbox):
    subscribe(api, receiver)
    receiver.answers = [500, 500]          # the trigger is retried twice; what follows waits behind it
    incident = api.create_incident("in order")
    for status in ("acknowledged", "triggered", "acknowledged", "resolved"):
        assert api.update_incident(incident["id"], status=status).status_code == 200
    module_sandbox.wait_webhooks(10)
    delivered = [h.event["event_type"] for h in receiver.received if h.status == 202]
    assert delivered == ["incident.triggered", "incident.acknowledged", "incident.unacknowledged",
                         "incident.acknowledged", "incident.resolved"]
    assert [h.status for h in receiver.received[:3]] == [500, 500, 202]


def test_timeouts_and_refused_connections_are_retried(api, receiver, module_sandbox):
    module_sandbox.webhooks.policy.update(timeout=0.3, max_attempts=5)
    subscribe(api, receiver, events=["incident.triggered"])
    receiver.delay = 0.6
    api.create_incident("slow receiver")
    time.sleep(0.5)
    receiver.delay = 0
    assert module_sandbox.wait_webhooks(10)
    [record] = module_sandbox.webhook_deliveries()
    assert record["status"] == "delivered"
    assert record["attempts"][0]["status_code"] is None and "timed out" in record["attempts"][0]["error"]
    # nobody listening: every try refused, then given up (counted as a drop)
    module_sandbox.reset()
    module_sandbox.webhooks.policy.update(max_attempts=3)
    dead = subscribe(api, receiver, events=["incident.triggered"], url="http://127.0.0.1:9/nobody")
    api.create_incident("nobody home")
    assert module_sandbox.wait_webhooks(10)
    [record] = module_sandbox.webhook_deliveries()
    assert record["status"] == "failed" and len(record["attempts"]) == 3
    assert all(a["status_code"] is None and "Refused" in a["error"] for a in record["attempts"])
    assert api.get(f"/webhook_subscriptions/{dead['id']}").json()["webhook_subscription"]["active"] is True


def test_other_hosts_are_never_contacted(api, receiver, module_sandbox):
    subscribe(api, receiver, events=["incident.triggered"], url="https://hooks.example.com/pagerduty")
    api.create_incident("stays on this machine")
    assert module_sandbox.wait_webhooks(5)
    [record] = module_sandbox.webhook_deliveries()
    assert record["status"] == "skipped" and "loopback" in record["attempts"][0]["error"]


def test_deleting_a_subscription_cancels_its_queue(api, receiver, module_sandbox):
    sub = subscribe(api, receiver, events=["incident.triggered"])
    module_sandbox.webhooks.policy.update(backoff=1.0)
    receiver.answers = [503]
    api.create_incident("never delivered")
    receiver.wait_for(1)
    assert api.delete(f"/webhook_subscriptions/{sub['id']}").status_code == 204
    assert module_sandbox.wait_webhooks(5)
    assert [r["status"] for r in module_sandbox.webhook_deliveries()] == ["cancelled"]


def test_hook_lists_deliveries_and_sets_the_policy(api, receiver, module_sandbox):
    import requests
    base = module_sandbox.info["api_url"] + "/_sandbox/webhooks"
    sub = subscribe(api, receiver, events=["incident.triggered"])
    api.create_incident("seen by the hook")
    listing = requests.get(base, params={"wait": "5"}, timeout=10).json()
    assert listing["pending"] == 0 and listing["deliveries"][0]["status"] == "delivered"
    assert sub["delivery_method"]["secret"] not in str(listing)
    answer = requests.post(base + "/policy", json={"backoff": 0.01, "max_attempts": 2}, timeout=10)
    assert answer.status_code == 200 and answer.json()["policy"]["max_attempts"] == 2
    assert requests.post(base + "/policy", json={"max_attempts": 0}, timeout=10).status_code == 400
    assert requests.post(base + "/policy", json={"colour": 1}, timeout=10).status_code == 400


def test_stopping_the_sandbox_stops_a_delivery_in_flight():
    with Receiver() as receiver:
        server = Sandbox(seed="demo").start()
        api = Api(server)
        subscribe(api, receiver, events=["incident.triggered"])
        receiver.delay = 3
        api.create_incident("hanging receiver")
        assert receiver.arrived.wait(5)
        worker = server.webhooks._thread
        server.stop()
        assert not worker.is_alive()  # stop() returned with the receiver still hanging: the worker did not wait


def test_seeded_incidents_send_nothing(api, receiver, module_sandbox):
    subscribe(api, receiver, events=["incident.triggered"])
    module_sandbox.seed_incidents(20)
    assert module_sandbox.wait_webhooks(5) and module_sandbox.webhook_deliveries() == []


def test_service_changes_deliver_service_events(api, receiver, module_sandbox):
    subscribe(api, receiver, events=["service.created", "service.updated", "service.deleted"])
    policy = api.get("/escalation_policies").json()["escalation_policies"][0]
    made = api.post("/services", json={"service": {"type": "service", "name": "Webhooked", "escalation_policy": {
        "id": policy["id"], "type": "escalation_policy_reference"}}})
    assert made.status_code == 201, made.text
    service_id = made.json()["service"]["id"]
    assert api.put(f"/services/{service_id}", json={"service": {"description": "now described"}}).status_code == 200
    assert api.delete(f"/services/{service_id}").status_code == 204
    hooks = receiver.wait_for(3)
    assert types_of(h.event for h in hooks) == ["service.created", "service.updated", "service.deleted"]
    data = hooks[0].event["data"]
    assert data["type"] == "service" and data["id"] == service_id and data["summary"] == "Webhooked"
    assert hooks[0].event["resource_type"] == "service" and all(h.signed for h in hooks)


def test_the_journal_masks_custom_header_values(api, receiver, module_sandbox):
    subscribe(api, receiver)
    [entry] = [e for e in module_sandbox.journal() if e["path"] == "/webhook_subscriptions"]
    assert entry["json"]["webhook_subscription"]["delivery_method"]["custom_headers"] == [
        {"name": "X-Test-Header", "value": "***"}]


def test_user_and_password_in_the_url_are_sent_as_basic_auth(api, receiver, module_sandbox):
    url = receiver.url.replace("http://", "http://hook%40user:s3cret@")
    subscribe(api, receiver, events=["incident.triggered"], url=url)
    api.create_incident("behind basic auth")
    [hook] = receiver.wait_for(1)
    assert hook.headers["Authorization"] == "Basic aG9va0B1c2VyOnMzY3JldA=="   # hook@user:s3cret
    assert module_sandbox.wait_webhooks(5)
    assert "s3cret" not in str(module_sandbox.webhook_deliveries())


@pytest.mark.parametrize("url", ["http://[::1]:9/hook", "https://hooks.example.com:8443/pd?x=1",
                                 "http://localhost/x"])
def test_urls_pagerduty_accepts(api, url):
    body = {"type": "webhook_subscription", "events": ["incident.triggered"], "filter": {"type": "account_reference"},
            "delivery_method": {"type": "http_delivery_method", "url": url}}
    answer = api.post("/webhook_subscriptions", json={"webhook_subscription": body})
    assert answer.status_code == 200, answer.text
    assert answer.json()["webhook_subscription"]["delivery_method"]["url"] == url
