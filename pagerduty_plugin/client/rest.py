"""REST API v2 client: auth, the From header, safe paths, pagination and error mapping.

Things about PagerDuty's REST API that bite (see ../shared/pagerduty-api/README.md):
- Thirteen write operations require a `From: <user email>` header; the caller says which.
- Lists are classic offset pages (limit ≤ 100); offset + limit beyond 10,000 is a 400, so
  iteration stops there and reports it instead of failing. Newer lists (automation actions…)
  are cursor pages: `cursor` in, `next_cursor` out (null on the last page).
- Array filters go as repeated `key[]=value` parameters.
- Success codes vary (POST notes answers 200, snooze 201): any 2xx is success.
"""

import re
from urllib.parse import quote, unquote

from pagerduty_plugin.client.http import json_body, lenient_json
from pagerduty_plugin.errors import HttpRefusal, PluginError, shorten

API_HOSTS = {"us": "https://api.pagerduty.com", "eu": "https://api.eu.pagerduty.com"}
ACCEPT = "application/vnd.pagerduty+json;version=2"
PAGE_LIMIT = 100
OFFSET_CAP = 10000
PARALLEL_PAGES = 4  # pages in flight at once, once the total is known
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class RestClient:
    def __init__(self, transport, base_url, api_key, auth_type="token", from_email=None, tokens=None):
        """tokens: an OAuth TokenSource (client/oauth.py) to use instead of api_key: its token is
        sent as `Bearer`, and renewed once when PagerDuty answers 401."""
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.from_email = from_email
        self.log = transport.log
        self.tokens = tokens
        self.headers = {"Accept": ACCEPT}
        if tokens is None:
            scheme = "Bearer {}" if auth_type == "bearer" else "Token token={}"
            self.headers["Authorization"] = scheme.format(api_key)

    # --- requests ---------------------------------------------------------------------

    # Every answer is read through `unwrap`, the one reader of PagerDuty's envelopes. `key` names what
    # the answer wraps ({"incident": {...}}): given, the value under it is answered (an object, or a
    # list for kind=list), and its absence is a clear error. Without a key the answer itself must be
    # of `kind` ({"abilities": [...]} is an object; a schedule's overrides answer a bare list);
    # kind=None says the answer is not read (a DELETE's 204), and None is returned.

    def get(self, path, params=None, *, key=None, kind=dict):
        return self.call("GET", path, params=params, key=key, kind=kind)

    def post(self, path, body=None, *, from_email=None, needs_from=False, safe_to_repeat=False, key=None,
             kind=dict):
        return self.call("POST", path, body=body, from_email=from_email, needs_from=needs_from,
                         safe_to_repeat=safe_to_repeat, key=key, kind=kind)

    def put(self, path, body=None, *, from_email=None, needs_from=False, safe_to_repeat=True, key=None,
            kind=dict):
        return self.call("PUT", path, body=body, from_email=from_email, needs_from=needs_from,
                         safe_to_repeat=safe_to_repeat, key=key, kind=kind)

    def delete(self, path, *, from_email=None):
        return self.call("DELETE", path, from_email=from_email, kind=None)

    def call(self, method, path, key=None, kind=dict, **options):
        """The answer as `unwrap` reads it (see above); or a PluginError."""
        answer = self.exchange(method, path, **options)[1]
        return unwrap(answer, key, kind, f"{method} {path}")

    def exchange(self, method, path, *, params=None, body=None, from_email=None, needs_from=False,
                 safe_to_repeat=None):
        """(HTTP status, decoded JSON answer) of a successful call, or a PluginError."""
        headers = dict(self.headers)
        if needs_from:
            sender = self.require_from(from_email, f"{method} {path}")
        else:  # sent where known: PagerDuty records the change, or the request, against this user
            sender = (from_email or "").strip() or self.from_email
            sender = checked_email(sender) if sender else None
        if sender:
            headers["From"] = sender
        if body is not None:
            headers["Content-Type"] = "application/json"
        if safe_to_repeat is None:
            safe_to_repeat = method in ("GET", "PUT", "DELETE")
        reply = self.send(method, path, headers, safe_to_repeat, params=encode_params(params), json=body)
        response = reply.response
        if 200 <= response.status_code < 300:
            return response.status_code, json_body(reply, self.transport.secrets)
        answer = lenient_json(reply)
        if reply.after_uncertain_try:
            done = self.done_by_first_try(method, path, body, response.status_code, answer)
            if done is not None:
                return done
        if self.tokens is not None and response.status_code in (401, 403):
            raise oauth_error(response, answer, method, path, self.tokens)
        raise rest_error(response, answer, method, path, reply.retries)

    def send(self, method, path, headers, safe_to_repeat, **kwargs):
        """The Reply; with an OAuth token, a 401 (the token expired or was revoked early: PagerDuty
        did nothing) gets one new token and one more try."""
        url = self.base_url + path
        if self.tokens is None:
            return self.transport.request(method, url, headers=headers, safe_to_repeat=safe_to_repeat, **kwargs)
        token = self.tokens.token()
        reply = self.transport.request(method, url, headers={**headers, "Authorization": f"Bearer {token}"},
                                       safe_to_repeat=safe_to_repeat, **kwargs)
        if reply.response.status_code != 401:
            return reply
        self.log.info(f"{method} {path}: PagerDuty refused the OAuth token (HTTP 401); renewing it once")
        token = self.tokens.renew(token)
        return self.transport.request(method, url, headers={**headers, "Authorization": f"Bearer {token}"},
                                      safe_to_repeat=safe_to_repeat, **kwargs)

    def done_by_first_try(self, method, path, body, status, answer):
        """(status, answer) when a repeat's refusal means the unanswered first try did the work,
        checked by reading the object back; None otherwise."""
        code = error_code(answer)
        meaning = DONE_BY_FIRST_TRY.get((method, status, code)) or DONE_BY_FIRST_TRY.get((method, status, None))
        if meaning is None:
            return None
        if method == "DELETE":
            self.log.warning(f"DELETE {path}: {meaning} on the repeat after an unanswered try; taken as deleted")
            return 204, None
        kind, asked = wrapped(body)
        if kind is None or "status" not in asked:
            return None
        current = self.call("GET", path, key=kind)
        if current.get("status") != asked["status"]:
            return None
        self.log.warning(f"{method} {path}: {meaning} on the repeat after an unanswered try; read back, it is "
                         f"{asked['status']}, as asked")
        return 200, {kind: current}

    def require_from(self, from_email=None, what="This change"):
        """The From address for a write that needs one (the step's, else the connection's),
        checked before any request is sent."""
        sender = (from_email or "").strip() or (self.from_email or "").strip()
        if not sender:
            raise PluginError(
                f"{what} needs a From address and none was given",
                "Set from_email on the step or on the connection: the email of a user on the PagerDuty "
                "account, on whose behalf the change is made.",
                {"field": "from_email"},
            )
        return checked_email(sender)

    # --- lists -------------------------------------------------------------------------

    def iterate(self, path, key, params=None, max_results=None, page_limit=PAGE_LIMIT, check=None, cursor=False):
        """(items, truncated): every page of a list, up to max_results, stopping at PagerDuty's
        10,000 offset cap with a warning instead of an error. `check(batch)`, when given, is
        called on each page as it arrives. cursor=True: the list is cursor-paged."""
        listing = self.pages(path, key, params, max_results, page_limit, check, cursor)
        return listing.collect(), listing.truncated

    def pages(self, path, key, params=None, max_results=None, page_limit=PAGE_LIMIT, check=None, cursor=False):
        """An iterator over the pages (lists of objects) of a classic offset list (or, with
        cursor=True, a cursor list); its `truncated` is set once it is exhausted."""
        kind = CursorPages if cursor else Pages
        return kind(self, path, key, params, max_results, page_limit, check)


