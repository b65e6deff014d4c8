"""PagerDuty's identity service for scoped OAuth apps: POST /oauth/token (client credentials), and
the scope each REST route asks of a token.

What PagerDuty does (its developer docs): the form names `grant_type=client_credentials`,
`client_id`, `client_secret` and `scope=as_account-{us|eu}.{subdomain} <scope> …`; the answer is
`{access_token, token_type: "bearer", expires_in, scope}`. Errors are OAuth's (RFC 6749 §5.2):
`{"error": "invalid_client", "error_description": …}`. On the REST API an expired token answers
401, a token without the operation's scope 403 (PagerDuty's usual error envelope).
"""
import secrets
import time
from urllib.parse import parse_qs

from .errors import ACCESS_DENIED, AUTH_FAILED, ApiError

CLIENT_ID = "sbx-oauth-app-5f1c2e7a"
CLIENT_SECRET = "sbxS3cret+oauth_Q7vKp2Lm"
SUBDOMAIN = "sandbox"
REGION = "us"
LIFETIME = 86400  # seconds, as PagerDuty's docs show

# The scope an operation asks, as PagerDuty's API reference lists them: by the path's first part
# and read (GET) or write (anything else), but for the routes below.
RESOURCE_SCOPES = {"log_entries": "incidents", "maintenance_windows": "services",
                   "automation_actions": None}  # its reference names no scope for Automation Actions
ROUTE_SCOPES = {
    ("GET", "/schedules/{id}/users"): "users.read",
    ("GET", "/incidents/{id}/related_change_events"): "incidents.read",
    ("GET", "/services/{id}/change_events"): "services.read",
    ("GET", "/users/me"): None,  # a user token's own account: no scope
}
# Nested resources with scopes of their own, by (the path part before, the part): the last one in a
# path wins (/incidents/types/{id}/custom_fields/... asks custom_fields.*, /incidents/{id}/custom_fields
# asks incidents.*).
SCOPED_CHILDREN = {("users", "contact_methods"): "users:contact_methods",
                   ("users", "notification_rules"): "users:contact_methods",
                   ("incidents", "types"): "incident_types", ("types", "custom_fields"): "custom_fields",
                   ("incident_workflows", "instances"): "incident_workflows:instances"}


def required_scope(method, template):
    """The scope a token needs for `method template` (the route's template, e.g. /incidents/{id}),
    or None when PagerDuty asks none."""
    if (method, template) in ROUTE_SCOPES:
        return ROUTE_SCOPES[(method, template)]
    words = [p for p in template.split("/") if p and not p.startswith("{")]
    resource = RESOURCE_SCOPES.get(words[0], words[0])
    for before, word in zip(words, words[1:]):
        resource = SCOPED_CHILDREN.get((before, word), resource)
    if resource is None:
        return None
    return f"{resource}.{'read' if method in ('GET', 'HEAD') else 'write'}"


class Identity:
    """The apps the account has installed, the tokens issued, and the knobs tests turn."""

    def __init__(self):
        self.clients = {}  # client id -> {"secret", "scopes": set or None (any)}
        self.tokens = {}  # access token -> {"client_id", "scopes": set, "expires_at"}
        self.lifetime = LIFETIME  # expires_in of the next tokens (short to test renewal)
        self.reject_all = False  # every token answers 401 (a revoked app)
        self.expire_next_after = None  # the next token issued expires after serving this many requests

    def seed(self):
        self.clients = {CLIENT_ID: {"secret": CLIENT_SECRET, "scopes": None}}
        self.tokens = {}
        self.lifetime = LIFETIME
        self.reject_all = False
        self.expire_next_after = None

    def settings(self, body):
        """The /_sandbox/oauth hook: {"lifetime": seconds, "reject_all": bool, "expire_all": true,
        "expire_next_after": N (the next token expires once it has served N requests: mid-stream)}."""
        if "lifetime" in body:
            lifetime = body["lifetime"]
            if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime < 1:
                raise ApiError(400, 2001, "Invalid Input Provided", ["lifetime must be a positive integer"])
            self.lifetime = lifetime
        if "expire_next_after" in body:
            count = body["expire_next_after"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ApiError(400, 2001, "Invalid Input Provided", ["expire_next_after must be a count of requests"])
            self.expire_next_after = count
        if "reject_all" in body:
            self.reject_all = bool(body["reject_all"])
        if body.get("expire_all"):
            for token in self.tokens.values():
                token["expires_at"] = 0.0
        return {"lifetime": self.lifetime, "reject_all": self.reject_all, "tokens": len(self.tokens),
                "expire_next_after": self.expire_next_after}

    # POST /oauth/token ------------------------------------------------------------------------
    def token(self, request):
        """(status, answer) of a token request."""
        form = {k: v[-1] for k, v in parse_qs((request.body or b"").decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, oauth_error("unsupported_grant_type", "grant_type must be client_credentials")
        client = self.clients.get(form.get("client_id"))
        if client is None or not secrets.compare_digest(client["secret"], form.get("client_secret") or ""):
            return 401, oauth_error("invalid_client", "Client authentication failed")
        words = (form.get("scope") or "").split()
        accounts = [w for w in words if w.startswith("as_account-")]
        if accounts != [f"as_account-{REGION}.{SUBDOMAIN}"]:
            return 400, oauth_error("invalid_scope", f"scope must name the account once: as_account-{REGION}."
                                                     f"{SUBDOMAIN}")
        wanted = {w for w in words if not w.startswith("as_account-")}
        if client["scopes"] is not None and not wanted <= client["scopes"]:
            return 400, oauth_error("invalid_scope", "The app was not granted: "
                                    + " ".join(sorted(wanted - client["scopes"])))
        value = "pdus+" + secrets.token_urlsafe(24)
        self.tokens[value] = {"client_id": form["client_id"], "scopes": wanted,
                              "expires_at": time.time() + self.lifetime, "uses_left": self.expire_next_after}
        self.expire_next_after = None
        return 200, {"access_token": value, "token_type": "bearer", "expires_in": self.lifetime,
                     "scope": " ".join([accounts[0], *sorted(wanted)])}

    # the REST API ---------------------------------------------------------------------------------
    def key(self, value):
        """The key record of a bearer token, or None when it is no token of ours; an expired or
        rejected one is a 401."""
        token = self.tokens.get(value)
        if token is None:
            return None
        if token["uses_left"] is not None:
            if token["uses_left"] == 0:
                token["expires_at"] = 0.0
            token["uses_left"] -= 1
        if self.reject_all or token["expires_at"] <= time.time():
            raise ApiError(401, AUTH_FAILED, "Authentication failed", ["The access token is expired or revoked"])
        return {"read_only": False, "user_id": None, "scopes": token["scopes"]}

    @staticmethod
    def check_scope(key, method, template):
        scope = required_scope(method, template)
        if "scopes" not in key or scope is None or scope in key["scopes"]:
            return
        raise ApiError(403, ACCESS_DENIED, "Access Denied",
                       [f"The access token does not have the required scope: {scope}"])


def oauth_error(code, description):
    return {"error": code, "error_description": description}
