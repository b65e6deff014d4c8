"""Webhook subscription actions through the CLI against the sandbox: the signing secret answered once
(in the output, never in a log), scopes by name, and bad input that sends no request. A receiver of the
test's own checks that the subscription made by the action really gets signed webhooks."""

import pytest
import requests
from conftest import invoke, start_message
from test_services import HOSTILE_IDS, api, assert_hostile_id_sends_nothing, assert_read_only_key_refused  # helpers; the fixtures are conftest.py's
from webhook_receiver import Receiver

from pagerduty_plugin.logs import StepLog, keep_out_of_logs, step_logger

ID_ACTIONS = ["get_webhook_subscription", "update_webhook_subscription", "delete_webhook_subscription",
              "enable_webhook_subscription", "ping_webhook_subscription"]


@pytest.fixture
def receiver(sandbox):
    sandbox.webhooks.policy.update(backoff=0.05, backoff_cap=0.2)
    with Receiver() as server:
        yield server
    sandbox.wait_webhooks(5)


@pytest.fixture
def subscribe(step, receiver):
    """subscribe(**input) -> the create step's output, its secret registered with the receiver."""
    def make(**values):
        result, _ = step("create_webhook_subscription", **{"url": receiver.url, **values})
        output = result.output
        receiver.secrets.append(output["signing_secret"])
        return output
    return make


def trigger(sandbox, summary="disk full"):
    body = {"routing_key": sandbox.info["routing_key"], "event_action": "trigger",
            "payload": {"summary": summary, "source": "db-1", "severity": "critical"}}
    assert requests.post(sandbox.info["events_url"] + "/enqueue", json=body, timeout=5).status_code == 202


@pytest.mark.full_answers  # the contract's example create answer shows no delivery_method.secret, which PagerDuty answers on create
def test_create_answers_the_secret_once_and_webhooks_arrive_signed(step, receiver, sandbox):
    result, sent = step("create_webhook_subscription", url=receiver.url, description="runbooks",
                        events="incident.triggered, incident.resolved", custom_headers={"X-Routing": "ops"})
    output = result.output
    secret = output["signing_secret"]
    assert len(secret) >= 32 and "only once" in output["signing_secret_note"]
    made = output["webhook_subscription"]
    assert made["delivery_method"]["secret"] is None and made["delivery_method"]["url"] == receiver.url
    assert made["events"] == ["incident.triggered", "incident.resolved"]
    assert made["filter"] == {"type": "account_reference"}
    assert result.stdout.count(secret) == 1, "the secret is in the output once (signing_secret)"
    assert [(e["method"], e["path"]) for e in sent] == [("POST", "/webhook_subscriptions")]
    assert sent[0]["json"] == {"webhook_subscription": {
        "type": "webhook_subscription", "description": "runbooks",
        "delivery_method": {"type": "http_delivery_method", "url": receiver.url,
                            "custom_headers": [{"name": "X-Routing", "value": "***"}]},   # masked in the journal
        "events": ["incident.triggered", "incident.resolved"], "filter": {"type": "account_reference"}}}
    receiver.secrets.append(secret)
    trigger(sandbox)
    [hook] = receiver.wait_for(1)
    assert hook.signed and hook.event["event_type"] == "incident.triggered"
    assert hook.headers["X-Webhook-Subscription"] == made["id"] and hook.headers["X-Routing"] == "ops"
    shown, _ = step("get_webhook_subscription", webhook_subscription_id=made["id"])
    assert shown.output["webhook_subscription"]["delivery_method"]["secret"] is None
    assert secret not in shown.stdout


@pytest.mark.full_answers  # the contract's example create answer shows no delivery_method.secret, which PagerDuty answers on create
@pytest.mark.parametrize("mode", ["message", "plain"])
def test_the_secret_never_reaches_a_log(sandbox, connection, receiver, act, mode):
    values = {"url": receiver.url}
    if mode == "message":
        result = invoke(["run", "--debug"], start_message("create_webhook_subscription", values, connection))
        body = result.doc["body"]
        secret, log = body["output"]["signing_secret"], body["log"]
        assert "POST /webhook_subscriptions" in log      # the debug log was written...
        assert secret not in log                          # ...without the secret
    else:
        result = act.plain("create_webhook_subscription", values)
        secret = result.output["signing_secret"]
    assert secret not in result.stderr
    assert result.stdout.count(secret) == 1


def test_a_received_secret_is_masked_in_the_log_only():
    handler = StepLog()
    log = step_logger(handler)
    keep_out_of_logs(log, "canary-signing-secret")
    log.warning("PagerDuty answered canary-signing-secret")
    assert "canary-signing-secret" not in handler.text() and "********" in handler.text()
    assert handler.secrets == set()     # what the command prints keeps it (the step's output needs it)


@pytest.mark.full_answers  # the contract's example create answer shows no delivery_method.secret, which PagerDuty answers on create
def test_scopes_by_service_and_team_name(step, subscribe, sandbox):
    service = api(sandbox, "GET", "/services")["services"][0]
    team = api(sandbox, "GET", "/teams")["teams"][0]
    on_service = subscribe(service=service["name"])["webhook_subscription"]
    assert on_service["filter"] == {"type": "service_reference", "id": service["id"]}
    on_team = subscribe(team=team["name"].upper(), events=["incident.annotated"])["webhook_subscription"]
    assert on_team["filter"] == {"type": "team_reference", "id": team["id"]}
    result, sent = step("list_webhook_subscriptions", service=service["id"])
    assert [s["id"] for s in result.output["webhook_subscriptions"]] == [on_service["id"]]
    assert sent[0]["query"] == {"filter_type": ["service"], "filter_id": [service["id"]],
                                "limit": ["100"], "offset": ["0"]}
    everything, _ = step("list_webhook_subscriptions", max_results=1)
    assert everything.output["count"] == 1 and everything.output["truncated"] is True
    account, _ = step("list_webhook_subscriptions", account_only=True)
    assert account.output["webhook_subscriptions"] == []


