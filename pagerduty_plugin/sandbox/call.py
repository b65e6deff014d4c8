"""What a REST handler receives: the parsed request plus the acting user and the store."""
from .errors import ApiError, invalid, MISSING_ARGUMENTS


class Call:
    __slots__ = ("store", "method", "path", "params", "query", "body", "headers", "key",
                 "from_user", "now")

    def __init__(self, store, method, path, params, query, body, headers, key, from_user, now):
        self.store = store
        self.method = method
        self.path = path
        self.params = params
        self.query = query
        self.body = body
        self.headers = headers
        self.key = key              # {"read_only", "user_id"} of the API key used
        self.from_user = from_user  # user record named by the From header, if any
        self.now = now

    def wrapped(self, name):
        """The object inside the request's {"<name>": {...}} wrapper."""
        if not isinstance(self.body, dict) or name not in self.body:
            raise ApiError(400, MISSING_ARGUMENTS, "Missing Arguments", [f"{name} is required"])
        inner = self.body[name]
        if not isinstance(inner, dict):
            raise invalid(f"{name} must be an object")
        return inner

    def actor(self):
        """The user an action is recorded against: From, else the key's user (user-level keys)."""
        if self.from_user is not None:
            return self.from_user["id"]
        return (self.key or {}).get("user_id")
