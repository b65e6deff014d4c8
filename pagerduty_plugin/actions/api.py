"""api_request: a REST API v2 call that the pack has no action for yet, made with the same key,
From header, retries and error mapping as every action. The path stays inside the API: an
absolute URL, `..`, `//host`, backslashes, percent-encoding (`%2e%2e`) and control characters
are refused before anything is sent."""

import re

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.errors import PluginError, shorten

# What PagerDuty's path segments and ids are made of.
SEGMENT = re.compile(r"[A-Za-z0-9_.~-]+")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
SCALARS = (str, int, float, bool)


class ApiRequest(Action):
    def run(self, params):
        method = params["method"]
        path = api_path(params["path"])
        query = api_query(params.get("query"))
        body = params.get("body")  # the spec allows it only on POST, PUT, PATCH and DELETE
        status, answer = self.connection.rest.exchange(method, path, params=query, body=body,
                                                        from_email=params.get("from_email"))
        if answer is not None and not isinstance(answer, dict):
            answer = {"value": answer}
        return {"status": status, "body": answer}


def api_path(text):
    """The path, checked to stay inside the API, with one leading / and no trailing one."""
    path = text.strip()
    reason = path_problem(path)
    if reason is None:
        return "/" + path.strip("/")
    shown = shorten(path)
    refuse_input("path", f"The path {shown!r} does not stay inside PagerDuty's REST API: {reason}",
                 "Give a path relative to the API, like /users or /incidents/PABC123/notes, and query "
                 "parameters in `query`.")


def path_problem(path):
    if SCHEME.match(path) or path.startswith("//") or "://" in path:
        return "an absolute URL or another host is not accepted"
    if "?" in path or "#" in path:
        return "query parameters go in `query`, not in the path"
    if "\\" in path:
        return "backslashes are not accepted"
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "control characters are not accepted"
    if "%" in path:
        return "percent-encoding (like %2e%2e or %2f) is not accepted: write ids as they are"
    if not path.strip("/"):
        return "the path is empty"
    for part in path.strip("/").split("/"):
        if not part:
            return "empty segments (//) are not accepted"
        if set(part) == {"."}:
            return "'.' and '..' would leave the API"
        if not SEGMENT.fullmatch(part):
            return f"{part!r} has characters other than letters, digits, '-', '_', '.' and '~'"
    return None


def api_query(query):
    """Query parameters: values are text, numbers, booleans or lists of them (sent as key[]=…)."""
    for key, value in (query or {}).items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, SCALARS) for v in values):
            refuse_input("query", f"The query parameter {key!r} is not a value or a list of values",
                         'Write each parameter as text, a number, a boolean or a list, e.g. '
                         '{"statuses": ["triggered"], "limit": 10}.')
    return query or None


def refuse_input(field, cause, assistance):
    raise PluginError(cause, assistance, {"field": field})
