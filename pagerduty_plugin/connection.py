"""Connection settings -> PagerDuty clients, opened lazily (an events step never builds REST)."""

import os
import socket
from functools import cached_property
from urllib.parse import urlsplit

from pagerduty_plugin.client.events_api import EVENTS_HOSTS, EventsClient
from pagerduty_plugin.client.http import SessionPool, Transport
from pagerduty_plugin.client.rest import API_HOSTS, RestClient
from pagerduty_plugin.errors import PluginError, shorten

EXAMPLE_URLS = {"api_url": API_HOSTS["us"], "events_url": EVENTS_HOSTS["us"],
                "identity_url": "https://identity.pagerduty.com"}


class Connection:
    def __init__(self, settings, log, pool=None, scopes=()):
        check_settings(settings)
        self.settings = settings
        self.log = log
        self.pool = pool  # a SessionPool when the process is long-lived (the HTTP server)
        self.needs = list(scopes)  # the OAuth scopes the steps it serves may need (the spec's python.scopes)

    @staticmethod
    def new_pool():
        """Warm HTTP sessions for a long-lived process (the HTTP server), one per connection."""
        return SessionPool()

    def get(self, name, default=None):
        return self.settings.get(name, default)

    @cached_property
    def transport(self):
        verify = self.tls_verify()
        session = self.pool.session(self.digest(), verify) if self.pool else None
        transport = Transport(timeout=self.get("timeout", 30), max_retries=self.get("max_retries", 3),
                              verify_tls=verify, log=self.log, session=session)
        transport.secrets.update(filter(None, (self.get("api_key"), self.get("routing_key"),
                                               self.get("client_secret"))))
        return transport

    def tls_verify(self):
        """requests' `verify`: False, True, or the ca_file to trust instead of the system's CAs."""
        verify = self.get("verify_tls", True)
        return self.get("ca_file") if verify and self.get("ca_file") else verify

    def close(self):
        """End of the step: its own HTTP session is closed (a pool's stays warm for the next step)."""
        if "transport" in self.__dict__:  # built only when a client was used
            self.transport.close()

    def digest(self):
        """A key naming these exact settings (secrets included, hashed), for the session pool."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()

    @cached_property
    def events(self):
        region = self.get("region", "us")
        return EventsClient(self.transport, self.get("events_url") or EVENTS_HOSTS[region])

    @cached_property
    def rest(self):
        region = self.get("region", "us")
        base = self.get("api_url") or API_HOSTS[region]
        if self.get("client_id"):
            return RestClient(self.transport, base, None, from_email=self.get("from_email"), tokens=self.tokens)
        if not self.get("api_key"):
            raise PluginError("This action needs a PagerDuty REST API key and the connection has none",
                              "Set api_key on the connection (PAGERDUTY_API_KEY in plain mode), or an OAuth app's "
                              "client_id, client_secret and subdomain.")
        return RestClient(self.transport, base, self.get("api_key"), self.get("auth_type", "token"),
                          self.get("from_email"))

    @cached_property
    def tokens(self):
        """The OAuth app's token for the scopes configured, else for exactly those the steps need;
        cached in the state directory's oauth/ folder."""
        from pagerduty_plugin.client.oauth import TokenSource
        from pagerduty_plugin.logs import mask_everywhere
        from pagerduty_plugin.state import state_dir

        def masked(token):
            self.transport.secrets.add(token)
            mask_everywhere(self.log, token)

        configured = (self.get("scopes") or "").split()
        try:
            cache = os.path.join(state_dir(), "oauth")
        except PluginError as exc:  # no state directory: every step asks for its own token
            self.log.warning(f"{exc.cause}: the OAuth token is not cached")
            cache = None
        # its own transport (a token request is no change the step sent) on the step's session, which
        # carries the connection's TLS settings (verify_tls=True only keeps its warning from being said twice)
        identity = Transport(timeout=self.get("timeout", 30), max_retries=self.get("max_retries", 3),
                             verify_tls=True, log=self.log, session=self.transport.session)
        identity.secrets = self.transport.secrets
        return TokenSource(identity, client_id=self.get("client_id"), client_secret=self.get("client_secret"),
                           subdomain=self.get("subdomain"), region=self.get("region", "us"),
                           scopes=configured or self.needs, needs=self.needs, identity_url=self.get("identity_url"),
                           cache_dir=cache, on_token=masked)

    @cached_property
    def outbox(self):
        from pagerduty_plugin.state.outbox import Limits, open_outbox

        return open_outbox(self.get("outbox"), limits=Limits.of(self))

    def send_event(self, event, action):
        """An Events API v2 event (with its routing_key): sent directly, or through the outbox when
        the connection has one (then a failed send may answer status `queued`; see outbox/sender.py)."""
        if self.get("outbox"):
            from pagerduty_plugin.outbox.sender import send_durably

            return send_durably(self, event, action, self.log)
        return self.events.change(event) if action == "change" else self.events.enqueue(event)

    def writes_sent(self):
        """The changes (method and path) this step has sent so far."""
        return self.transport.writes_sent if "transport" in self.__dict__ else []

    def routing_key(self, override=None):
        key = override or self.get("routing_key")
        if not key:
            raise PluginError("No routing key: the step has no service_key and the connection no routing_key",
                              "Set service_key on the step, or routing_key on the connection "
                              "(the Integration Key of an Events API v2 integration).")
        if len(key) != 32 or not key.isalnum():
            raise PluginError("The routing key is not a PagerDuty integration key (32 letters and digits)",
                              "Copy the Integration Key of the service's Events API v2 integration.")
        return key

    def test(self):
        """A connection test that changes nothing: a REST read when there is a key; a token
        request when there is an OAuth app (its token may lack the scope of any read)."""
        if self.get("client_id"):
            self.tokens.token()
            return {"success": True, "message": "The OAuth app's credentials work (a token was granted)"}
        if self.get("api_key"):
            self.rest.get("/abilities")
            return {"success": True, "message": "The REST API key works"}
        if not self.get("routing_key"):
            raise PluginError("The connection has neither an api_key (for the REST actions) nor a routing_key "
                              "(for the event actions)", "Set at least one of them.")
        self.routing_key()
        return {"success": True,
                "message": "The routing key is well-formed (the Events API has no call that checks a key "
                           "without sending an event)"}


