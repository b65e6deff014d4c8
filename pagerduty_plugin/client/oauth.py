"""Scoped OAuth: the client-credentials token of a PagerDuty app, fetched on first use, cached
across processes, renewed before it expires and once when PagerDuty refuses it.

Things about PagerDuty's identity service that bite (../shared/integration-facts.md):
- The token is asked for with a form-encoded POST to {identity}/oauth/token; `scope` names the
  account first (`as_account-us.acme`), then the scopes, space-separated.
- The answer's `scope` says what was granted, which may be less than what was asked for.
- An expired (or revoked) token answers 401 on the REST API; a missing scope 403.

The cache file holds the token and its expiry, never the client secret; it is private to its
owner (0600) and named by a hash of what the token was asked with (client id, account, scopes).
"""

import json
import os
import threading
import time
from urllib.parse import urlsplit

from pagerduty_plugin.client.http import json_body, lenient_json
from pagerduty_plugin.errors import PluginError

IDENTITY_HOSTS = {"us": "https://identity.pagerduty.com", "eu": "https://identity.eu.pagerduty.com"}
RENEW_MARGIN = 300.0  # seconds before its expiry a token is renewed (at most a tenth of its life)
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}

# Tokens a long-lived process (the HTTP server) already holds: {cache key: Token}
HELD = {}
HELD_LOCK = threading.Lock()


class Token:
    __slots__ = ("value", "renew_at", "granted")

    def __init__(self, value, renew_at, granted):
        self.value = value  # the access token
        self.renew_at = renew_at  # epoch seconds after which it is renewed before use
        self.granted = granted  # the scopes PagerDuty granted (account scope left out)

    def fresh(self):
        return time.time() < self.renew_at

    def to_dict(self):
        return {"access_token": self.value, "renew_at": self.renew_at, "granted": self.granted}


class TokenSource:
    """One app's token for one set of scopes. `token()` is what a request sends; `renew(rejected)`
    replaces a token PagerDuty refused (once, however many threads saw the refusal)."""

    def __init__(self, transport, *, client_id, client_secret, subdomain, region="us", scopes=(), needs=(),
                 identity_url=None, cache_dir=None, on_token=None):
        self.transport = transport  # its own (it shares the step's session): a token request is no change sent
        self.client_id, self.client_secret = client_id, client_secret
        self.account = f"as_account-{region}.{subdomain}"
        self.scopes = sorted(set(scopes))  # asked for
        self.needs = sorted(set(needs))  # what the step may need (python.scopes), for a 403's error
        self.url = (identity_url or IDENTITY_HOSTS[region]).rstrip("/") + "/oauth/token"
        self.key = cache_key(self.url, client_id, self.account, self.scopes)
        self.path = os.path.join(cache_dir, f"{self.key}.json") if cache_dir else None
        self.on_token = on_token or (lambda value: None)  # each token is masked from the moment it is known
        self.lock = threading.Lock()
        self.current = None

    def token(self):
        with self.lock:
            if self.current is None or not self.current.fresh():
                self.current = self.held() or self.fetch()
            return self.current.value

    def renew(self, rejected):
        """A new token in place of `rejected` (unless another thread already replaced it)."""
        with self.lock:
            if self.current is None or self.current.value == rejected:
                self.current = self.fetch()
            return self.current.value

    def missing(self):
        """The scopes the step may need that its token was not granted."""
        granted = set(self.current.granted if self.current else ())
        return [scope for scope in self.needs if scope not in granted]

    # --- the cache ---------------------------------------------------------------------

    def held(self):
        """A fresh token from this process's memory or the cache file, else None."""
        with HELD_LOCK:
            token = HELD.get(self.key)
        if token is None and self.path:
            token = read_cached(self.path)
        if token is not None and token.fresh():
            self.on_token(token.value)
            return token
        return None

    def keep(self, token):
        with HELD_LOCK:
            HELD[self.key] = token
        if self.path:
            write_private(self.path, json.dumps(token.to_dict()))

    # --- the identity service --------------------------------------------------------------

    def fetch(self):
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self.client_secret, "scope": " ".join([self.account, *self.scopes])}
        reply = self.transport.request("POST", self.url, data=form, headers=FORM, safe_to_repeat=True)
        response = reply.response
        if response.status_code != 200:
            raise refused(reply, self.url, self.account)
        answer = json_body(reply, self.transport.secrets)
        value = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(value, str) or not value:
            raise PluginError(f"{urlsplit(self.url).netloc} answered the token request without an access_token",
                              "Check identity_url: it must be PagerDuty's identity service "
                              "(https://identity.pagerduty.com, or the EU's).", {"status": response.status_code})
        self.on_token(value)
        lifetime = number(answer.get("expires_in"), 3600.0)
        granted = [s for s in str(answer.get("scope") or "").split() if not s.startswith("as_account-")]
        token = Token(value, time.time() + lifetime - min(RENEW_MARGIN, lifetime / 10), granted)
        self.transport.log.debug(f"OAuth token fetched for {len(self.scopes)} scope(s), valid {lifetime:.0f} s")
        self.keep(token)
        return token


def cache_key(url, client_id, account, scopes):
    import hashlib

    return hashlib.sha256(json.dumps([url, client_id, account, scopes]).encode()).hexdigest()[:32]


def number(value, default):
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


def read_cached(path):
    """The Token in a cache file, or None when there is none (or it is unreadable or not ours)."""
    try:
        with open(path, encoding="utf-8") as fh:
            if os.fstat(fh.fileno()).st_mode & 0o077:  # readable by others: not one we wrote
                return None
            data = json.load(fh)
        return Token(data["access_token"], float(data["renew_at"]), list(data["granted"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_private(path, text):
    """Write the cache file readable by its owner alone, replacing the old one at once. A cache
    that cannot be written costs a token request next time, never the step."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def refused(reply, url, account):
    """PagerDuty's identity service said no: OAuth's error (RFC 6749 §5.2) in the user's terms."""
    response, answer = reply.response, lenient_json(reply)
    answer = answer if isinstance(answer, dict) else {}
    code, description = answer.get("error"), answer.get("error_description")
    code = code if isinstance(code, str) else None
    data = {"status": response.status_code, "code": code,
            "message": description if isinstance(description, str) else None}
    host = urlsplit(url).netloc
    if code == "invalid_scope":
        return PluginError(f"{host} refused the scopes asked for ({account} …): {data['message'] or code}",
                           "Give the app these scopes in PagerDuty, or ask for fewer (PAGERDUTY_SCOPES); "
                           "`pagerduty-plugin scopes ACTION` prints what each action needs.", data)
    if response.status_code in (400, 401) and code in ("invalid_client", "unauthorized_client", None):
        return PluginError(f"{host} did not accept the OAuth app's credentials (HTTP {response.status_code}"
                           f"{': ' + code if code else ''})",
                           "Check client_id and client_secret (PAGERDUTY_CLIENT_ID, PAGERDUTY_CLIENT_SECRET), and "
                           "subdomain and region: the app must be installed on that account.", data)
    return PluginError(f"{host} refused the OAuth token request (HTTP {response.status_code}"
                       f"{': ' + code if code else ''})",
                       "Check identity_url, subdomain and region, then run the step again.", data)
