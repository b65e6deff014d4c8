"""The REST route table: handlers register with @route(method, "/path/{param}")."""
import re

_STATIC = {}    # (method, path) -> Route
_DYNAMIC = {}   # method -> [Route]


class Route:
    __slots__ = ("method", "template", "regex", "handler", "from_header")

    def __init__(self, method, template, handler, from_header):
        self.method = method
        self.template = template
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.regex = re.compile(pattern + r"/?\Z")
        self.handler = handler
        self.from_header = from_header   # "required", "optional" or None


def route(method, template, from_header=None):
    def register(handler):
        entry = Route(method, template, handler, from_header)
        if "{" in template:
            _DYNAMIC.setdefault(method, []).append(entry)
        else:
            _STATIC[(method, template)] = entry
        return handler
    return register


def match(method, path):
    """(Route, path params) or (None, None)."""
    entry = _STATIC.get((method, path)) or _STATIC.get((method, path.rstrip("/")))
    if entry is not None:
        return entry, {}
    for entry in _DYNAMIC.get(method, ()):
        found = entry.regex.match(path)
        if found:
            return entry, found.groupdict()
    return None, None


def all_routes():
    routes = list(_STATIC.values())
    for entries in _DYNAMIC.values():
        routes.extend(entries)
    return routes


def load():
    """Import every resource module so its routes are registered."""
    from . import (users, contact_methods, teams, services, escalation_policies,  # noqa: F401
                   schedules, oncalls, account, extensions, maintenance_windows,
                   incidents, incident_collaboration, log_entries, alerts, webhook_subscriptions,
                   change_events)
    from . import (incident_workflows, automation_actions, incident_types, status_pages,  # noqa: F401
                   incident_relations, analytics)
