"""Fault injection hooks: 429/5xx answers, delays, dropped connections, malformed bodies."""
import time

import pytest
import requests

from sandbox_fixtures import error_code


def _hook(module_sandbox, method, path, **kw):
    return requests.request(method, module_sandbox.info["api_url"] + "/_sandbox" + path, timeout=10, **kw)


def test_429_with_headers_counts_down_then_recovers(module_sandbox, api):
    r = _hook(module_sandbox, "POST", "/faults", json={"method": "POST", "path": "/incidents*", "count": 2, "status": 429,
                                                "headers": True, "retry_after": 1, "ratelimit_reset": 7})
    assert r.status_code == 201 and r.json()["faults"][0]["remaining"] == 2
    body = {"incident": {"type": "incident", "title": "t",
                         "service": {"id": module_sandbox.seed_ids["services"][0], "type": "service_reference"}}}
    first = api.post("/incidents", json=body)
    assert first.status_code == 429 and error_code(first) == 2020
    assert first.headers["Retry-After"] == "1" and first.headers["ratelimit-reset"] == "7"
    assert first.headers["ratelimit-remaining"] == "0"
    assert api.get("/incidents").status_code == 200           # GET does not match the fault
    assert api.post("/incidents", json=body).status_code == 429
    assert api.post("/incidents", json=body).status_code == 201   # count used up


@pytest.mark.parametrize("status,message", [(500, "Internal Server Error"), (502, "Bad Gateway"),
                                            (503, "Service Unavailable"), (504, "Gateway Timeout")])
def test_server_errors_once_then_recovery(module_sandbox, api, status, message):
    assert _hook(module_sandbox, "POST", "/faults", json={"method": "GET", "path": "/users", "status": status}) \
        .status_code == 201
    r = api.get("/users")
    assert r.status_code == status and r.json() == {"error": {"message": message, "code": 2000}}
    assert "ratelimit-remaining" in r.headers
    assert api.get("/users").status_code == 200


@pytest.mark.parametrize("headers", [True, False])
@pytest.mark.parametrize("retry_after", [None, 3])
def test_429_with_or_without_headers_and_retry_after(module_sandbox, api, headers, retry_after):
    fault = {"method": "GET", "path": "/users", "status": 429, "headers": headers, "retry_after": retry_after}
    assert _hook(module_sandbox, "POST", "/faults", json=fault).status_code == 201
    r = api.get("/users")
    assert r.status_code == 429
    assert r.headers.get("Retry-After") == (None if retry_after is None else str(retry_after))
    if headers:
        assert error_code(r) == 2020
        assert (r.headers["ratelimit-remaining"], r.headers["ratelimit-reset"]) == ("0", "1")
    else:   # PagerDuty may answer a bare 429: no rate headers, no body
        assert r.content == b"" and "ratelimit-limit" not in r.headers
    assert api.get("/users").status_code == 200


def test_faults_do_not_change_state(module_sandbox, api):
    incident = module_sandbox.seed_ids["incidents"]["triggered"][0]
    module_sandbox.add_fault(method="PUT", path="/incidents/*", status=500)
    r = api.update_incident(incident, status="resolved")
    assert r.status_code == 500
    assert api.get(f"/incidents/{incident}").json()["incident"]["status"] == "triggered"
    entry = module_sandbox.journal()[-2]
    assert entry["fault"]["status"] == 500 and entry["status"] == 500 and entry["method"] == "PUT"


def test_delay_then_normal_answer(module_sandbox, api):
    module_sandbox.add_fault(path="/teams", delay=0.3)
    r = api.get("/teams")
    assert r.status_code == 200
    assert module_sandbox.journal()[-1]["fault"] == {"path": "/teams", "delay": 0.3}


def test_drop_closes_without_answer(module_sandbox, api):
    module_sandbox.add_fault(method="GET", path="/services", drop=True)
    with pytest.raises(requests.ConnectionError):
        requests.get(module_sandbox.info["api_url"] + "/services",
                      headers={"Authorization": f"Token token={module_sandbox.api_key}"}, timeout=5)
    last = module_sandbox.journal()[-1]
    assert last["fault"]["drop"] is True and last["status"] is None
    assert api.get("/services").status_code == 200


def test_malformed_body(module_sandbox, api):
    module_sandbox.add_fault(path="/priorities", malformed=True)
    r = api.get("/priorities")
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()


