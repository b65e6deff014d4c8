"""Helpers the REST actions share: references, lists given as text, and name lookups."""

import re

from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.errors import PluginError

ID_SHAPE = re.compile(r"P[A-Z0-9]{6}|Q[A-Z0-9]{13}|[A-Z0-9]{7,14}")


def reference(object_id, kind):
    """A PagerDuty reference, e.g. {"id": "PABC123", "type": "service_reference"}."""
    return {"id": object_id, "type": f"{kind}_reference"}


def as_list(value):
    """A list input that may arrive as a comma-separated string (as Rundeck users write it)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [v for v in value if v not in (None, "")]


def looks_like_id(value):
    return bool(ID_SHAPE.fullmatch(value))


def resolve(rest, collection, value, kind, *, key="name", query=True):
    """The id of the object whose id or `key` (name, email…) is value: one lookup, and a
    clear error when a name matches none or several (ids are checked, never pasted)."""
    value = str(value).strip()
    if looks_like_id(value):
        return segment(value, f"{kind} id")
    params = {"query": value} if query else {}
    items, _ = rest.iterate(f"/{collection}", collection, params, max_results=1000)
    matches = [item for item in items if str(item.get(key, "")).lower() == value.lower()]
    if len(matches) == 1:
        return matches[0]["id"]
    label = kind.replace("_", " ")
    if not matches:
        raise PluginError(f"No {label} is named {value!r}",
                          f"Give the {label}'s id, or its exact {key}; `list_{collection}` shows them.",
                          {"field": kind, "value": value})
    ids = ", ".join(m["id"] for m in matches[:10])
    raise PluginError(f"{len(matches)} {label}s are named {value!r} ({ids})",
                      f"Give the {label}'s id instead of its {key}.", {"field": kind, "matches": ids})


def resolve_user(rest, value):
    """A user id from an id or an email (exact, case-insensitive)."""
    if "@" in str(value):
        return resolve(rest, "users", value, "user", key="email")
    return resolve(rest, "users", value, "user")
