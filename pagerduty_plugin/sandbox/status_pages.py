"""Status pages: the page, its statuses, severities, impacts and services (fixed by the seed), and
posts with their post updates. A post names its page's status and severity by id; one the page
does not have, or of the other post type, is refused. A maintenance post needs starts_at and ends_at."""
from . import query as q, timeutil
from .errors import invalid, not_found
from .routing import route
from .timeutil import iso

POST_TYPES = ("incident", "maintenance")
CHOICES = {"statuses": ("status_page_status", {"incident": ("investigating", "identified", "monitoring", "resolved"),
                                               "maintenance": ("scheduled", "in_progress", "completed")}),
           "severities": ("status_page_severity", {"incident": ("all good", "minor", "major"),
                                                   "maintenance": ("all good", "minor", "major")}),
           "impacts": ("status_page_impact", {"incident": ("operational", "partial outage", "outage"),
                                              "maintenance": ("operational", "partial outage", "outage")})}


def _page(call):
    return call.store.get("status_page", call.params["id"])


def page_json(rec):
    return {"id": rec["id"], "type": "status_page", "name": rec["name"], "status_page_type": rec["page_type"],
            "url": rec["url"], "published_at": iso(rec["published"])}


def _ref(store, page, kind, item_id, collection):
    return {"id": item_id, "type": kind, "self": f"{store.base_url}/status_pages/{page['id']}/{collection}/{item_id}"}


def post_ref(store, page, post):
    return {"id": post["id"], "type": "status_page_post",
            "self": f"{store.base_url}/status_pages/{page['id']}/posts/{post['id']}"}


def post_json(store, page, post):
    out = {"id": post["id"], "type": "status_page_post", "title": post["title"], "post_type": post["post_type"],
           "starts_at": iso(post["starts"]), "ends_at": iso(post["ends"]),
           "status_page": {"id": page["id"], "type": "status_page"},
           "self": f"{store.base_url}/status_pages/{page['id']}/posts/{post['id']}",
           "updates": [update_ref(store, page, post, u) for u in post["updates"]]}
    return out


def update_ref(store, page, post, update):
    return {"id": update["id"], "type": "status_page_post_update",
            "self": f"{store.base_url}/status_pages/{page['id']}/posts/{post['id']}/post_updates/{update['id']}"}


def update_json(store, page, post, update):
    out = update_ref(store, page, post, update)
    out.update({"message": update["message"], "post": post_ref(store, page, post),
                "status": _ref(store, page, "status_page_status", update["status_id"], "statuses"),
                "severity": _ref(store, page, "status_page_severity", update["severity_id"], "severities"),
                "impacted_services": [], "notify_subscribers": update["notify"],
                "update_frequency_ms": update["frequency"], "reported_at": iso(update["reported"]),
                "reviewed_status": "approved"})
    return out


@route("GET", "/status_pages")
def list_pages(call):
    page_type = q.one(call.query, "status_page_type")
    if page_type not in (None, "", "public", "private"):
        raise invalid("status_page_type must be public or private")
    found = [p for p in call.store.status_pages.values() if page_type in (None, "", p["page_type"])]
    return 200, {"status_pages": [page_json(p) for p in found], "limit": 25, "offset": 0, "more": False}


def _choices(call, collection):
    page = _page(call)
    post_type = q.one(call.query, "post_type")
    if post_type not in (None, "") + POST_TYPES:
        raise invalid("post_type must be incident or maintenance")
    kind, _ = CHOICES[collection]
    items = [c for c in page[collection] if post_type in (None, "", c["post_type"])]
    return 200, {collection: [{"id": c["id"], "type": kind, "description": c["description"],
                               "post_type": c["post_type"], "status_page": {"id": page["id"], "type": "status_page"},
                               "self": f"{call.store.base_url}/status_pages/{page['id']}/{collection}/{c['id']}"}
                              for c in items],
                 "limit": 25, "offset": 0, "more": False}


@route("GET", "/status_pages/{id}/statuses")
def list_statuses(call):
    return _choices(call, "statuses")


@route("GET", "/status_pages/{id}/severities")
def list_severities(call):
    return _choices(call, "severities")


@route("GET", "/status_pages/{id}/impacts")
def list_impacts(call):
    return _choices(call, "impacts")


def _post(call, page):
    post = next((p for p in page["posts"] if p["id"] == call.params["post_id"]), None)
    if post is None:
        raise not_found(f"post {call.params['post_id']}")
    return post


def _time(body, field, where):
    value = body.get(field)
    if value is None:
        return None
    try:
        return timeutil.parse(value)
    except ValueError:
        raise invalid(f"{where}.{field} must be an ISO 8601 date-time") from None


