"""The scopes in the spec (python.scopes) are PagerDuty's: each action's equal the OpenAPI's
requirements ("Scoped OAuth requires: `incidents.write`") of the operations it may call
(oauth_calls.py), the sandbox derives the same scope for each route on its own, and what runs
call (the sandbox's journal) stays within those operations. PagerDuty's OpenAPI stays outside the
project: these tests read it from ../shared and skip without it."""
import json
import os
import re

import oauth_calls
import pytest
from conftest import ROOT, run_command
from openapi_conformance import SKIP_REASON, contract_folder

from pagerduty_plugin import spec as speclib
from pagerduty_plugin.sandbox import Sandbox, routing
from pagerduty_plugin.sandbox.oauth import required_scope

pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=f"PagerDuty's OpenAPI is needed: {SKIP_REASON}")
EXAMPLES = os.path.join(ROOT, "examples", "runbooks")
REQUIRES = re.compile(r"Scoped OAuth requires: `([^`]+)`")


@pytest.fixture(scope="module")
def openapi():
    with open(os.path.join(contract_folder(), "rest_openapiv3.json"), encoding="utf-8") as fh:
        return json.load(fh)


def scopes_of(openapi, operations):
    """The union of the OpenAPI's scope requirements of "METHOD /template" operations."""
    found = set()
    for operation in operations:
        method, path = operation.split(" ", 1)
        described = openapi["paths"][path][method.lower()]["description"]
        found.update(REQUIRES.findall(described))
    return sorted(found)


def operation_of(openapi, method, path):
    """The OpenAPI operation ("GET /incidents/{id}") a concrete request matches; a literal path
    (/users/me) wins over a template (/users/{id})."""
    candidates = [template for template, operations in openapi["paths"].items() if method.lower() in operations
                  and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path)]
    return f"{method} {min(candidates, key=lambda t: t.count('{'))}" if candidates else None


@pytest.mark.parametrize("kind, table", [("actions", oauth_calls.ACTIONS), ("triggers", oauth_calls.TRIGGERS)])
def test_the_spec_scopes_are_the_openapi_requirements_of_the_operations_called(openapi, kind, table):
    spec = speclib.load()
    assert set(table) == set(getattr(spec, kind))
    wrong = {name: (spec.scopes([name], kind), scopes_of(openapi, operations))
             for name, operations in table.items() if spec.scopes([name], kind) != scopes_of(openapi, operations)}
    assert wrong == {}, "spec's python.scopes (left) differ from the OpenAPI's (right)"


@pytest.mark.parametrize("runbook", sorted(os.listdir(EXAMPLES)))
def test_scopes_of_the_example_runbooks_are_the_union_of_their_actions(openapi, runbook):
    import yaml

    with open(os.path.join(EXAMPLES, runbook), encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    operations = [op for step in raw["steps"] for op in oauth_calls.ACTIONS[step["action"]]]
    if raw.get("on"):
        operations += oauth_calls.TRIGGERS[raw["on"]["trigger"]]
    result = run_command(["scopes", "--runbook", os.path.join(EXAMPLES, runbook)])
    assert result.code == 0, result.stdout
    assert result.doc["scopes"] == scopes_of(openapi, operations)


def test_the_sandbox_derives_each_routes_scope_as_the_openapi_says(openapi):
    routing.load()
    checked = 0
    for route in routing.all_routes():
        described = openapi["paths"].get(route.template, {}).get(route.method.lower())
        if described is None:
            continue
        wanted = REQUIRES.findall(described["description"])
        assert [required_scope(route.method, route.template)] == (wanted or [None]), (route.method, route.template)
        checked += 1
    assert checked > 60


@pytest.mark.parametrize("runbook", ["triage.yaml", "diagnose.yaml"])
def test_what_runs_call_stays_within_their_actions_operations(openapi, runbook, tmp_path):
    """An example runbook under OAuth, its token asking exactly its scopes: it runs, and every
    request it journals is an operation of its actions."""
    import yaml

    with open(os.path.join(EXAMPLES, runbook), encoding="utf-8") as fh:
        actions = {step["action"] for step in yaml.safe_load(fh)["steps"]}
    with Sandbox(seed="demo") as server:
        server.automation_pace(0)  # diagnose's automation action completes at once
        info = server.info
        env = {"PAGERDUTY_API_URL": info["api_url"], "PAGERDUTY_IDENTITY_URL": info["identity_url"],
               "PAGERDUTY_CLIENT_ID": info["client_id"], "PAGERDUTY_CLIENT_SECRET": info["client_secret"],
               "PAGERDUTY_SUBDOMAIN": info["subdomain"], "PAGERDUTY_FROM": info["from_email"],
               "XDG_STATE_HOME": str(tmp_path)}
        incident = server.seed_ids["incidents"]["triggered"][0]
        result = run_command(["runbook", "run", os.path.join(EXAMPLES, runbook), "--input",
                              json.dumps({"incident_id": incident})], b"", env)
        assert result.doc["status"] == "ok", result.stdout
        called = {operation_of(openapi, e["method"], e["path"]) for e in server.journal()
                  if e["path"] != "/oauth/token"}
    allowed = {op for action in actions for op in oauth_calls.ACTIONS[action]}
    assert called and called <= allowed, called - allowed