def check_settings(settings):
    """Settings that could never make a request, refused before any is tried."""
    for name in ("api_url", "events_url", "identity_url"):
        url = settings.get(name)
        if url is None:
            continue
        if has_credentials(url):  # never sent, never quoted: the API key is the only credential
            raise PluginError(f"The connection's {name} holds a user name or password (user:password@host)",
                              f"Remove them: give a URL like {EXAMPLE_URLS[name]}; the API key and routing "
                              "key are the only credentials the plugin sends.", {"field": name})
        if not http_url(url):
            raise PluginError(f"The connection's {name} is not an http(s) URL: {shorten(repr(url), 80)}",
                              f"Give a URL like {EXAMPLE_URLS[name]}, or leave it out to use the region's.",
                              {"field": name})
    if settings.get("outbox"):
        from pagerduty_plugin.state.outbox import check_url

        check_url(settings["outbox"])
    ca_file = settings.get("ca_file")
    if ca_file is not None and not readable_file(ca_file):
        raise PluginError(f"The connection's ca_file is not a readable file: {ca_file!r}",
                          "Give the path of a PEM file of CA certificates (PAGERDUTY_CA_FILE in plain mode), "
                          "or leave it out to trust the system's CAs.", {"field": "ca_file"})
    for name, what in (("api_key", "API key"), ("routing_key", "routing key"), ("from_email", "From address"),
                       ("client_id", "client id"), ("client_secret", "client secret"), ("subdomain", "subdomain")):
        value = settings.get(name)
        if value is not None and not plain_text(value):
            raise PluginError(f"The connection's {what} has spaces, line breaks or non-ASCII characters",
                              f"Copy the {what} again, without surrounding spaces or a trailing newline.",
                              {"field": name})


def has_credentials(url):
    """True when the URL's host part has a user:password@ (checked loosely, before any parsing,
    so a malformed URL with credentials is not quoted back either)."""
    authority = url.split("//", 1)[-1]
    for end in "/?#":
        authority = authority.split(end, 1)[0]
    return "@" in authority


def http_url(url):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:  # also an unclosed [IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def readable_file(path):
    import os

    return isinstance(path, str) and os.path.isfile(path) and os.access(path, os.R_OK)


def plain_text(value):
    return value.isascii() and value.isprintable() and not any(c.isspace() for c in value)


def host_name():
    return socket.gethostname() or "pagerduty-plugin"
