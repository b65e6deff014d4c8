"""The REST client (pagerduty_plugin/client/) over real HTTP against the sandbox: session,
headers, From, hosts, TLS, proxies, retries and their bounds, pagination, errors, ids."""

import logging
import random
import time
from email.utils import formatdate

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from pagerduty_plugin import __version__
from pagerduty_plugin.client import http
from pagerduty_plugin.client.http import Transport, backoff, retry_wait, told_wait
from pagerduty_plugin.client.rest import RestClient, encode_params, segment, subject_of
from pagerduty_plugin.connection import Connection
from pagerduty_plugin.errors import NetworkError, PluginError


class Log(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def log():
    handler = Log()
    logger = logging.getLogger("test_rest_client")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.lines = handler.lines
    return logger


def client(sandbox, log, **settings):
    info = sandbox.info
    values = {"api_key": info["api_key"], "api_url": info["api_url"], "from_email": info["from_email"],
              "timeout": 5, "max_retries": 3, **settings}
    return Connection(values, log).rest


def schedule(sandbox):
    return sandbox.seed_ids["schedules"][0]


# --- session and headers --------------------------------------------------------------------------


def test_one_kept_alive_session_per_invocation(sandbox, log):
    rest = client(sandbox, log)
    for _ in range(3):
        rest.get("/users", {"limit": 1})
    pools = rest.transport.session.get_adapter(sandbox.info["api_url"]).poolmanager.pools
    (pool,) = [pools[key] for key in pools.keys()]
    assert (pool.num_connections, pool.num_requests) == (1, 3)


def test_headers_token_accept_user_agent(act, sandbox, journal):
    act("get_on_call", schedule_id=schedule(sandbox))
    headers = journal()[0]["headers"]
    assert headers["Authorization"] == "Token token=***"
    assert headers["Accept"] == "application/vnd.pagerduty+json;version=2"
    assert headers["User-Agent"].startswith(f"pagerduty-plugin/{__version__} ")
    assert sandbox.info["api_key"] not in str(journal())


def test_bearer_auth(act, sandbox, connection, journal):
    act("get_on_call", _connection=dict(connection, auth_type="bearer"), schedule_id=schedule(sandbox))
    assert journal()[0]["headers"]["Authorization"] == "Bearer ***"


def test_content_type_only_on_writes(sandbox, log, journal):
    rest = client(sandbox, log)
    rest.get("/users", {"limit": 1})
    assert "Content-Type" not in journal()[0]["headers"]


# --- From ----------------------------------------------------------------------------------------


def test_from_is_the_step_s_else_the_connection_s(sandbox, log):
    rest = client(sandbox, log, from_email="conn@example.com")
    assert rest.require_from("step@example.com") == "step@example.com"
    assert rest.require_from(None) == "conn@example.com"
    assert rest.require_from("  ") == "conn@example.com"


def test_missing_from_fails_before_any_request(sandbox, log, journal):
    rest = client(sandbox, log, from_email=None)
    with pytest.raises(PluginError) as caught:
        rest.post("/incidents/PABC123/notes", {"note": {"content": "x"}}, needs_from=True)
    assert "needs a From address" in caught.value.cause and "from_email" in caught.value.assistance
    assert journal() == []


def test_from_is_sent_on_reads_when_known(sandbox, log, journal):
    client(sandbox, log).get("/users", {"limit": 1})
    assert journal()[0]["headers"]["From"] == sandbox.info["from_email"]


# --- hosts, timeouts, TLS, proxies ------------------------------------------------------------------


@pytest.mark.parametrize("settings, url", [
    ({}, "https://api.pagerduty.com"),
    ({"region": "us"}, "https://api.pagerduty.com"),
    ({"region": "eu"}, "https://api.eu.pagerduty.com"),
    ({"region": "eu", "api_url": "https://pd.example.com/"}, "https://pd.example.com"),
])
def test_region_and_api_url(log, settings, url):
    assert Connection({"api_key": "k" * 20, **settings}, log).rest.base_url == url


def test_timeout_and_retries_come_from_the_connection(log):
    transport = Connection({"api_key": "k" * 20, "timeout": 7, "max_retries": 1}, log).transport
    assert (transport.timeout, transport.max_retries) == (7, 1)


def test_tls_verification_is_on_by_default(log):
    assert Connection({"api_key": "k" * 20}, log).transport.session.verify is True
    assert log.lines == []


def test_verify_tls_false_is_allowed_with_a_warning(act, sandbox, connection):
    result = act("get_on_call", _connection=dict(connection, verify_tls=False), schedule_id=schedule(sandbox))
    assert "TLS certificate verification is off" in result.body["log"]


def test_proxies_come_from_the_standard_environment(sandbox, log, journal, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", sandbox.info["api_url"])  # the sandbox plays the proxy
    rest = client(sandbox, log, api_url="http://api.pagerduty.invalid")
    rest.get("/users", {"limit": 1})
    (entry,) = journal()
    assert entry["path"] == "/users" and entry["status"] == 200


def test_a_warm_session_reads_the_proxy_settings_once_per_host_and_keeps_them(sandbox, monkeypatch):
    import socket

    for name in ("no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as closed:  # a proxy that refuses every connection
        closed.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = http.new_session()
    headers = {"Authorization": f"Token token={sandbox.info['api_key']}"}
    for _ in range(2):  # the second time from what the session kept
        assert session.get(sandbox.info["api_url"] + "/users", headers=headers, timeout=5).status_code == 200
        with pytest.raises(requests.exceptions.ProxyError):
            session.get("http://api.pagerduty.invalid/users", headers=headers, timeout=5)
    assert set(session.environment_settings) == {("http", sandbox.info["api_url"][7:]),
                                                ("http", "api.pagerduty.invalid")}


# --- retries ------------------------------------------------------------------------------------


@pytest.mark.no_conformance
def test_retries_are_logged_without_secrets(act, sandbox, journal):
    sandbox.add_fault(method="GET", path="/oncalls", count=1, status=503)
    result = act("get_on_call", schedule_id=schedule(sandbox))
    assert result.code == 0
    assert "GET /oncalls got HTTP 503; retry 1 of 3" in result.body["log"]
    assert sandbox.info["api_key"] not in result.stdout + result.stderr


@pytest.mark.no_conformance
def test_post_5xx_is_not_repeated_but_safe_post_is(sandbox, log, journal):
    rest = client(sandbox, log)
    sandbox.add_fault(method="POST", path="/incidents/*/notes", count=1, status=502)
    with pytest.raises(PluginError):
        rest.post("/incidents/PABC123/notes", {"note": {"content": "x"}}, needs_from=True)
    assert len(journal()) == 1
    sandbox.add_fault(method="GET", path="/users", count=1, status=502)
    rest.get("/users", {"limit": 1})
    assert [e["status"] for e in journal()[1:]] == [502, 200]


@pytest.mark.no_conformance
def test_the_time_budget_bounds_the_waiting(sandbox, log, journal):
    transport = Transport(timeout=5, max_retries=5, log=log, budget=0.5)
    info = sandbox.info
    rest = RestClient(transport, info["api_url"], info["api_key"])
    sandbox.add_fault(method="GET", path="/users", count=1, status=429, ratelimit_reset=30)
    waits = waits_of(transport)
    with pytest.raises(PluginError) as caught:
        rest.get("/users")
    assert waits == []  # 30 s would overrun the 0.5 s budget: no wait at all
    assert caught.value.cause.startswith("PagerDuty's rate limit was exceeded (HTTP 429)")
    assert len(journal()) == 1


def test_a_refused_connection_is_retried_then_explained(log):
    transport = Transport(timeout=1, max_retries=1, log=log)
    rest = RestClient(transport, "http://127.0.0.1:9", "k" * 20)
    with pytest.raises(PluginError) as caught:
        rest.post("/incidents", {"incident": {}}, from_email="a@example.com", needs_from=True)
    assert caught.value.cause == ("A connection failure talking to 127.0.0.1:9 (POST /incidents) after 2 tries; "
                                  "the request was not sent")
    assert isinstance(caught.value, NetworkError) and not caught.value.sent
    assert "run the step again" in caught.value.assistance
    assert any("retry 1 of 1" in line for line in log.lines)


# --- back-off and the waits PagerDuty asks for ----------------------------------------------------


class Jitter:
    """random.random() fixed at a value, for the http module only."""

    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


@pytest.mark.parametrize("attempt, ceiling", [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0),
                                              (6, 30.0), (7, 30.0), (20, 30.0)])
def test_backoff_doubles_from_half_a_second_up_to_30(monkeypatch, attempt, ceiling):
    monkeypatch.setattr(http, "random", Jitter(0.0))
    assert backoff(attempt) == ceiling / 2  # the least jitter: half the step
    monkeypatch.setattr(http, "random", Jitter(1.0))
    assert backoff(attempt) == ceiling  # the most: the whole step, never beyond the 30 s cap


def test_backoff_jitter_spreads_over_half_to_all_of_the_step(monkeypatch):
    monkeypatch.setattr(http, "random", random.Random(20240501))
    for attempt in range(8):
        ceiling = min(30.0, 0.5 * 2 ** attempt)
        waits = [backoff(attempt) for _ in range(400)]
        assert all(ceiling / 2 <= wait < ceiling for wait in waits), attempt
        assert min(waits) < ceiling * 0.55 and max(waits) > ceiling * 0.95, "jitter covers its range"
        assert len(set(waits)) == len(waits), "no two retrying steps wait in step"


def headers(**values):
    return CaseInsensitiveDict({name.replace("_", "-"): value for name, value in values.items()})


def in_seconds(seconds):
    return formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize("given, wait", [
    (headers(Retry_After="2", RateLimit_Reset="30"), 2.0),  # Retry-After is about this very request: it wins
    (headers(RateLimit_Reset="7"), 7.0),
    (headers(Retry_After="1.5"), 1.5),
    (headers(Retry_After="-3"), 0.0),
    (headers(Retry_After="soon", RateLimit_Reset="4"), 4.0),  # unreadable: the next header is asked
    (headers(Retry_After="Wed, 21 Oct 2015 07:28:00 GMT", RateLimit_Reset="30"), 0.0),  # a date passed
    (headers(RateLimit_Limit="960", RateLimit_Remaining="0"), None),
    (headers(Retry_After="soon"), None),
    (headers(), None),
])
def test_told_wait_prefers_retry_after_then_ratelimit_reset(given, wait):
    assert told_wait(given) == wait


def test_told_wait_reads_retry_after_as_an_http_date():
    wait = told_wait(headers(Retry_After=in_seconds(20), RateLimit_Reset="30"))
    assert 18.5 <= wait <= 20.0  # the date has whole seconds


def answer(status, **header_values):
    response = requests.Response()
    response.status_code, response.headers = status, headers(**header_values)
    return response


@pytest.mark.parametrize("safe", [True, False])
def test_retry_wait_of_a_429_is_what_pagerduty_asks_else_the_backoff(monkeypatch, safe):
    monkeypatch.setattr(http, "random", Jitter(0.5))
    assert retry_wait(answer(429, Retry_After="3", RateLimit_Reset="9"), 0, safe) == 3.0
    assert retry_wait(answer(429, RateLimit_Reset="9"), 0, safe) == 9.0
    assert retry_wait(answer(429), 2, safe) == 2.0 * 0.75  # a bare 429: always repeated, after the back-off


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_retry_wait_of_a_5xx_backs_off_only_when_safe(monkeypatch, status):
    monkeypatch.setattr(http, "random", Jitter(0.0))
    assert retry_wait(answer(status, Retry_After="9"), 3, True) == 2.0  # the back-off, not Retry-After
    assert retry_wait(answer(status), 3, False) is None


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 402, 403, 404, 413])
def test_retry_wait_never_repeats_other_answers(status):
    assert retry_wait(answer(status, Retry_After="1"), 0, True) is None


