"""Every action of PagerDuty 2025–2026 (issue 20) in both plain mode (`run ACTION`) and message mode, against
the sandbox, and (through the sandbox fixture) in strict-contract mode: reads answer the same in both modes;
writes succeed in both."""

import pytest


def seeds(sandbox):
    ids = sandbox.seed_ids
    return {"incident": ids["incidents"]["triggered"][0], "workflow": ids["incident_workflows"][0],
            "action": ids["automation_actions"][0], "page": ids["status_pages"][0]}


READS = {
    "list_incident_workflows": lambda s: {},
    "get_incident_workflow": lambda s: {"incident_workflow_id": s["workflow"]},
    "list_automation_actions": lambda s: {"max_results": 5},
    "get_automation_action": lambda s: {"action_id": s["action"]},
    "list_automation_action_invocations": lambda s: {"incident_id": s["incident"]},
    "list_incident_types": lambda s: {"filter": "all"},
    "get_incident_type": lambda s: {"incident_type": "incident_default"},
    "list_incident_custom_fields": lambda s: {"incident_type": "security"},
    "get_incident_custom_field_values": lambda s: {"incident_id": s["incident"]},
    "list_related_change_events": lambda s: {"incident_id": s["incident"]},
    "list_past_incidents": lambda s: {"incident_id": s["incident"]},
    "list_related_incidents": lambda s: {"incident_id": s["incident"]},
    "list_status_pages": lambda s: {},
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_answers_the_same_in_both_modes(act, sandbox, name):
    values = READS[name](seeds(sandbox))
    message, plain = act(name, **values), act.plain(name, values)
    assert message.code == plain.code == 0, (message.stdout, plain.stdout)
    assert message.output == plain.output


def test_the_writes_succeed_in_both_modes(act, sandbox):
    s = seeds(sandbox)
    for run in (lambda name, values: act(name, **values), act.plain):
        assert run("start_incident_workflow", {"incident_workflow": s["workflow"],
                                               "incident_id": s["incident"]}).code == 0
        invoked = run("invoke_automation_action", {"automation_action": s["action"], "incident_id": s["incident"]})
        invocation = invoked.output["invocation"]["id"]
        assert run("get_automation_action_invocation", {"invocation_id": invocation}).code == 0
        note = run("add_note", {"incident_id": s["incident"], "note": "draft"}).output["note"]["id"]
        assert run("update_note", {"incident_id": s["incident"], "note_id": note, "note": "final"}).code == 0
        assert run("delete_note", {"incident_id": s["incident"], "note_id": note}).output == {"success": True}
        assert run("set_incident_custom_field_values", {"incident_id": s["incident"],
                                                        "values": {"diagnostic_result": "ok"}}).code == 0
        assert run("cancel_responder_requests", {"incident_id": s["incident"],
                                                 "users": [sandbox.seed_ids["responders"][0]]}).code == 0
        post = run("create_status_page_post", {"status_page_id": s["page"], "title": "t", "post_type": "incident",
                                               "message": "m", "status": "investigating", "severity": "minor"})
        post_id = post.output["post"]["id"]
        where = {"status_page_id": s["page"], "post_id": post_id}
        assert run("update_status_page_post", {**where, "title": "t2"}).code == 0
        assert run("create_status_page_post_update", {**where, "message": "m2", "status": "monitoring",
                                                      "severity": "minor"}).code == 0
        assert run("list_status_page_post_updates", where).output["count"] == 2
