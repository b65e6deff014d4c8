"""REST API v2 client: auth, the From header, safe paths, pagination and error mapping.

Things about PagerDuty's REST API that bite (see ../shared/pagerduty-api/README.md):
- Thirteen write operations require a `From: <user email>` header; the caller says which.
- Lists are classic offset pages (limit ≤ 100); offset + limit beyond 10,000 is a 400, so
  iteration stops there and reports it instead of failing.
- Array filters go as repeated `key[]=value` parameters.
- Success codes vary (POST notes answers 200, snooze 201): any 2xx is success.
"""

import re
from urllib.parse import quote

from pagerduty_plugin.client.http import json_body
from pagerduty_plugin.errors import PluginError

API_HOSTS = {"us": "https://api.pagerduty.com", "eu": "https://api.eu.pagerduty.com"}
ACCEPT = "application/vnd.pagerduty+json;version=2"
PAGE_LIMIT = 100
OFFSET_CAP = 10000
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class RestClient:
    def __init__(self, transport, base_url, api_key, auth_type="token", from_email=None):
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.from_email = from_email
        self.log = transport.log
        scheme = "Bearer {}" if auth_type == "bearer" else "Token token={}"
        self.headers = {"Authorization": scheme.format(api_key), "Accept": ACCEPT}

    # --- requests ---------------------------------------------------------------------

    def get(self, path, params=None):
        return self.call("GET", path, params=params)

    def post(self, path, body=None, *, from_email=None, needs_from=False, safe_to_repeat=False):
        return self.call("POST", path, body=body, from_email=from_email, needs_from=needs_from,
                         safe_to_repeat=safe_to_repeat)

    def put(self, path, body=None, *, from_email=None, needs_from=False, safe_to_repeat=True):
        return self.call("PUT", path, body=body, from_email=from_email, needs_from=needs_from,
                         safe_to_repeat=safe_to_repeat)

    def delete(self, path, *, from_email=None):
        return self.call("DELETE", path, from_email=from_email)

    def call(self, method, path, *, params=None, body=None, from_email=None, needs_from=False,
             safe_to_repeat=None):
        """The decoded JSON answer (None for an empty 2xx body) or a PluginError."""
        headers = dict(self.headers)
        sender = from_email or self.from_email
        if needs_from and not sender:
            raise PluginError(
                f"{method} {path} needs a From address and none was given",
                "Set from_email on the step or on the connection: the email of a user on the PagerDuty "
                "account, on whose behalf the change is made.",
            )
        if sender:
            headers["From"] = sender
        if body is not None:
            headers["Content-Type"] = "application/json"
        if safe_to_repeat is None:
            safe_to_repeat = method in ("GET", "PUT", "DELETE")
        response = self.transport.request(
            method, self.base_url + path, params=encode_params(params), json=body, headers=headers,
            safe_to_repeat=safe_to_repeat,
        )
        answer = json_body(response)
        if 200 <= response.status_code < 300:
            return answer
        raise rest_error(response, answer, method, path)

    # --- lists -------------------------------------------------------------------------

    def iterate(self, path, key, params=None, max_results=None, page_limit=PAGE_LIMIT):
        """(items, truncated): every page of a classic offset list, up to max_results,
        stopping at PagerDuty's 10,000 offset cap with a warning instead of an error."""
        params = dict(params or {})
        items, offset, truncated = [], 0, False
        while True:
            limit = page_limit if max_results is None else max(1, min(page_limit, max_results - len(items)))
            if offset + limit > OFFSET_CAP:
                limit = OFFSET_CAP - offset
                if limit <= 0:
                    truncated = True
                    self.log.warning(f"GET {path} stopped at PagerDuty's limit of {OFFSET_CAP} results; "
                                     "narrow the filters (for example since/until) to see the rest")
                    break
            page = self.get(path, {**params, "limit": limit, "offset": offset}) or {}
            batch = page.get(key) or []
            items.extend(batch)
            if max_results is not None and len(items) >= max_results:
                truncated = bool(page.get("more")) or len(items) > max_results
                del items[max_results:]
                break
            if not page.get("more") or not batch:
                break
            offset += len(batch)
        return items, truncated