def waits_of(transport):
    """The waits the transport chooses between tries, recorded as it logs them."""
    waits, log_retry = [], transport.note_retry

    def note(method, url, what, attempt, wait):
        waits.append(wait)
        log_retry(method, url, what, attempt, wait)

    transport.note_retry = note
    return waits


@pytest.mark.no_conformance
def test_the_transport_backs_off_exponentially(sandbox, log, journal, monkeypatch):
    monkeypatch.setattr(http, "random", Jitter(0.0))
    rest = client(sandbox, log)
    waits = waits_of(rest.transport)
    sandbox.add_fault(method="GET", path="/users", count=2, status=503)
    rest.get("/users", {"limit": 1})
    assert waits == [0.25, 0.5]
    assert [e["status"] for e in journal()] == [503, 503, 200]


@pytest.mark.no_conformance
@pytest.mark.parametrize("retry_after", ["0", formatdate(0, usegmt=True)])
def test_the_transport_honours_retry_after_over_ratelimit_reset(sandbox, log, journal, retry_after):
    rest = client(sandbox, log)
    waits = waits_of(rest.transport)
    sandbox.add_fault(method="GET", path="/users", count=1, status=429, headers=True, retry_after=retry_after,
                      ratelimit_reset=30)
    rest.get("/users", {"limit": 1})
    assert waits == [0.0]
    assert [e["status"] for e in journal()] == [429, 200]


