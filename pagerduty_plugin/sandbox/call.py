"""What a REST handler receives: the parsed request plus the acting user and the store."""
from .errors import invalid, missing


class Call:
    __slots__ = ("store", "params", "query", "body", "key", "from_user", "now")

    def __init__(self, store, params, query, body, key, from_user, now):
        self.store = store
        self.params = params
        self.query = query
        self.body = body
        self.key = key              # {"read_only", "user_id"} of the API key used
        self.from_user = from_user  # user record named by the From header, if any
        self.now = now

    def wrapped(self, name):
        """The object inside the request's {"<name>": {...}} wrapper."""
        if not isinstance(self.body, dict) or name not in self.body:
            raise missing(f"{name} is required")
        inner = self.body[name]
        if not isinstance(inner, dict):
            raise invalid(f"{name} must be an object")
        return inner

    def actor(self):
        """The user an action is recorded against: From, else the key's user (user-level keys)."""
        if self.from_user is not None:
            return self.from_user["id"]
        return (self.key or {}).get("user_id")

    def agent(self):
        """The actor as a log entry's agent ("user", id), or None (PagerDuty itself)."""
        user_id = self.actor()
        return ("user", user_id) if user_id else None
