"""What a step leaves behind: its HTTP session closed (a pool's kept warm), retry facts handed back
with the answer, and no logging or warning setting of the process changed."""

import logging
import warnings

from conftest import invoke, start_message
from pagerduty_plugin import runner
from pagerduty_plugin import spec as speclib
from pagerduty_plugin.client.http import Reply, SessionPool, Transport
from pagerduty_plugin.logs import StepLog, step_logger


def step_log():
    return step_logger(StepLog(), debug=True)


def open_pools(connection):
    adapter = connection.transport.session.get_adapter(connection.rest.base_url)
    return len(adapter.poolmanager.pools)


def test_a_one_shot_steps_session_is_closed_when_it_ends(connection):
    opened = runner.open_connection(speclib.load(), connection, step_log())
    opened.rest.get("/abilities")
    assert open_pools(opened) == 1
    opened.close()
    assert open_pools(opened) == 0


def test_a_pooled_session_stays_warm_for_the_next_step(connection):
    pool = SessionPool()
    first = runner.open_connection(speclib.load(), connection, step_log(), pool)
    first.rest.get("/abilities")
    first.close()
    assert open_pools(first) == 1
    second = runner.open_connection(speclib.load(), connection, step_log(), pool)
    assert second.transport.session is first.transport.session


def test_retry_facts_come_with_the_answer_not_on_the_response(sandbox):
    sandbox.add_fault(method="GET", path="/abilities", count=1, status=429, retry_after=0)
    transport = Transport(timeout=5, max_retries=2, log=step_log(), budget=5)
    headers = {"Authorization": f"Token token={sandbox.info['api_key']}",
               "Accept": "application/vnd.pagerduty+json;version=2"}
    reply = transport.request("GET", sandbox.info["api_url"] + "/abilities", headers=headers, safe_to_repeat=True)
    transport.close()
    assert isinstance(reply, Reply) and reply.response.status_code == 200
    assert (reply.retries, reply.after_uncertain_try) == (1, False)
    assert not hasattr(reply.response, "retries") and not hasattr(reply.response, "after_uncertain_try")


def test_a_step_changes_no_logging_or_warning_setting_of_the_process(connection, sandbox):
    urllib3 = logging.getLogger("urllib3")
    before = (list(urllib3.handlers), urllib3.level, urllib3.propagate, list(warnings.filters),
              list(logging.getLogger().handlers))
    message = start_message("list_users", {"max_results": 1}, {**connection, "verify_tls": False})
    result = invoke(["run", "--debug"], message)
    assert result.body["status"] == "ok"
    assert "GET /users -> HTTP 200" in result.body["log"]  # --debug: the transport's own request lines
    assert (list(urllib3.handlers), urllib3.level, urllib3.propagate, list(warnings.filters),
            list(logging.getLogger().handlers)) == before
