"""Test hooks under /_sandbox/ (no auth): journal, reset, faults, abilities, info, webhook deliveries, the pace of
automation action invocations."""
import json

from .account import ABILITIES
from .errors import ApiError, invalid, strict_json
from .server import Response

JSON_TYPE = "application/json; charset=utf-8"


def _answer(status, payload):
    if payload is None:
        return Response(status, [], b"")
    return Response(status, [("Content-Type", JSON_TYPE)], json.dumps(payload).encode())


def _body(request, lists=False):
    """The hook's JSON object (or, where `lists`, a list of objects); anything else is a 400."""
    if not request.body or not request.body.strip():
        return {}
    try:
        body = strict_json(request.body)
    except (ValueError, RecursionError):
        raise invalid("The request body is not valid JSON") from None
    if isinstance(body, dict) or (lists and isinstance(body, list)):
        return body
    raise invalid("The request body must be a JSON object" + (" or a list of them" if lists else ""))


def handle(sandbox, request):
    route = (request.method, request.path.rstrip("/"))
    try:
        handler = ROUTES.get(route)
        if handler is None:
            raise ApiError(404, 2100, "Not Found", [f"No sandbox hook at {request.method} {request.path}"])
        return handler(sandbox, request)
    except ApiError as exc:
        return _answer(exc.status, exc.body())


def requests(sandbox, request):
    since = request.query.get("since", ["0"])[-1]
    try:
        since = int(since or 0)
    except ValueError:
        raise invalid("since must be an integer (a journal seq)") from None
    entries = sandbox.journal(since)
    return _answer(200, {"requests": entries, "last_seq": entries[-1]["seq"] if entries else since})


def reset(sandbox, request):
    body = _body(request)
    seed = body.get("seed") if isinstance(body, dict) else None
    sandbox.reset(seed=seed)
    return _answer(200, {"status": "reset", "seed": sandbox.seed})


def add_faults(sandbox, request):
    body = _body(request, lists=True)
    specs = body if isinstance(body, list) else [body]
    for spec in specs:
        sandbox.faults.add(spec)
    return _answer(201, {"faults": sandbox.faults.listing()})


def list_faults(sandbox, request):
    return _answer(200, {"faults": sandbox.faults.listing()})


def clear_faults(sandbox, request):
    sandbox.faults.clear()
    return _answer(200, {"faults": []})


def abilities(sandbox, request):
    body = _body(request)
    if not isinstance(body, dict):
        raise invalid('send {"disable": [...], "enable": [...]}')
    disable, enable = _ability_names(body, "disable"), _ability_names(body, "enable")
    for name in disable:
        sandbox.disable_ability(name)
    for name in enable:
        sandbox.enable_ability(name)
    with sandbox.store.lock:
        state = dict(sandbox.store.abilities)
    return _answer(200, {"abilities": state})


def _ability_names(body, field):
    names = body.get(field)
    if names is None:
        return []
    if not isinstance(names, list) or any(name not in ABILITIES for name in names):
        raise invalid(f"{field} must be a list of ability names: {', '.join(ABILITIES)}")
    return names


def info(sandbox, request):
    return _answer(200, dict(sandbox.info, seed=sandbox.seed, readonly_api_key=sandbox.readonly_api_key,
                             seed_ids=sandbox.seed_ids))


def seed_incidents(sandbox, request):
    body = _body(request) or {}
    count = body.get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= 100000:
        raise invalid("count must be an integer from 1 to 100000")
    try:
        ids = sandbox.seed_incidents(count, service_id=body.get("service_id"), status=body.get("status", "triggered"))
    except ValueError as exc:
        raise invalid(str(exc)) from None
    return _answer(201, {"incident_ids": ids})


def webhooks(sandbox, request):
    """Webhook deliveries since the last reset (never a secret), the retry policy, and how many wait.
    ?wait=S first waits up to S seconds (at most 30) for every delivery to settle."""
    wait = request.query.get("wait", [""])[-1]
    if wait:
        try:
            seconds = float(wait)
        except ValueError:
            raise invalid("wait must be a number of seconds") from None
        if not 0 <= seconds <= 30:
            raise invalid("wait must be from 0 to 30 seconds")
        sandbox.wait_webhooks(seconds)
    return _answer(200, {"deliveries": sandbox.webhook_deliveries(), "pending": sandbox.webhooks.pending(),
                         "policy": sandbox.webhooks.policy.view()})


def webhook_policy(sandbox, request):
    body = _body(request)
    if not isinstance(body, dict):
        raise invalid('send {"backoff", "backoff_cap", "max_attempts", "timeout"} (any of them)')
    try:
        sandbox.webhooks.policy.update(**body)
    except (TypeError, ValueError) as exc:
        raise invalid(str(exc)) from None
    return _answer(200, {"policy": sandbox.webhooks.policy.view()})


def automation(sandbox, request):
    """{"step_seconds": S, "stall": bool}: how new automation action invocations move on (Sandbox.automation_pace)."""
    body = _body(request)
    step, stall = body.get("step_seconds"), body.get("stall")
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 <= step <= 3600):
        raise invalid("step_seconds must be a number from 0 to 3600")
    if stall is not None and not isinstance(stall, bool):
        raise invalid("stall must be true or false")
    return _answer(200, {"automation": sandbox.automation_pace(step, stall)})


def oauth(sandbox, request):
    """Token lifetime (short, to see renewal), every token rejected (a revoked app), or expired now."""
    body = _body(request)
    with sandbox.store.lock:
        return _answer(200, sandbox.identity.settings(body))


ROUTES = {
    ("GET", "/_sandbox/requests"): requests,
    ("POST", "/_sandbox/reset"): reset,
    ("POST", "/_sandbox/faults"): add_faults,
    ("GET", "/_sandbox/faults"): list_faults,
    ("DELETE", "/_sandbox/faults"): clear_faults,
    ("POST", "/_sandbox/abilities"): abilities,
    ("GET", "/_sandbox/info"): info,
    ("POST", "/_sandbox/incidents"): seed_incidents,
    ("GET", "/_sandbox/webhooks"): webhooks,
    ("POST", "/_sandbox/webhooks/policy"): webhook_policy,
    ("POST", "/_sandbox/automation"): automation,
    ("POST", "/_sandbox/oauth"): oauth,
}