def _choice_id(page, collection, ref, post_type, where):
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        raise invalid(f"{where} must be a reference with an id")
    if not any(c["id"] == ref["id"] and c["post_type"] == post_type for c in page[collection]):
        raise invalid(f"{where} {ref['id']} is not one of this page's {collection} for {post_type} posts")
    return ref["id"]


def _new_update(store, page, post_type, body, where, now):
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        raise invalid(f"{where}.message is required")
    frequency = body.get("update_frequency_ms")
    if frequency is not None and (isinstance(frequency, bool) or not isinstance(frequency, int)):
        raise invalid(f"{where}.update_frequency_ms must be an integer or null")
    return {"id": store.new_id(), "message": message, "reported": now, "notify": bool(body.get("notify_subscribers")),
            "frequency": frequency,
            "status_id": _choice_id(page, "statuses", body.get("status"), post_type, f"{where}.status"),
            "severity_id": _choice_id(page, "severities", body.get("severity"), post_type, f"{where}.severity")}


def _window(post, body, where):
    for field, attr in (("starts_at", "starts"), ("ends_at", "ends")):
        if field in body:
            post[attr] = _time(body, field, where)
    if post["post_type"] == "maintenance" and (post["starts"] is None or post["ends"] is None):
        raise invalid(f"{where}: a maintenance post needs starts_at and ends_at")
    if post["starts"] is not None and post["ends"] is not None and post["ends"] <= post["starts"]:
        raise invalid(f"{where}.ends_at must be after starts_at")


@route("POST", "/status_pages/{id}/posts")
def create_post(call):
    store, page = call.store, _page(call)
    body = call.wrapped("post")
    title = body.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 128:
        raise invalid("post.title must be 1 to 128 characters")
    if body.get("post_type") not in POST_TYPES:
        raise invalid("post.post_type must be incident or maintenance")
    updates = body.get("updates")
    if not isinstance(updates, list) or not 1 <= len(updates) <= 50:
        raise invalid("post.updates must hold 1 to 50 post updates")
    post = {"id": store.new_id(), "title": title, "post_type": body["post_type"], "starts": None, "ends": None,
            "updates": []}
    _window(post, body, "post")
    post["updates"] = [_new_update(store, page, post["post_type"], u if isinstance(u, dict) else {},
                                   f"post.updates[{i}]", call.now) for i, u in enumerate(updates)]
    page["posts"].append(post)
    return 201, {"post": post_json(store, page, post)}


@route("GET", "/status_pages/{id}/posts/{post_id}")
def get_post(call):
    page = _page(call)
    return 200, {"post": post_json(call.store, page, _post(call, page))}


@route("PUT", "/status_pages/{id}/posts/{post_id}")
def update_post(call):
    store, page = call.store, _page(call)
    post = _post(call, page)
    body = call.wrapped("post")
    draft = dict(post)
    if "title" in body:
        if not isinstance(body["title"], str) or not 1 <= len(body["title"]) <= 128:
            raise invalid("post.title must be 1 to 128 characters")
        draft["title"] = body["title"]
    if "post_type" in body:
        if body["post_type"] not in POST_TYPES:
            raise invalid("post.post_type must be incident or maintenance")
        draft["post_type"] = body["post_type"]
    _window(draft, body, "post")
    post.update(draft)
    return 200, {"post": post_json(store, page, post)}


@route("GET", "/status_pages/{id}/posts/{post_id}/post_updates")
def list_updates(call):
    store, page = call.store, _page(call)
    post = _post(call, page)
    reviewed = q.one(call.query, "reviewed_status")
    if reviewed not in (None, "", "approved", "not_reviewed"):
        raise invalid("reviewed_status must be approved or not_reviewed")
    found = [] if reviewed == "not_reviewed" else post["updates"]
    return 200, {"post_updates": [update_json(store, page, post, u) for u in found],
                 "limit": 25, "offset": 0, "more": False}


@route("POST", "/status_pages/{id}/posts/{post_id}/post_updates")
def create_update(call):
    store, page = call.store, _page(call)
    post = _post(call, page)
    body = call.wrapped("post_update")
    update = _new_update(store, page, post["post_type"], body, "post_update", call.now)
    post["updates"].append(update)
    return 201, {"post_update": update_json(store, page, post, update)}


def seed(store, now):
    page = {"id": store.new_id(), "name": "Example Status", "page_type": "public",
            "url": "https://status.example.com", "published": now - 90 * timeutil.DAY, "posts": []}
    for collection, (_kind, by_type) in CHOICES.items():
        page[collection] = [{"id": store.new_id(), "post_type": post_type, "description": description}
                            for post_type, descriptions in by_type.items() for description in descriptions]
    store.status_pages[page["id"]] = page
    return [page["id"]]
