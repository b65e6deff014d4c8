"""The client against hostile servers of the tests' own (never leak, never follow, never hang):
redirects, ~/.netrc and URL credentials, masking of echoed secrets, a whole-call deadline.
Every step runs through the CLI over real HTTP on 127.0.0.1."""

import base64
from urllib.parse import quote

import pytest
from conftest import invoke, start_message
from hostile_server import HostileServer, Reply, connection_to

API_KEY = connection_to("")["api_key"]
ROUTING_KEY = connection_to("")["routing_key"]


def step(action, connection, **values):
    return invoke(["run"], start_message(action, values, connection))


def leaked(result, *secrets):
    text = result.stdout + result.stderr
    return [s for s in secrets if s in text]


# --- 9. redirects are never followed ------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirected_event_is_an_error_and_nothing_reaches_the_other_host(status):
    with HostileServer(lambda r: Reply(202, {"status": "success"})) as elsewhere, \
            HostileServer(lambda r: Reply(status, b"", {"Location": elsewhere.url + "/steal?x=1"})) as api:
        result = step("send_trigger_event", connection_to(api.url), description="disk full", severity="info")
    assert result.code == 1
    cause = result.error["cause"]
    assert f"redirect (HTTP {status}) to {elsewhere.url}/steal" in cause and "not followed" in cause
    assert "x=1" not in cause  # the query of where it pointed is not repeated
    assert elsewhere.requests == [] and len(api.requests) == 1
    assert leaked(result, ROUTING_KEY, API_KEY) == []


def test_a_redirected_write_is_not_reported_as_success():
    with HostileServer(lambda r: Reply(200, {"incident": {"id": "PX"}})) as elsewhere, \
            HostileServer(lambda r: Reply(303, b"", {"Location": elsewhere.url + "/incidents/PX"})) as api:
        result = step("api_request", connection_to(api.url), method="PUT", path="/incidents/PABC123",
                      body={"incident": {"type": "incident_reference", "status": "resolved"}})
    assert result.code == 1 and "HTTP 303" in result.error["cause"]
    assert result.error["data"]["location"] == elsewhere.url + "/incidents/PX"
    assert elsewhere.requests == []


# --- 10. the API key is the only credential ever sent -------------------------------------------------


