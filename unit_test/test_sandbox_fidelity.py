"""Where the sandbox is honest about what it is: PagerDuty paths it does not imitate, and its table of the
published paths kept equal to the published file."""
import json
import os

import pytest
import requests

from openapi_conformance import SKIP_REASON, contract_folder
from pagerduty_plugin.sandbox import Sandbox
from pagerduty_plugin.sandbox.documented import PATHS


@pytest.fixture(scope="module")
def fidelity_sandbox():
    """One sandbox for the module: these tests only read."""
    with Sandbox(seed="demo") as server:
        yield server


def _get(sandbox, path, method="GET"):
    info = sandbox.info
    return requests.request(method, info["api_url"] + path, timeout=5,
                            headers={"Authorization": f"Token token={info['api_key']}"})


def test_a_documented_path_it_does_not_imitate_says_so(fidelity_sandbox):
    answer = _get(fidelity_sandbox, "/audit/records")
    assert answer.status_code == 404
    assert answer.json()["error"]["errors"] == [
        "GET /audit/records is in PagerDuty's REST API, but this sandbox does not imitate it"]
    assert "does not imitate" in _get(fidelity_sandbox, "/business_services/PABC123").json()["error"]["errors"][0]


def test_a_path_pagerduty_does_not_have_is_named_so(fidelity_sandbox):
    for method, path in (("GET", "/no_such_things"), ("GET", "/users/PABC123/nothing"),
                         ("POST", "/audit/records")):
        answer = _get(fidelity_sandbox, path, method)
        assert answer.status_code == 404
        assert answer.json()["error"]["errors"] == [f"{method} {path} is not a PagerDuty API path"]


@pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")
def test_the_table_of_published_paths_matches_the_published_file():
    with open(os.path.join(contract_folder(), "rest_openapiv3.json"), encoding="utf-8") as fh:
        published = json.load(fh)["paths"]
    methods = {"get", "post", "put", "delete", "patch"}
    assert {path: " ".join(sorted(m.upper() for m in item if m in methods)) for path, item in published.items()} \
        == PATHS
