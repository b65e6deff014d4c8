"""Helpers for the incident tests: the sandbox's own API (bypassing the plugin) to look up
seed objects and open incidents, and the journal's tail."""

import requests

ACCEPT = "application/vnd.pagerduty+json;version=2"


def api(sandbox, method, path, body=None, **params):
    """A direct REST call to the sandbox with the full-access key and the seed From user."""
    info = sandbox.info
    answer = requests.request(method, info["api_url"] + path, json=body, params=params or None, timeout=10,
                              headers={"Authorization": f"Token token={info['api_key']}", "Accept": ACCEPT,
                                       "From": info["from_email"]})
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
    return answer.json() if answer.content else None


def first(sandbox, collection, **params):
    return api(sandbox, "GET", f"/{collection}", **params)[collection][0]


def open_incident(sandbox, title="Checkout answers 500", **fields):
    """A new triggered incident on the first service, made outside the journal's window."""
    service = first(sandbox, "services")
    incident = {"type": "incident", "title": title, "service": {"id": service["id"], "type": "service_reference"},
                **fields}
    return api(sandbox, "POST", "/incidents", {"incident": incident})["incident"]


def set_status(sandbox, incident_id, status):
    return api(sandbox, "PUT", f"/incidents/{incident_id}",
               {"incident": {"type": "incident_reference", "status": status}})["incident"]


def since(journal, mark):
    """The requests the plugin sent after `mark = len(journal())`."""
    return journal()[mark:]


def request_line(entry):
    """(method, path, query) of a journal entry, for compact assertions."""
    return entry["method"], entry["path"], entry["query"]
