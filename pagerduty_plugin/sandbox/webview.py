"""GET /: a read-only web page of the sandbox's account (incidents with their timeline, alerts and notes,
change events, webhooks delivered), refreshing itself. Static files from web/ plus one JSON snapshot at
/web/view.json; no API key needed, nothing secret shown, nothing journaled."""
import json
import os

from . import change_events
from .server import Response
from .timeutil import iso

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/web/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/web/style.css": ("style.css", "text/css; charset=utf-8")}
MAX_INCIDENTS = 50
MAX_TIMELINE = 40
MAX_WEBHOOKS = 50
MAX_CHANGES = 20
SECURITY = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")]


def serves(request):
    return request.method in ("GET", "HEAD") and (request.path in FILES or request.path in
                                                   ("/web/view.json", "/favicon.ico"))


def handle(sandbox, request):
    if request.path == "/favicon.ico":   # browsers ask for it: none, without an API error
        return Response(204, SECURITY)
    if request.path == "/web/view.json":
        body = json.dumps(snapshot(sandbox), separators=(",", ":")).encode()
        return Response(200, [("Content-Type", "application/json; charset=utf-8"), *SECURITY], body)
    name, content_type = FILES[request.path]
    with open(os.path.join(WEB, name), "rb") as fh:
        return Response(200, [("Content-Type", content_type), *SECURITY], fh.read())


def snapshot(sandbox):
    """What the page shows, newest first."""
    store = sandbox.store
    with store.lock:
        incidents = sorted(store.incidents.values(), key=lambda inc: (inc["created"], inc["number"]), reverse=True)
        counts = {status: sum(1 for inc in store.incidents.values() if inc["status"] == status)
                  for status in ("triggered", "acknowledged", "resolved")}
        shown = [_incident(store, inc) for inc in incidents[:MAX_INCIDENTS]]
        changes = [_change(store, rec) for rec in change_events.newest_first(store)[:MAX_CHANGES]]
    webhooks = list(reversed(sandbox.webhook_deliveries()))[:MAX_WEBHOOKS]
    return {"seed": sandbox.seed, "api_url": store.base_url, "counts": counts, "incident_total": len(incidents),
            "incidents": shown, "change_events": changes,
            "webhooks": [_webhook(w) for w in webhooks]}


def _name(store, kind, id_):
    return store.summary(kind, id_) or id_


def _agent(store, agent):
    if agent is None:
        return "PagerDuty"
    kind, agent_id = agent
    if kind == "integration":
        integration = store.integrations.get(agent_id)
        return _name(store, "service", integration["service_id"]) if integration else agent_id
    return _name(store, kind, agent_id)


def _incident(store, inc):
    log = [store.log_entries[i] for i in inc["log_ids"] if i in store.log_entries]
    return {
        "id": inc["id"], "number": inc["number"], "title": inc["title"], "status": inc["status"],
        "urgency": inc["urgency"], "created_at": iso(inc["created"]),
        "service": _name(store, "service", inc["service_id"]),
        "assignees": [_name(store, "user", uid) for uid, _at in inc["assignments"]],
        "timeline": [{"at": iso(rec["created"]), "type": rec["type"].replace("_log_entry", ""),
                      "summary": rec["summary"], "by": _agent(store, rec["agent"])} for rec in log[-MAX_TIMELINE:]],
        "alerts": [{"summary": a["summary"], "status": a["status"], "severity": a["severity"],
                    "created_at": iso(a["created"])}
                   for a in (store.alerts.get(i) for i in inc["alert_ids"]) if a is not None],
        "notes": [{"at": iso(note["created"]), "by": _name(store, "user", note["user_id"]) if note["user_id"] else "",
                   "content": note["content"]} for note in inc["notes"]],
    }


def _change(store, rec):
    return {"id": rec["id"], "summary": rec["summary"], "timestamp": iso(rec["timestamp"]),
            "source": rec["source"] or "", "service": _name(store, "service", rec["service_id"])}


def _webhook(view):
    attempts = view.get("attempts") or []
    last = attempts[-1] if attempts else {}
    return {"event_type": view["event_type"], "incident_id": view.get("incident_id"), "url": view["url"],
            "status": view["status"], "attempts": len(attempts), "last_status_code": last.get("status_code"),
            "created_at": iso(view.get("created_at"))}
