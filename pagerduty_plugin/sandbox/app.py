"""`Sandbox`: the in-process handle on a running sandbox (what tests and the CLI use)."""
import threading

from . import oauth, publicurl, seed as seeds, timeutil
from .webhook_sender import DROPS_TO_DISABLE, Deliverer, Policy
from .pipeline import Pipeline
from .contract import Contract
from .faults import Faults
from .journal import Journal
from .oauth import Identity
from .ratelimit import RateLimiter
from .server import SandboxHTTPServer
from .store import Store


class Sandbox:
    """A local PagerDuty (REST API v2 + Events API v2) on one port.

    >>> with Sandbox() as sb:
    ...     sb.info["api_url"]   # doctest: +SKIP
    """

    def __init__(self, host="127.0.0.1", port=0, seed="demo", rate_limit=None, verbose=False,
                 max_exchanges=20000, journal_bytes=64 * 2 ** 20, contract=None, webhook_policy=None,
                 webhook_hosts="loopback", tls=False, public_url=None):
        """journal_bytes: the request journal's budget; contract: a folder of PagerDuty's OpenAPI
        files to answer only what they document (strict-contract mode).
        webhook_policy: the retry schedule of webhook deliveries (delivery.Policy, or a dict of its
        settings); webhook_hosts: "loopback" (default: webhooks go to loopback URLs only) or "any".
        tls: serve HTTPS with a certificate from a throwaway CA (`info["ca_file"]`; needs trustme).
        public_url: the base written into self links and html_urls (e.g. a TLS front's), by default
        what the sandbox serves."""
        if seed not in ("demo", "empty"):
            raise ValueError(f"unknown seed {seed!r}: use demo or empty")
        if rate_limit is not None and int(rate_limit) < 1:
            raise ValueError("rate_limit must be a positive number of requests per minute")
        self.public_url = publicurl.normalize(public_url) if public_url is not None else None
        self.tls = bool(tls)
        self._certificates = None
        self.host = host
        self.port = port
        self.seed = seed
        self.rate_limit = rate_limit
        self.verbose = verbose
        self.store = Store()
        self.journal_log = Journal(max_exchanges, journal_bytes)
        # strict-contract mode: answers cut down to what PagerDuty's OpenAPI files in this folder promise
        self.contract = Contract(contract) if contract else None
        self.faults = Faults()
        self.identity = Identity()  # the scoped OAuth apps and their tokens
        self.limiter = RateLimiter(rate_limit)
        self.event_limiter = RateLimiter(rate_limit)
        if isinstance(webhook_policy, dict):
            webhook_policy = Policy(**webhook_policy)
        self.webhooks = Deliverer(webhook_policy, webhook_hosts)
        self.webhooks.still_wanted = self._subscription_exists
        self.webhooks.on_outcome = self._webhook_outcome
        self.store.deliverer = self.webhooks
        self._server = None
        self._thread = None
        self.reset()

    # lifecycle ------------------------------------------------------------------------------
    def start(self):
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        context = None
        if self.tls and self._certificates is None:
            from .tls import Certificates, host_names
            self._certificates = Certificates(host_names(self.host, publicurl.host(self.public_url)))
        if self._certificates is not None:
            context = self._certificates.server_context()
        server = SandboxHTTPServer((self.host, self.port), Pipeline(self), verbose=self.verbose,
                                   ssl_context=context)
        host, port = server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.port = port
        self.served_url = f"{'https' if context else 'http'}://{shown}:{port}"
        self.store.base_url = self.public_url or self.served_url
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"pagerduty-sandbox:{port}", daemon=True)
        self._thread.start()
        self.webhooks.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        self.webhooks.stop()
        server.stop()
        self._thread.join(timeout=5)
        self._thread = None
        if self._certificates is not None:
            self._certificates.remove()
            self._certificates = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # what a client needs ------------------------------------------------------------------------
    @property
    def info(self):
        """What a client needs. events_url is the base this plugin appends /enqueue to; events_host the
        root PagerDuty's own clients append /v2/enqueue to. ca_file: the CA to trust (None without TLS)."""
        base = self.store.base_url
        ids = self.store.seed_ids
        return {"api_url": base, "events_url": base + "/v2", "events_host": base, "api_key": ids["api_key"],
                "routing_key": ids.get("routing_key"), "from_email": ids["from_email"],
                "identity_url": base, "client_id": oauth.CLIENT_ID, "client_secret": oauth.CLIENT_SECRET,
                "subdomain": oauth.SUBDOMAIN,
                "ca_file": self._certificates.ca_file if self._certificates else None,
                "served_url": getattr(self, "served_url", None)}

    @property
    def api_key(self):
        return self.store.seed_ids["api_key"]

    @property
    def readonly_api_key(self):
        return self.store.seed_ids["readonly_api_key"]

    @property
    def user_api_key(self):
        return self.store.seed_ids["user_api_key"]

    @property
    def seed_ids(self):
        return self.store.seed_ids

    # test hooks -----------------------------------------------------------------------------------
    @property
    def exchanges(self):
        """Every request handled, hooks included (flagged), unmasked: dicts, oldest first."""
        return self.journal_log.exchanges()

    @property
    def last_seq(self):
        """The latest exchange's sequence number: a mark for `exchanges_after`."""
        return self.journal_log.last_seq

    def exchanges_after(self, seq):
        """The exchanges handled since the mark `seq` (as `exchanges` lists them)."""
        return self.journal_log.exchanges(after=seq)

    def journal(self, since=0):
        """The masked journal of API requests since the last reset (as GET /_sandbox/requests)."""
        return self.journal_log.entries(since)

    def add_fault(self, **spec):
        self.faults.add(spec)

    def clear_faults(self):
        self.faults.clear()

    def reset(self, seed=None):
        """Back to the seed (optionally another one); journal, faults and rate windows cleared."""
        if seed is not None:
            if seed not in ("demo", "empty"):
                from .errors import invalid
                raise invalid("seed must be demo or empty")
            self.seed = seed
        with self.store.lock:
            self.store.clear()
            seeds.apply(self.store, self.seed, timeutil.now())
            self.identity.seed()
        self.webhooks.clear()
        self.journal_log.clear()
        self.faults.clear()
        self.limiter.reset()
        self.event_limiter.reset()

    # webhooks ---------------------------------------------------------------------------------------
    def webhook_deliveries(self):
        """Every webhook delivery since the last reset, oldest first: {webhook_id, subscription_id,
        event_id, event_type, incident_id, url, status, attempts [{at, status_code, error}], ...}.
        status: pending, delivered, dropped (a 4xx, or queued when the subscription was disabled),
        failed (retries used up), skipped (not a loopback URL) or cancelled."""
        return self.webhooks.records()

    def wait_webhooks(self, timeout=10.0):
        """Block until no webhook is queued, being sent or waiting for a retry; True when so."""
        return self.webhooks.wait_idle(timeout)

    def _subscription_exists(self, subscription_id):
        with self.store.lock:
            return subscription_id in self.store.webhook_subscriptions

    def _webhook_outcome(self, subscription_id, dropped):
        """Count consecutive drops; the third disables the subscription (False: drop its queue)."""
        with self.store.lock:
            sub = self.store.webhook_subscriptions.get(subscription_id)
            if sub is None:
                return False
            sub["drops"] = sub["drops"] + 1 if dropped else 0
            if sub["drops"] >= DROPS_TO_DISABLE:
                sub["temporarily_disabled"] = True
            return not sub["temporarily_disabled"]

    def disable_ability(self, name):
        with self.store.lock:
            self.store.abilities[name] = False

    def enable_ability(self, name):
        with self.store.lock:
            self.store.abilities[name] = True

    def automation_pace(self, step_seconds=None, stall=None):
        """How new automation action invocations move on: one state every step_seconds (0: completed
        at once); stall=True: no runner picks them up, so they stay `sent` (a wait meets its deadline)."""
        with self.store.lock:
            if step_seconds is not None:
                self.store.automation["step"] = float(step_seconds)
            if stall is not None:
                self.store.automation["stall"] = bool(stall)
            return dict(self.store.automation)

    def seed_incidents(self, n, service_id=None, status="triggered"):
        """Insert n incidents directly (no HTTP); returns their ids."""
        with self.store.lock:
            self.store.deliver_webhooks = False   # straight into the store: no API change, no webhooks
            try:
                return seeds.bulk_incidents(self.store, int(n), service_id, status, timeutil.now())
            finally:
                self.store.deliver_webhooks = True