@pytest.mark.full_answers  # the contract's example create answer shows no delivery_method.secret, which PagerDuty answers on create
def test_update_delete_and_not_found(step, subscribe):
    sub = subscribe()["webhook_subscription"]
    changed, sent = step("update_webhook_subscription", webhook_subscription_id=sub["id"],
                         events=["incident.resolved"], active=False)
    assert changed.output["webhook_subscription"]["events"] == ["incident.resolved"]
    assert changed.output["webhook_subscription"]["active"] is False
    assert sent[0]["json"] == {"webhook_subscription": {"active": False, "events": ["incident.resolved"]}}
    gone, _ = step("delete_webhook_subscription", webhook_subscription_id=sub["id"])
    assert gone.output == {"success": True}
    missing, _ = step("get_webhook_subscription", webhook_subscription_id=sub["id"])
    assert missing.code == 1 and missing.error["data"]["status"] == 404


@pytest.mark.full_answers  # the contract's example create answer shows no delivery_method.secret, which PagerDuty answers on create
def test_ping_delivers_pagey_ping(step, subscribe, receiver):
    sub = subscribe(events=["incident.resolved"])["webhook_subscription"]
    result, sent = step("ping_webhook_subscription", webhook_subscription_id=sub["id"])
    assert result.output == {"success": True, "webhook_subscription_id": sub["id"]}
    assert [(e["method"], e["path"], e["status"]) for e in sent] == [
        ("POST", f"/webhook_subscriptions/{sub['id']}/ping", 202)]
    [hook] = receiver.wait_for(1)
    assert hook.signed and hook.event["event_type"] == "pagey.ping"


@pytest.mark.full_answers  # the contract's example create answer shows no delivery_method.secret, which PagerDuty answers on create
def test_enable_after_three_dropped_webhooks(step, subscribe, receiver, sandbox):
    sub = subscribe(events=["incident.triggered"])["webhook_subscription"]
    receiver.answers = [400, 400, 400]
    for i in range(3):
        trigger(sandbox, f"refused {i}")
    receiver.wait_for(3)
    assert sandbox.wait_webhooks(5)
    paused, _ = step("get_webhook_subscription", webhook_subscription_id=sub["id"])
    assert paused.output["webhook_subscription"]["delivery_method"]["temporarily_disabled"] is True
    enabled, _ = step("enable_webhook_subscription", webhook_subscription_id=sub["id"])
    assert enabled.output["webhook_subscription"]["delivery_method"]["temporarily_disabled"] is False
    trigger(sandbox, "accepted again")
    assert receiver.wait_for(4)[-1].status == 202


def test_read_only_key_cannot_create(act, readonly, receiver):
    assert_read_only_key_refused(act, readonly, "create_webhook_subscription", {"url": receiver.url})


# --- bad input sends no request ------------------------------------------------------------------------
@pytest.mark.parametrize("bad", HOSTILE_IDS + ["PABC123/../../users", "P 1"])
@pytest.mark.parametrize("action", ID_ACTIONS)
def test_hostile_ids_send_nothing(step, action, bad):
    extra = {"events": ["incident.resolved"], "service": "Anything"} if action == "update_webhook_subscription" else {}
    assert_hostile_id_sends_nothing(step, action, "webhook_subscription", bad, **extra)


@pytest.mark.parametrize("values, field", [
    ({"events": ["incident.exploded"]}, "events"),
    ({"events": "incident.triggered, incident.nope"}, "events"),
    ({"events": ["incident.triggered", "incident.triggered"]}, "events"),
    ({"url": "ftp://hooks.example.com/x"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": "http://"}, "url"),
    ({"url": "https://hooks.example.com/a b"}, "url"),
    ({"custom_headers": {"X-Bad": "one\r\nX-Injected: two"}}, "custom_headers"),
    ({"custom_headers": {"Bad Name": "x"}}, "custom_headers"),
    ({"custom_headers": {"X-Number": 5}}, "custom_headers"),
    ({"service": "Checkout", "team": "Platform"}, "service"),
])
def test_bad_create_input_sends_nothing(step, values, field):
    result, sent = step("create_webhook_subscription", **{"url": "https://hooks.example.com/pd", **values})
    assert result.code == 1 and sent == [], sent
    assert result.error["data"]["field"].startswith(field) and result.error["assistance"]  # events[0]: its item


@pytest.mark.parametrize("values", [
    {}, {"url": ""}, {"url": 5}, {"url": "https://x.example.com", "events": 7},
    {"url": "https://x.example.com", "colour": "blue"}, {"url": "https://x.example.com/" + "a" * 3000},
])
def test_malformed_create_input_sends_nothing(step, values):
    result, sent = step("create_webhook_subscription", **values)
    assert result.code == 1 and sent == [] and result.error["cause"]


def test_bad_update_input_sends_nothing(step):
    for values in ({}, {"events": ["incident.nope"], "service": "Checkout"}, {"service": "A", "team": "B"}):
        result, sent = step("update_webhook_subscription", webhook_subscription_id="PWEBH01", **values)
        assert result.code == 1 and sent == [], (values, sent)
    nothing, _ = step("update_webhook_subscription", webhook_subscription_id="PWEBH01")
    assert nothing.error["cause"].startswith("Give at least one of 'events'")


def test_unknown_service_name_is_one_lookup(step):
    result, sent = step("create_webhook_subscription", url="https://hooks.example.com/pd", service="No Such Service")
    assert result.error["cause"] == "No service is named 'No Such Service'"
    assert [e["method"] for e in sent] == ["GET"]