def test_a_netrc_entry_for_the_host_never_replaces_the_api_key(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-canary-pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with HostileServer(lambda r: Reply(200, {"priorities": [], "more": False})) as api:
        result = step("list_priorities", connection_to(api.url))
    assert result.code == 0, result.stdout
    (request,) = api.requests
    assert request.headers["Authorization"] == f"Token token={API_KEY}"


@pytest.mark.parametrize("field", ["api_url", "events_url"])
def test_a_url_with_credentials_is_refused_and_never_quoted(field):
    with HostileServer(lambda r: Reply(200, {"priorities": []})) as api:
        url = api.url.replace("http://", "http://admin:url-canary-pw@") + ("/v2" if field == "events_url" else "")
        result = step("list_priorities", connection_to(api.url, **{field: url}))
    assert result.code == 1
    assert result.error["cause"] == f"The connection's {field} holds a user name or password (user:password@host)"
    assert leaked(result, "url-canary-pw", "admin:") == [] and api.requests == []


# --- 11. masking: before cutting, in encoded forms, never of a one-letter "secret" ------------------------


def test_a_non_json_answer_is_masked_before_it_is_cut():
    body = ("x" * 191 + API_KEY + " and more").encode()  # the 200-character cut falls inside the key
    with HostileServer(lambda r: Reply(200, body)) as api:
        result = step("list_priorities", connection_to(api.url))
    assert result.code == 1 and "not JSON" in result.error["cause"]
    assert API_KEY[:4] not in result.stdout
    assert result.error["data"]["body_start"].startswith("x" * 191 + "********")


def test_a_non_json_answer_is_quoted_in_the_charset_its_content_type_implies():
    """The transport reads the body itself (capped), not through requests' `text`: the quote still follows
    HTTP's rule that text/plain without a charset is ISO-8859-1, so a proxy's page reads as it was written."""
    with HostileServer(lambda r: Reply(200, "Überlastet - bitte später".encode("latin-1"))) as api:
        result = step("list_priorities", connection_to(api.url))
    assert result.code == 1 and "not JSON" in result.error["cause"]
    assert result.error["data"]["body_start"] == "Überlastet - bitte später"


def test_echoed_secrets_are_masked_in_every_spelling():
    echoes = [API_KEY[:10] + "...", quote(API_KEY, safe=""),
              base64.b64encode(f"Token token={API_KEY}".encode()).decode(),
              base64.b64encode(f"key:{ROUTING_KEY}".encode()).decode()]
    answer = {"error": {"code": 2006, "message": "Invalid token", "errors": echoes}}
    with HostileServer(lambda r: Reply(401, answer)) as api:
        result = step("list_priorities", connection_to(api.url))
    assert result.code == 1 and "HTTP 401" in result.error["cause"]
    assert leaked(result, API_KEY[:6], quote(API_KEY, safe="")[:10], *echoes) == []
    assert len(result.error["data"]["errors"]) == 4


def test_an_implausibly_short_secret_is_refused_before_any_request():
    with HostileServer(lambda r: Reply(200, {"priorities": [], "more": False})) as api:
        result = step("list_priorities", connection_to(api.url, api_key="e"))
    assert result.code == 1 and api.requests == []
    assert result.error["cause"] == "The connection field 'api_key' is 1 characters long, too short to be a real secret"
    assert "********" not in result.stdout  # the letter e is not masked all over the error


# --- 12. the timeout is a deadline for the whole call -------------------------------------------------


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_slow_drip_answer_is_cut_off_at_the_timeout(where):
    page = {"priorities": [], "more": False, "padding": "." * 60}
    reply = Reply(200, page, drip=0.1) if where == "body" else Reply(200, page, drip_headers=0.1)
    with HostileServer(lambda r: reply) as api:
        result = step("list_priorities", connection_to(api.url, timeout=1))
    # the whole drip lasts 6 s or more; cut off at the 1 s deadline, with no second try
    assert result.code == 1 and result.error["cause"].startswith("No answer in time talking to 127.0.0.1")
    assert len(api.requests) == 1


def test_a_kept_alive_connection_is_watched_on_its_second_exchange_too():
    """The deadline follows each exchange onto the socket it uses, a reused one too (urllib3 opens it
    only for the first): the second page drips on the connection the first page came back on."""
    first = {"priorities": [{"id": "PPRI001", "name": "P1"}], "more": True, "limit": 100, "offset": 0}
    rest = {"priorities": [], "more": False, "padding": "." * 60}
    with HostileServer(lambda r: Reply(200, rest, drip=0.1) if r.query.get("offset") != ["0"] else
                       Reply(200, first)) as api:
        result = step("list_priorities", connection_to(api.url, timeout=1))
    assert result.code == 1 and result.error["cause"].startswith("No answer in time talking to 127.0.0.1")
    assert len(api.requests) == 2 and api.requests[0].peer == api.requests[1].peer


def test_retries_of_a_slow_drip_stay_bounded():
    with HostileServer(lambda r: Reply(200, {"priorities": [], "padding": "." * 80}, drip=0.1)) as api:
        result = step("list_priorities", connection_to(api.url, timeout=1, max_retries=2))
    assert result.code == 1 and "after 3 tries" in result.error["cause"]
    assert len(api.requests) == 3  # three deadlines and two back-offs, no more


# --- 3. the bytes read per answer are capped ------------------------------------------------------------


def test_an_answer_larger_than_any_of_pagerduty_s_is_refused_unread():
    huge = b'{"priorities": [], "padding": "' + b"x" * (33 * 2 ** 20) + b'"}'
    with HostileServer(lambda r: Reply(200, huge)) as api:
        result = step("list_priorities", connection_to(api.url, timeout=20))
    assert result.code == 1
    assert result.error["cause"] == "127.0.0.1:%s sent more than 32 MiB in answer to GET /priorities; the rest was " \
                                    "not read" % api.url.rsplit(":", 1)[1]
    assert result.error["data"]["bytes_read"] <= 32 * 2 ** 20 + 64 * 1024