def test_faults_apply_to_events_and_can_be_cleared(module_sandbox, api):
    module_sandbox.add_fault(path="/v2/enqueue", status=429, headers=False, count=None)
    assert api.trigger().status_code == 429
    assert api.trigger().status_code == 429
    assert _hook(module_sandbox, "GET", "/faults").json()["faults"][0]["remaining"] is None
    assert _hook(module_sandbox, "DELETE", "/faults").status_code == 200
    assert api.trigger().status_code == 202


def test_bad_fault_specs_are_refused(module_sandbox):
    assert _hook(module_sandbox, "POST", "/faults", json={"path": "/x"}).status_code == 400
    assert _hook(module_sandbox, "POST", "/faults", json={"status": 503, "colour": "red"}).status_code == 400
    assert _hook(module_sandbox, "POST", "/faults", data=b"{nope").status_code == 400
    assert _hook(module_sandbox, "GET", "/unknown").status_code == 404


def test_seed_incidents_hook(module_sandbox, api):
    r = _hook(module_sandbox, "POST", "/incidents", json={"count": 3, "status": "acknowledged"})
    assert r.status_code == 201 and len(r.json()["incident_ids"]) == 3
    assert api.get(f"/incidents/{r.json()['incident_ids'][0]}").json()["incident"]["status"] == "acknowledged"
    assert _hook(module_sandbox, "POST", "/incidents", json={"count": 1, "service_id": "PNOPE00"}).status_code == 400


def test_hooks_need_no_auth_and_are_not_faulted(module_sandbox):
    module_sandbox.add_fault(path="*", status=503, count=None)
    assert _hook(module_sandbox, "GET", "/requests").status_code == 200
    assert _hook(module_sandbox, "GET", "/info").json()["seed_ids"] == module_sandbox.seed_ids
    assert _hook(module_sandbox, "POST", "/reset").status_code == 200   # reset also clears faults
    assert _hook(module_sandbox, "GET", "/faults").json()["faults"] == []


@pytest.mark.parametrize("raw", [b'{"path": "/users", "delay": NaN}', b'{"path": "/users", "delay": Infinity}',
                                 b'{"path": "/users", "delay": "soon"}', b'{"path": "/users", "delay": -1}',
                                 b'{"path": "/users", "delay": 61}', b'{"path": "/users", "delay": true}',
                                 b'{"path": "/users", "status": 500, "body": {"x": NaN}}'])
def test_a_fault_that_could_not_be_carried_out_is_refused_when_added(module_sandbox, api, raw):
    r = _hook(module_sandbox, "POST", "/faults", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == 2001
    assert _hook(module_sandbox, "GET", "/faults").json()["faults"] == []
    assert api.get("/users").status_code == 200


def test_add_fault_refuses_a_body_that_is_not_json(module_sandbox):
    from pagerduty_plugin.sandbox.errors import ApiError
    with pytest.raises(ApiError):
        module_sandbox.add_fault(path="/users", status=500, body={"when": time})


@pytest.mark.no_conformance   # the 500 of a sandbox bug is in no contract
def test_a_fault_that_fails_is_answered_and_journalled(module_sandbox, api, monkeypatch):
    from pagerduty_plugin.sandbox import faults

    def broken(*_args):
        raise RuntimeError("a fault the sandbox cannot carry out")

    monkeypatch.setattr(faults.Fault, "response", broken)
    module_sandbox.add_fault(path="/teams", status=503)
    r = api.get("/teams")
    assert r.status_code == 500 and error_code(r) == 2000
    assert module_sandbox.journal()[-1]["fault"] == {"path": "/teams", "status": 503}


def test_a_fault_may_hit_the_events_of_one_dedup_key_only(module_sandbox):
    from pagerduty_plugin.sandbox.errors import ApiError

    info = module_sandbox.info
    module_sandbox.add_fault(method="POST", path="/v2/enqueue", dedup_key="sick", count=None, status=500)
    try:
        def send(key):
            return requests.post(info["events_url"] + "/enqueue", timeout=10, json={
                "routing_key": info["routing_key"], "event_action": "trigger", "dedup_key": key,
                "payload": {"summary": "x", "source": "y", "severity": "info"}}).status_code

        assert [send("sick"), send("well"), send("sick")] == [500, 202, 500]
    finally:
        module_sandbox.clear_faults()
    with pytest.raises(ApiError):
        module_sandbox.add_fault(path="/v2/enqueue", status=500, dedup_key=7)