# --- pagination ---------------------------------------------------------------------------------


def test_pages_iterates_lazily_and_reports_truncation(sandbox, log, journal):
    rest = client(sandbox, log)
    listing = rest.pages("/users", "users", max_results=2)
    assert journal() == []
    batches = list(listing)
    assert sum(map(len, batches)) <= 2
    total = len(rest.iterate("/users", "users")[0])
    assert listing.truncated is (total > 2)


def test_max_results_above_a_page_keeps_the_page_size(sandbox, log, journal):
    sandbox.seed_incidents(150)
    rest = client(sandbox, log)
    items, truncated = rest.iterate("/incidents", "incidents", {"date_range": "all"}, max_results=130)
    assert len(items) == 130 and truncated is True
    assert [(e["query"]["limit"], e["query"]["offset"]) for e in journal()] == [(["100"], ["0"]), (["100"], ["100"])]


def test_array_filters_are_repeated_keys():
    assert encode_params({"statuses": ["a", "b"], "include[]": ["x"], "total": True, "none": None, "n": 3}) == [
        ("statuses[]", "a"), ("statuses[]", "b"), ("include[]", "x"), ("total", "true"), ("n", "3")]


# --- errors and ids -------------------------------------------------------------------------------


def test_pagerduty_s_error_is_kept_in_data(sandbox, log):
    with pytest.raises(PluginError) as caught:
        client(sandbox, log).get("/incidents/PNOPE00")
    error = caught.value
    assert error.cause.startswith("Incident PNOPE00 was not found (HTTP 404)")
    assert error.data["status"] == 404 and error.data["code"] == 2100
    assert isinstance(error.data["message"], str) and isinstance(error.data["errors"], list)


