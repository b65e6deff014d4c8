"""Status pages, and the incident extras (notes edited and deleted, responder requests cancelled, what
PagerDuty relates to an incident). Through the CLI against the sandbox, in message and plain mode (and,
through the sandbox fixture, in strict-contract mode)."""

import pytest


@pytest.fixture
def page_id(sandbox):
    return sandbox.seed_ids["status_pages"][0]


def test_a_status_page_post_is_made_updated_and_followed_up(act, page_id):
    pages = act("list_status_pages", status_page_type="public").output
    assert [p["id"] for p in pages["status_pages"]] == [page_id]
    made = act.plain("create_status_page_post", {
        "status_page_id": page_id, "title": "Checkout errors", "post_type": "incident",
        "message": "We are investigating.", "status": "investigating", "severity": "major"})
    assert made.code == 0, made.error
    post_id = made.output["post"]["id"]
    changed = act("update_status_page_post", status_page_id=page_id, post_id=post_id,
                  title="Checkout errors (resolved)")
    assert changed.code == 0 and changed.output["post"]["title"] == "Checkout errors (resolved)"
    update = act("create_status_page_post_update", status_page_id=page_id, post_id=post_id,
                 message="Fixed.", status="resolved", severity="all good")
    assert update.code == 0, update.error
    listed = act.plain("list_status_page_post_updates", {"status_page_id": page_id, "post_id": post_id}).output
    assert listed["count"] == 2 and update.output["post_update"]["id"] in [u["id"] for u in listed["post_updates"]]


def test_a_maintenance_post_needs_its_window_before_any_request(act, journal, page_id):
    result = act("create_status_page_post", status_page_id=page_id, title="DB upgrade", post_type="maintenance",
                 message="Planned.", status="scheduled", severity="minor")
    assert result.code == 1 and set(result.error["data"]["fields"]) >= {"starts_at", "ends_at"}
    assert journal() == []
    made = act("create_status_page_post", status_page_id=page_id, title="DB upgrade", post_type="maintenance",
               message="Planned.", status="scheduled", severity="minor", starts_at="2026-12-12T10:00:00Z",
               ends_at="2026-12-12T11:00:00Z")
    assert made.code == 0, made.error


def test_a_status_the_page_does_not_have_is_named_in_the_error(act, page_id):
    result = act("create_status_page_post", status_page_id=page_id, title="x", post_type="incident",
                 message="m", status="on fire", severity="major")
    assert result.code == 1 and "investigating" in result.error["assistance"]


def test_a_note_is_edited_and_deleted(act, sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    note = act("add_note", incident_id=incident, note="first words").output["note"]
    edited = act.plain("update_note", {"incident_id": incident, "note_id": note["id"], "note": "better words"})
    assert edited.output["note"]["content"] == "better words"
    assert act("delete_note", incident_id=incident, note_id=note["id"]).output == {"success": True}
    assert note["id"] not in [n["id"] for n in act("list_notes", incident_id=incident).output["notes"]]


def test_responder_requests_are_cancelled(act, sandbox):
    incident = sandbox.seed_ids["incidents"]["triggered"][0]
    responder = sandbox.seed_ids["responders"][0]
    assert act("add_responders", incident_id=incident, users=[responder], message="Join please").code == 0
    result = act.plain("cancel_responder_requests", {"incident_id": incident, "users": [responder]})
    assert result.code == 0, result.error
    assert result.output["responder_request_targets"] == [
        {"id": responder, "type": "user_reference", "result": "cancelled"}]
    again = act("cancel_responder_requests", incident_id=incident, users=[responder]).output
    assert again["responder_request_targets"][0]["result"] == "not_found"


def test_cancel_needs_a_target_before_any_request(act, journal):
    result = act("cancel_responder_requests", incident_id="PABC123")
    assert result.code == 1 and journal() == []


def test_what_pagerduty_relates_to_an_incident(act, sandbox):
    assert act("send_change_event", summary="Deployed web 2.4.1").code == 0
    web, checkout = sandbox.seed_ids["services"]
    incident = act("create_incident", title="Web errors after deploy", service=web).output["incident"]["id"]
    related_changes = act("list_related_change_events", incident_id=incident).output
    assert [c["summary"] for c in related_changes["change_events"]] == ["Deployed web 2.4.1"]
    past = act.plain("list_past_incidents", {"incident_id": incident, "max_results": 3}).output
    assert past["count"] <= 3 and all("score" in p for p in past["past_incidents"])
    related = act("list_related_incidents", incident_id=incident, include_incidents=True).output
    assert related["count"] == len(related["related_incidents"])