def segment(value, what="id"):
    """One safe path segment: ids are checked, never pasted (`../users`, `P1?x=y` refused)."""
    text = str(value).strip() if value is not None else ""
    if not ID_PATTERN.fullmatch(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise PluginError(f"{shown!r} is not a valid PagerDuty {what}",
                          f"A PagerDuty {what} is letters and digits, like PABC123.",
                          {"field": what})
    return quote(text, safe="")


def encode_params(params):
    """PagerDuty's array filters: lists go as repeated `key[]=value`; None values are dropped."""
    if not params:
        return None
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            name = key if key.endswith("[]") else key + "[]"
            pairs += [(name, str(v)) for v in value]
        elif isinstance(value, bool):
            pairs.append((key, "true" if value else "false"))
        else:
            pairs.append((key, str(value)))
    return pairs


# --- errors --------------------------------------------------------------------------------

CAUSES = {
    1001: "{subject} is already resolved",
    1002: "{subject} is already acknowledged",
    1003: "Invalid status for {subject}",
    1004: "Invalid id",
    1006: "{subject} cannot be escalated further",
    1008: "The requester was not found",
    1012: "{subject} is not acknowledged",
    1013: "Invalid snooze duration (1 to 604800 seconds)",
    1014: "The escalation policy was not found",
    1019: "{subject} is already merged",
    2011: "The responder request needs a requester",
    2020: "PagerDuty's rate limit was exceeded",
}


def rest_error(response, answer, method, path):
    status = response.status_code
    error = (answer or {}).get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    data = {"status": status, "code": error.get("code"), "message": error.get("message"),
            "errors": error.get("errors") or []}
    cause, assistance = explain(status, error, method, path, getattr(response, "retries", 0))
    details = "; ".join(map(str, data["errors"]))
    if details and details not in cause:
        cause = f"{cause}: {details}"
    return PluginError(cause, assistance, data)


def subject_of(path):
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "incidents":
        return f"Incident {parts[1]}"
    if len(parts) >= 2:
        return f"{parts[0][:-1].replace('_', ' ').capitalize()} {parts[1]}"
    return "The request"


def explain(status, error, method, path, retries):
    """(cause, assistance) in the user's terms for a PagerDuty error answer."""
    code, message = error.get("code"), error.get("message") or ""
    subject = subject_of(path)
    errors_text = " ".join(map(str, error.get("errors") or []))
    if status == 401:
        return ("PagerDuty did not accept the API key (HTTP 401)",
                "Check api_key and auth_type (token for an API key, bearer for an OAuth token).")
    if status == 403:
        return ("The API key is read-only or lacks access to this object (HTTP 403)",
                f"Use a full-access key, or one whose user may {method} {path}.")
    if status == 402:
        return (f"The PagerDuty account lacks the ability this needs (HTTP 402): {message}",
                "Ask PagerDuty about the plan or add-on that provides it.")
    if status == 404:
        return (f"{subject} was not found (HTTP 404)" if subject != "The request" else f"{path} was not found",
                "Check the id; `list_*` actions show the ids that exist.")
    if status == 413:
        return ("Too many items in one request (HTTP 413)", "Send at most 250 at a time.")
    if status == 429:
        return (f"PagerDuty's rate limit was exceeded (HTTP 429) and {retries} retries did not get through",
                "REST allows 960 requests a minute per user: slow down or spread the work, then rerun.")
    if status >= 500:
        return (f"PagerDuty failed with HTTP {status} ({method} {path})",
                "PagerDuty may be having an outage (status.pagerduty.com); run the step again later.")
    if status == 400 and "From" in (message + errors_text) and "header" in (message + errors_text):
        return ("The From address is not a user on this account",
                "Set from_email to the email of an existing PagerDuty user.")
    if code in CAUSES:
        return (CAUSES[code].format(subject=subject), "Check the incident's current state and the input.")
    return (f"PagerDuty refused {method} {path} (HTTP {status}): {message or 'no reason given'}",
            "Correct the input as the error says; a 400 is never retried.")