def test_a_wrong_key_is_a_clear_401(sandbox, log):
    with pytest.raises(PluginError) as caught:
        client(sandbox, log, api_key="wrong-key-1234").get("/users")
    assert caught.value.cause.startswith("PagerDuty did not accept the API key (HTTP 401)")
    assert "wrong-key-1234" not in str(caught.value.to_dict())


@pytest.mark.no_conformance
def test_an_error_without_pagerduty_s_envelope_keeps_its_status(sandbox, log):
    sandbox.add_fault(method="GET", path="/users", count=1, status=400, body="<html>bad request</html>")
    with pytest.raises(PluginError) as caught:
        client(sandbox, log).get("/users")
    assert caught.value.data["status"] == 400


@pytest.mark.parametrize("path, subject", [("/incidents/PABC123/notes", "Incident PABC123"),
                                           ("/escalation_policies/PEP0001", "Escalation policy PEP0001"),
                                           ("/priorities", "The request"),
                                           ("/incidents/PABC123/merge", "One of the incidents")])
def test_error_subjects(path, subject):
    assert subject_of(path) == subject


@pytest.mark.parametrize("value", ["../users", "P1?x=y", "P1#x", "a b", "", None, "%2e", "P" * 65, "PABC/123"])
def test_segment_refuses_anything_but_an_id(value):
    with pytest.raises(PluginError) as caught:
        segment(value, "incident id")
    assert "is not a valid PagerDuty incident id" in caught.value.cause


@pytest.mark.parametrize("value", ["PABC123", "1234", "Q1ABCDEFGHIJKL", "pabc-12_3"])
def test_segment_keeps_ids(value):
    assert segment(value) == value


def test_a_refused_key_never_reaches_the_output(act, connection):
    canary = "u+Canary_Key-0000zz"
    result = act("list_incidents", _connection=dict(connection, api_key={"secretKey": canary}), max_results=1)
    assert result.code == 1 and "HTTP 401" in result.error["cause"]
    assert canary not in result.stdout + result.stderr


def test_pagerduty_s_missing_from_answer_is_explained(sandbox, log, journal):
    rest = client(sandbox, log, from_email=None)
    with pytest.raises(PluginError) as caught:
        rest.post("/incidents/PABC123/notes", {"note": {"content": "x"}})  # a caller that forgot needs_from
    assert caught.value.cause.startswith("PagerDuty needs a From address for POST /incidents/PABC123/notes")
    assert "from_email" in caught.value.assistance
    assert caught.value.data["status"] == 400 and len(journal()) == 1


def test_a_list_that_grows_while_it_is_read_is_reported_truncated():
    import logging

    from pagerduty_plugin.client.rest import Pages

    class GrowingList:  # 300 items when paging starts, more by the last page
        log = logging.getLogger("test")

        def get(self, path, params):
            offset = params["offset"]
            return {"items": [{"n": offset + i} for i in range(100)], "more": True, "limit": params["limit"],
                    "total": 300 if params.get("total") else None}

    pages = Pages(GrowingList(), "/items", "items", {}, None, 100)
    assert len(pages.collect()) == 300 and pages.truncated is True
