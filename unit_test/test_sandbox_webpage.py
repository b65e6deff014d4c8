"""The sandbox's web page (GET /), looked at in a real headless browser: it loads, shows an incident an
action created, refreshes itself, and shows the incident resolved after the resolving step."""
import pytest
import requests

from browser import Elements, chromium, dump_dom

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    path, why = chromium()
    if path is None:
        pytest.skip(f"headless Chromium is not available: {why}")
    return path


def test_static_files_and_snapshot_need_no_key_and_are_not_api_calls(sandbox):
    base = sandbox.info["api_url"]
    page = requests.get(base + "/", timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "web/app.js" in page.text and "default-src 'self'" in page.headers["Content-Security-Policy"]
    view = requests.get(base + "/web/view.json", timeout=5).json()
    assert view["counts"]["triggered"] >= 1 and view["incidents"][0]["timeline"]
    assert sandbox.info["api_key"] not in requests.get(base + "/web/view.json", timeout=5).text
    assert sandbox.journal() == []   # the page's polling never fills the request journal


def test_page_shows_what_a_runbook_did(browser, sandbox, act):
    title = "Checkout down <b>not bold</b>"
    created = act("create_incident", title=title, service=sandbox.seed_ids["services"][0], urgency="high")
    assert created.code == 0, created.stdout
    incident = created.output["incident"]
    assert act("add_note", incident_id=incident["id"], note="Rolling back release 42").code == 0
    url = sandbox.info["api_url"] + "/"

    first = Elements(dump_dom(url))
    attrs, text = first.by_id(f"incidents/{incident['id']}")
    assert attrs["data-status"] == "triggered"
    assert title in text and "Rolling back release 42" in text and "high urgency" in text
    assert not any(tag == "b" for tag, _, _ in first.found)   # a title is text, never markup
    stamp, _ = first.by_id("refreshed")
    assert int(stamp["data-refreshes"]) >= 2, "the page should have refreshed itself within 6 s"

    assert act("update_status", incident_id=incident["id"], status="resolved").code == 0
    second = Elements(dump_dom(url))
    attrs, text = second.by_id(f"incidents/{incident['id']}")
    assert attrs["data-status"] == "resolved"
    assert "resolve" in text
    assert incident["html_url"] == url + f"#incidents/{incident['id']}"