class Pages:
    """Classic offset pagination, trusting nothing the server says about the pages.

    Every page asks for the same `limit`; the next offset is always where the items actually
    received end (a server may cap pages below the limit asked: 50 of 100). Once two full
    pages have come back with the limit echoed as asked, and the second told the `total`, the
    remaining offsets are known and up to PARALLEL_PAGES of them are fetched at once (in order
    of yield); a page that comes back short there ends the parallel run and reading goes on
    one page at a time from where the items end. The first page never asks for the total
    (PagerDuty computes it only on request, as it is slower), so a one-page list costs exactly
    what it did. Whatever `more` and `total` claim, no more pages are read than max_results and
    the 10,000 cap need (at half the page size asked, at worst)."""

    def __init__(self, rest, path, key, params, max_results, page_limit, check=None):
        self.rest, self.path, self.key, self.check = rest, path, key, check
        self.params = dict(params or {})
        self.max_results = max_results
        self.limit = page_limit if max_results is None else max(1, min(page_limit, max_results))
        self.truncated = False
        needed = OFFSET_CAP if max_results is None else min(max_results, OFFSET_CAP)
        self.page_budget = 2 * -(-needed // self.limit) + 1

    def fetch(self, offset, total=False):
        extra = {"total": True} if total else {}
        request = f"GET {self.path}"
        page = self.rest.get(self.path, {**self.params, **extra, "limit": self.limit, "offset": offset})
        batch = unwrap(page, self.key, list, request)
        if self.check is not None:
            self.check(batch)  # in the paging thread, while other pages are on the wire
        return page, batch

    def full(self, page, batch):
        return len(batch) == self.limit and page.get("limit") == self.limit

    def __iter__(self):
        self.truncated = False
        state = {"offset": 0, "seen": 0, "fetched": 0, "trusted": 0}
        while True:
            if state["offset"] + self.limit > OFFSET_CAP:
                self.stop_at_cap()
                return
            if state["fetched"] >= self.page_budget:
                self.stop_short_pages()
                return
            page, batch = self.fetch(state["offset"], total=state["offset"] > 0)
            state["fetched"] += 1
            more = bool(page.get("more")) and bool(batch)
            state["trusted"] = state["trusted"] + 1 if self.full(page, batch) else 0
            kept, done = self.trim(batch, state["seen"], more)
            yield kept
            state["seen"] += len(kept)
            state["offset"] += len(batch)
            if done or not more:
                return
            total = page.get("total")
            if state["trusted"] >= 2 and type(total) is int and total > state["offset"]:
                finished = yield from self.in_parallel(total, state)
                if finished:
                    return
                state["trusted"] = 0

    def in_parallel(self, total, state):
        """Yields the pages from state["offset"] on, fetched several at a time; True when the
        list is done, False when a short page means going on one page at a time."""
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor
        from itertools import islice

        wanted = total if self.max_results is None else min(total, self.max_results)
        offsets = iter(range(state["offset"], min(wanted, OFFSET_CAP - self.limit + 1), self.limit))
        # The threads share the step's requests.Session: its urllib3 connection pool is
        # thread-safe, and these GETs carry no per-request state (no cookies, no auth flow).
        pool = ThreadPoolExecutor(PARALLEL_PAGES, thread_name_prefix="pagerduty-page")
        more = failed = False
        pending = deque()
        try:
            pending.extend(pool.submit(self.fetch, o) for o in islice(offsets, PARALLEL_PAGES))
            while pending:
                page, batch = pending.popleft().result()
                pending.extend(pool.submit(self.fetch, o) for o in islice(offsets, 1))  # keep them all busy
                state["fetched"] += 1
                more = bool(page.get("more")) and bool(batch)
                kept, done = self.trim(batch, state["seen"], more)
                yield kept
                state["seen"] += len(kept)
                state["offset"] += len(batch)
                if done:
                    return True
                if more and not self.full(page, batch):  # capped below the limit: offsets ahead are wrong
                    return False
        except BaseException:  # an error or a signal: the pages in flight end at their deadline
            failed = True
            raise
        finally:
            for future in pending:  # the pages not started yet (shutdown's cancel_futures, on Python 3.8 too)
                future.cancel()
            pool.shutdown(wait=not failed)
        if wanted > OFFSET_CAP:
            self.stop_at_cap()
        elif more:  # the list grew while it was read: say so rather than claim it is complete
            self.truncated = True
            self.rest.log.warning(f"GET {self.path}: more results appeared while listing; run the step again "
                                  "for a complete list")
        return True

    def trim(self, batch, seen, more):
        """(the part of batch within max_results, whether max_results is reached)."""
        if self.max_results is None or seen + len(batch) < self.max_results:
            return batch, False
        keep = self.max_results - seen
        self.truncated = more or len(batch) > keep
        return batch[:keep], True

    def stop_at_cap(self):
        self.truncated = True
        self.rest.log.warning(f"GET {self.path} stopped at PagerDuty's limit of {OFFSET_CAP} results; "
                              "narrow the filters (for example since/until) to see the rest")

    def stop_short_pages(self):
        self.truncated = True
        self.rest.log.warning(f"GET {self.path} stopped after {self.page_budget} pages: the server answers "
                              f"far fewer than the {self.limit} items a page asked for")

    def collect(self):
        items = []
        for batch in self:
            items.extend(batch)
        return items


class CursorPages(Pages):
    """Cursor pagination (`cursor` in, `next_cursor` out, null on the last page), with the same
    distrust as offset pages: a next_cursor that comes back again, an empty page that claims
    more, or an answer without next_cursor is an error that says so, never an endless loop or a
    list silently cut short; and no more pages are read than max_results needs (at half the page
    size asked, at worst) or than OFFSET_CAP items would fill."""

    def fetch(self, offset, total=False):  # `offset` is the cursor here (None: the first page)
        request = f"GET {self.path}"
        query = {**self.params, "limit": self.limit, **({"cursor": offset} if offset is not None else {})}
        page = self.rest.get(self.path, query)
        batch = unwrap(page, self.key, list, request)
        if "next_cursor" not in page:
            raise odd_page(request, "has no 'next_cursor' (PagerDuty's cursor lists carry it, null on the last page)")
        following = page["next_cursor"]
        if following is not None and (not isinstance(following, str) or not following):
            raise odd_page(request, "has a next_cursor that is not a cursor")
        if following is not None and not batch:
            raise odd_page(request, "answered an empty page that claims more (a next_cursor)")
        if self.check is not None:
            self.check(batch)
        return following, batch

    def __iter__(self):
        self.truncated = False
        cursor, seen, fetched, used = None, 0, 0, set()
        while True:
            if fetched >= self.page_budget:
                self.stop_short_pages()
                return
            following, batch = self.fetch(cursor)
            fetched += 1
            kept, done = self.trim(batch, seen, following is not None)
            yield kept
            seen += len(kept)
            if done or following is None:
                return
            if following in used or following == cursor:
                raise odd_page(f"GET {self.path}", f"gave the cursor {shorten(following, 40)!r} a second time "
                               "(reading on would repeat pages without end)")
            used.add(following)
            cursor = following


def odd_page(request, what):
    return PluginError(f"The answer to {request} {what}",
                       "The server at api_url answered unlike PagerDuty's API: check that api_url points at "
                       "PagerDuty (not a proxy or another service) and run the step again.", {"request": request})


def unwrap(answer, key, kind=dict, request="the request"):
    """The value under `key` in PagerDuty's answer envelope ({"incident": {...}},
    {"incidents": [...]}), or the answer itself for key None; None for kind None (an answer not
    read). A missing key or a value of another kind is PagerDuty's (or a proxy's) odd answer,
    said so, never read as empty."""
    if kind is None:
        return None
    value = answer.get(key) if isinstance(answer, dict) and key is not None else answer
    if isinstance(value, kind):
        return value
    shape = "a list" if kind is list else "an object"
    if key is None:
        cause = f"The answer to {request} is not {shape} as PagerDuty sends"
    elif not isinstance(answer, dict) or key not in answer:
        cause = f"The answer to {request} has no '{key}' (PagerDuty's answers carry it)"
    else:
        cause = f"The answer to {request} has '{key}' that is not {shape}"
    keys = sorted(answer)[:10] if isinstance(answer, dict) else []
    raise PluginError(cause, "The server at api_url answered unlike PagerDuty's API: check that api_url points "
                      "at PagerDuty (not a proxy or another service) and run the step again.",
                      {"key": key, "answer_keys": keys})


EMAIL = re.compile(r"[!-~]+@[!-~]+")  # printable ASCII, no spaces or control characters


def checked_email(sender):
    """A From address as a header may carry it: name@domain in printable ASCII, once."""
    if not EMAIL.fullmatch(sender) or sender.count("@") != 1 or len(sender) > 254:
        raise PluginError(f"The From address {shorten(repr(sender), 80)} is not an email address",
                          "Set from_email to the email of a user on the PagerDuty account.",
                          {"field": "from_email"})
    return sender


def segment(value, what="id"):
    """One safe path segment: ids are checked, never pasted (`../users`, `P1?x=y` refused)."""
    text = str(value).strip() if value is not None else ""
    if not ID_PATTERN.fullmatch(text):
        shown = shorten(text, 40)
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

# A repeat after an unanswered (timed out, dropped, 5xx) first try may be refused *because* that
# try was carried out. (method, HTTP status, PagerDuty's code or None for any) -> what it found.
DONE_BY_FIRST_TRY = {
    ("DELETE", 404, None): "gone",
    ("PUT", 400, 1001): "already resolved",
    ("PUT", 400, 1002): "already acknowledged",
}


def error_code(answer):
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def wrapped(body):
    """(key, object) of a one-object request body like {"incident": {...}}, else (None, {})."""
    if isinstance(body, dict) and len(body) == 1:
        (key, value), = body.items()
        if isinstance(value, dict):
            return key, value
    return None, {}


CHECK_STATE = "Check the incident's current state (get_incident) and the input."
CAUSES = {  # PagerDuty's error code -> (cause, assistance)
    1001: ("{subject} is already resolved",
           "Nothing to change: it was resolved earlier. Setting status triggered or acknowledged reopens it."),
    1002: ("{subject} is already acknowledged", CHECK_STATE),
    1003: ("Invalid status for {subject}", "Use triggered, acknowledged or resolved, as the incident allows."),
    1004: ("Invalid id", "Check the ids given; `list_*` actions show the ids that exist."),
    1006: ("{subject} cannot be escalated further",
           "Choose an escalation_level that exists in the incident's escalation policy."),
    1008: ("The requester was not found", "Give requester (or from_email) as a user id or email on the account."),
    1012: ("{subject} is not acknowledged", CHECK_STATE),
    1013: ("Invalid snooze duration", "Snooze an acknowledged incident for 1 to 604800 seconds (7 days)."),
    1014: ("The escalation policy was not found", "Check the escalation policy's id or name."),
    1019: ("{subject} is already merged", "Merge only open incidents that were not merged before."),
    2011: ("The responder request needs a requester", "Give requester, or from_email naming a user."),
    2020: ("PagerDuty's rate limit was exceeded", "Slow down or spread the work, then run the step again."),
}


def rest_error(response, answer, method, path, retries=0):
    status = response.status_code
    error = (answer or {}).get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    data = {"status": status, "code": error.get("code"), "message": error.get("message"),
            "errors": error.get("errors") or []}
    cause, assistance = explain(status, error, method, path, retries)
    if cause.startswith("The From address") and not getattr(response.request, "headers", {}).get("From"):
        cause = f"PagerDuty needs a From address for {method} {path} and none was sent"
    details = "; ".join(map(str, data["errors"]))
    if details and details not in cause:
        cause = f"{cause}: {details}"
    return HttpRefusal(cause, assistance, data, status, code=data["code"])


def oauth_error(response, answer, method, path, tokens):
    """A 401 after the token was renewed, or a 403 (PagerDuty's word for a scope the token lacks),
    said in OAuth's terms: the missing scopes named, and the command that prints what a step needs."""
    error = rest_error(response, answer, method, path)
    how = ("`pagerduty-plugin scopes ACTION…` (or `scopes --runbook FILE`) prints the scopes steps need; give "
           "the app those scopes in PagerDuty, and leave the connection's scopes (PAGERDUTY_SCOPES) unset to ask "
           "for exactly them")
    if response.status_code == 401:
        error.cause = f"PagerDuty refused the OAuth token for {method} {path} even after renewing it (HTTP 401)"
        error.assistance = ("Check that the app is still installed on the account (subdomain, region) and its "
                            "client_id and client_secret; then run the step again.")
        return error
    missing = tokens.missing()
    error.data["missing_scopes"] = missing
    said = "; ".join(map(str, error.data["errors"])) or error.data.get("message") or "no reason given"
    if missing:
        error.cause = (f"PagerDuty refused {method} {path} (HTTP 403): the OAuth token lacks the scope"
                       f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} this step needs ({said})")
    else:
        error.cause = (f"PagerDuty refused {method} {path} (HTTP 403): the OAuth token lacks a scope it needs, "
                       f"or the app lacks access to this object ({said})")
    error.assistance = how + "."
    return error


def subject_of(path):
    parts = [unquote(p) for p in path.split("/") if p]
    if parts[-1:] == ["merge"]:
        return "One of the incidents"  # the target or a source: PagerDuty's errors list says which
    if len(parts) >= 2 and parts[0].endswith("s"):  # /collection/ID; not /audit/records
        kind = parts[0][:-3] + "y" if parts[0].endswith("ies") else parts[0][:-1]
        return f"{kind.replace('_', ' ').capitalize()} {parts[1]}"
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
        cause, assistance = CAUSES[code]
        return cause.format(subject=subject), assistance
    return (f"PagerDuty refused {method} {path} (HTTP {status}): {message or 'no reason given'}",
            "Correct the input as the error says (a refused request is never retried).")
