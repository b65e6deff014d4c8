"""Status pages: the pages, and the posts (incident or maintenance notices) and post updates on them.
A post's status and severity are the page's own (GET /status_pages/{id}/statuses, /severities):
named here by id or by description ("investigating", "major"), looked up with one request each."""

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.common import as_time, given, looks_like_id, rfc3339
from pagerduty_plugin.actions.listing import cut, output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.errors import PluginError


def page_path(params, suffix=""):
    return f"/status_pages/{segment(params['status_page_id'], 'status page id')}{suffix}"


def post_path(params, suffix=""):
    return page_path(params, f"/posts/{segment(params['post_id'], 'status page post id')}{suffix}")


class ListStatusPages(Action):
    def run(self, params):
        query = {"status_page_type": params["status_page_type"]} if "status_page_type" in params else None
        pages = self.connection.rest.get("/status_pages", query, key="status_pages", kind=list)
        return output("status_pages", *cut(pages, params.get("max_results")))


def page_choice(rest, params, collection, value, post_type):
    """{id, type} of the page's status or severity whose id or description is value."""
    kind = {"statuses": "status_page_status", "severities": "status_page_severity"}[collection]
    value = str(value).strip()
    if looks_like_id(value):
        return {"id": segment(value), "type": kind}
    choices = rest.get(page_path(params, f"/{collection}"), {"post_type": post_type}, key=collection, kind=list)
    found = [c for c in choices if str(c.get("description", "")).lower() == value.lower()]
    if not found:
        known = ", ".join(str(c.get("description")) for c in choices)
        raise PluginError(f"The status page has no {kind.split('_')[-1]} {value!r} for {post_type} posts",
                          f"Give one of: {known or 'none defined'} (or its id).", {"field": kind.split("_")[-1]})
    return {"id": found[0]["id"], "type": kind}


def times(params):
    """starts_at / ends_at as RFC 3339 (PagerDuty wants both keys: null for an incident post); their
    order is the spec's `ascending` rule."""
    moments = {k: as_time(params[k]) for k in ("starts_at", "ends_at") if k in params}
    return {k: rfc3339(v) if v else None for k, v in {"starts_at": moments.get("starts_at"),
                                                       "ends_at": moments.get("ends_at")}.items()}


def update_fields(rest, params, post_type, post_id=None):
    fields = {"type": "status_page_post_update", "message": params["message"],
              "status": page_choice(rest, params, "statuses", params["status"], post_type),
              "severity": page_choice(rest, params, "severities", params["severity"], post_type),
              "update_frequency_ms": params.get("update_frequency_ms"),
              "notify_subscribers": bool(params.get("notify_subscribers", False)), "impacted_services": []}
    if post_id is not None:
        fields["post"] = {"id": post_id, "type": "status_page_post"}
    return fields


class CreateStatusPagePost(Action):
    def run(self, params):
        page_id = segment(params["status_page_id"], "status page id")
        window = times(params)
        rest = self.connection.rest
        post = {"type": "status_page_post", "title": params["title"], "post_type": params["post_type"], **window,
                "status_page": {"id": page_id, "type": "status_page"},
                "updates": [update_fields(rest, params, params["post_type"])]}
        return {"post": rest.post(page_path(params, "/posts"), {"post": post}, key="post")}


class UpdateStatusPagePost(Action):
    def run(self, params):
        path = post_path(params)
        rest = self.connection.rest
        post = {"type": "status_page_post", "status_page": {"id": segment(params["status_page_id"]),
                                                            "type": "status_page"},
                **given(params, "title", "post_type")}
        if "starts_at" in params or "ends_at" in params:
            post.update({k: v for k, v in times(params).items() if k in params})
        return {"post": rest.put(path, {"post": post}, key="post")}


class CreateStatusPagePostUpdate(Action):
    """The post is read first: its post_type says which of the page's statuses and severities apply."""

    def run(self, params):
        path = post_path(params, "/post_updates")
        rest = self.connection.rest
        post_id = segment(params["post_id"], "status page post id")
        post = rest.get(post_path(params), key="post")
        body = {"post_update": update_fields(rest, params, post.get("post_type") or "incident", post_id)}
        return {"post_update": rest.post(path, body, key="post_update")}


class ListStatusPagePostUpdates(Action):
    def run(self, params):
        query = given(params, "reviewed_status") or None
        updates = self.connection.rest.get(post_path(params, "/post_updates"), query, key="post_updates", kind=list)
        return output("post_updates", *cut(updates, params.get("max_results")))
