"""Fixtures on one sandbox per test module (module_sandbox), reset to the demo seed before each test;
the answers it gives during each test are checked against the published contract. Helpers (Api,
error_code, ref, iso) are imported by the tests that use them; the fixtures never are."""
import pytest
import requests
from openapi_conformance import checking

from pagerduty_plugin.sandbox import Sandbox


class Api:
    """A requests session speaking to the sandbox like a PagerDuty client would."""

    def __init__(self, sandbox, key=None, from_email=None):
        self.sandbox = sandbox
        self.base = sandbox.info["api_url"]
        self.events_base = sandbox.info["events_url"]
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": f"Token token={key or sandbox.info['api_key']}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        })
        if from_email is not False:
            self.session.headers["From"] = from_email or sandbox.info["from_email"]

    def request(self, method, path, **kw):
        return self.session.request(method, self.base + path, timeout=10, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def event(self, body, path="/enqueue"):
        return requests.post(self.events_base + path, json=body, timeout=10)

    def trigger(self, summary="disk full", dedup_key=None, routing_key=None, severity="critical", **extra):
        body = {"routing_key": routing_key or self.sandbox.info["routing_key"], "event_action": "trigger",
                "payload": {"summary": summary, "source": "host-1", "severity": severity}, **extra}
        if dedup_key:
            body["dedup_key"] = dedup_key
        return self.event(body)

    def create_incident(self, title="Something broke", service_id=None, **fields):
        service_id = service_id or self.sandbox.seed_ids["services"][0]
        body = {"incident": {"type": "incident", "title": title,
                             "service": {"id": service_id, "type": "service_reference"}, **fields}}
        response = self.post("/incidents", json=body)
        assert response.status_code == 201, response.text
        return response.json()["incident"]

    def update_incident(self, incident_id, **fields):
        return self.put(f"/incidents/{incident_id}", json={"incident": {"type": "incident_reference", **fields}})


def error_code(response):
    return response.json()["error"]["code"]


def ref(id_, type_):
    return {"id": id_, "type": type_}


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# Registered for every test module by conftest.py (pytest_plugins): request them by name, never import them.
# Lifetimes: `sandbox` (conftest.py) is a fresh sandbox per test; `module_sandbox` is one sandbox per test
# module, reset to the demo seed before each test (cheaper where many tests each make a few requests).


@pytest.fixture(scope="module")
def module_sandbox_server():
    """The test module's one sandbox (use module_sandbox, which resets it before each test)."""
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture
def module_sandbox(module_sandbox_server, request):
    """The test module's sandbox, back at the demo seed; the answers it gives during the test are checked
    against the published contract."""
    module_sandbox_server.reset()
    with checking(module_sandbox_server, request):
        yield module_sandbox_server


@pytest.fixture
def api(module_sandbox):
    """An Api on the module's sandbox."""
    return Api(module_sandbox)


@pytest.fixture
def module_connection(module_sandbox):
    """Connection settings for the module's sandbox: no routing key, and no retries."""
    info = module_sandbox.info
    return {"api_key": {"secretKey": info["api_key"]}, "from_email": info["from_email"],
            "api_url": info["api_url"], "timeout": 5, "max_retries": 0}


@pytest.fixture
def refuse(module_sandbox, module_connection):
    """refuse(action, **input) -> the error {cause, assistance, data} of a step that must fail
    (exit 1) without sending a single request to the module's sandbox."""
    from conftest import invoke, start_message

    def run(action, _connection=None, **values):
        before = len(module_sandbox.journal())
        result = invoke(["run"], start_message(action, values, _connection or module_connection))
        assert result.code == 1, result.stdout
        assert len(module_sandbox.journal()) == before, module_sandbox.journal()[before:]
        return result.error

    return run
