"""Helpers the REST actions share: references, lists given as text, and name lookups."""

import re
from datetime import timezone

from pagerduty_plugin.actions.base import Action
from pagerduty_plugin.actions.listing import output
from pagerduty_plugin.client.rest import segment
from pagerduty_plugin.errors import PluginError
from pagerduty_plugin.compat import fromisoformat

# PagerDuty's ids: P + 6 (most objects) or Q + 13 (newer incidents), capitals and digits. A
# name of that exact shape (say "PAYMENT") is taken as an id: give such an object by id.
ID_SHAPE = re.compile(r"P[A-Z0-9]{6}|Q[A-Z0-9]{13}")


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


def find_user_by_email(rest, email):
    """The user whose email is exactly this one (case-insensitive), or None. GET /users?query=
    is a substring match on names and emails (ann@ also finds joann@): every page is read."""
    wanted = email.strip().lower()
    for page in rest.pages("/users", "users", {"query": email.strip()}):
        for user in page:
            if str(user.get("email", "")).strip().lower() == wanted:
                return user
    return None


def user_id_by_email(rest, email, field="user"):
    """The id of the user with exactly this email, or a clear error."""
    user = find_user_by_email(rest, email)
    if user is None:
        raise PluginError(f"No PagerDuty user has the email {email.strip()!r}",
                          "Give the user's id or exact email; `list_users` shows them.",
                          {"field": field, "value": email.strip()})
    return segment(user["id"], "user id")


def user_id_of(rest, value, field="user_id"):
    """A user id from an id or an email. Names are not accepted: they are not unique."""
    value = str(value).strip()
    return user_id_by_email(rest, value, field) if "@" in value else segment(value, "user id")


def resolve_user(rest, value):
    """A user id from an id, an email (exact, every page read) or an exact name."""
    value = str(value).strip()
    return user_id_by_email(rest, value) if "@" in value else resolve(rest, "users", value, "user")


# --- the shapes that list, get, create, update and delete actions share ---------------------
# A resource's plain actions are declared in one line each, e.g.
#     GetService = getter("services", "service")    # input service_id, output {"service": ...}
# Single-object actions read the id from the input `<kind>_id`.


def object_path(collection, object_id, kind):
    """/collection/ID, the id checked and quoted (`../users` refused before any request)."""
    return f"/{collection}/{segment(object_id, kind.replace('_', ' ') + ' id')}"


def given(params, *names):
    """The named inputs that the step gave (the runner has already dropped blank ones)."""
    return {name: params[name] for name in names if name in params}


def as_time(text):
    """A date input (ISO 8601: `Z`, `+00:00` or `+0000`, or none) as an aware datetime; no offset means UTC."""
    try:
        moment = fromisoformat(text)
    except ValueError:
        raise PluginError(f"{text!r} is not a date and time this action can read",
                          "Use ISO 8601 / RFC 3339, for example 2024-05-01T12:00:00Z.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def rfc3339(moment):
    """RFC 3339 as PagerDuty's contract wants it (its own +0000 spelling is not), offset kept."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def given_times(params, *names):
    """given() for date inputs, each sent as RFC 3339 (a bare date is midnight UTC). Their order
    is the spec's rule (`ascending` in python.constraints), checked by the runner before the step."""
    return {name: rfc3339(as_time(value)) for name, value in given(params, *names).items()}


def resolve_all(rest, collection, values, kind, **lookup):
    """The ids of a list of ids or names, each resolved with one lookup."""
    return [resolve(rest, collection, value, kind, **lookup) for value in as_list(values)]


def references(rest, collection, values, kind, **lookup):
    """[{id, type}] for a list of ids or names."""
    return [reference(object_id, kind) for object_id in resolve_all(rest, collection, values, kind, **lookup)]


def action_class(verb, noun, run, doc):
    """A class named as its module names it, e.g. GetService for getter("services", "service")."""
    name = verb + "".join(part.capitalize() for part in noun.split("_"))
    return type(name, (Action,), {"run": run, "__doc__": doc, "__qualname__": name})


def lister(collection, filters=None):
    """{collection: [...], count, truncated} up to max_results; filters(rest, params) -> query."""
    def run(self, params):
        rest = self.connection.rest
        query = filters(rest, params) if filters else None
        items, truncated = rest.iterate(f"/{collection}", collection, query, params.get("max_results"),
                                        check=self.output_items(collection))
        return output(collection, items, truncated)
    return action_class("List", collection, run, f"List {collection}")


def getter(collection, kind, query=None):
    """GET /collection/{kind_id}; query(params) -> its query parameters, if any."""
    def run(self, params):
        path = object_path(collection, params[f"{kind}_id"], kind)
        return {kind: self.connection.rest.get(path, query(params) if query else None, key=kind)}
    return action_class("Get", kind, run, f"Get a {kind}")


def creator(collection, kind, fields, needs_from=False):
    """POST {kind: {type, **fields(rest, params)}}; fields() checks its inputs before any lookup,
    and a From address that the POST needs is checked before fields() is called."""
    def run(self, params):
        rest = self.connection.rest
        if needs_from:
            rest.require_from(params.get("from_email"), f"Creating a {kind.replace('_', ' ')}")
        body = {kind: {"type": kind, **fields(rest, params)}}
        return {kind: rest.post(f"/{collection}", body, needs_from=needs_from, from_email=params.get("from_email"),
                                key=kind)}
    return action_class("Create", kind, run, f"Create a {kind}")


def updater(collection, kind, fields):
    """PUT only the fields the step gave (PagerDuty keeps the others; the spec asks for at least
    one). The id is checked before fields() makes any lookup, so a bad id costs no request."""
    def run(self, params):
        path = object_path(collection, params[f"{kind}_id"], kind)
        changes = fields(self.connection.rest, params)
        return {kind: self.connection.rest.put(path, {kind: {"type": kind, **changes}}, key=kind)}
    return action_class("Update", kind, run, f"Update a {kind}")


def deleter(collection, kind):
    def run(self, params):
        self.connection.rest.delete(object_path(collection, params[f"{kind}_id"], kind))
        return {"success": True}
    return action_class("Delete", kind, run, f"Delete a {kind}")
