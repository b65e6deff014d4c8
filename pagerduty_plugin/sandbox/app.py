"""`Sandbox`: the in-process handle on a running sandbox (what tests and the CLI use)."""
import threading

from . import seed as seeds, timeutil
from .dispatch import Dispatcher
from .contract import Contract
from .faults import Faults
from .journal import Journal
from .ratelimit import RateLimiter
from .server import SandboxHTTPServer
from .store import Store


class Sandbox:
    """A local PagerDuty (REST API v2 + Events API v2) on one port.

    >>> with Sandbox() as sb:
    ...     sb.info["api_url"]   # doctest: +SKIP
    """

    def __init__(self, host="127.0.0.1", port=0, seed="demo", rate_limit=None, verbose=False,
                 max_exchanges=20000, journal_bytes=64 * 2 ** 20, contract=None):
        if seed not in ("demo", "empty"):
            raise ValueError(f"unknown seed {seed!r}: use demo or empty")
        if rate_limit is not None and int(rate_limit) < 1:
            raise ValueError("rate_limit must be a positive number of requests per minute")
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
        self.limiter = RateLimiter(rate_limit)
        self.event_limiter = RateLimiter(rate_limit)
        self._server = None
        self._thread = None
        self.reset()

    # lifecycle ------------------------------------------------------------------------------
    def start(self):
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        server = SandboxHTTPServer((self.host, self.port), Dispatcher(self), verbose=self.verbose)
        host, port = server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        shown = f"[{shown}]" if ":" in shown else shown
        self.port = port
        self.store.base_url = f"http://{shown}:{port}"
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"pagerduty-sandbox:{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # what a client needs ------------------------------------------------------------------------
    @property
    def info(self):
        base = self.store.base_url
        ids = self.store.seed_ids
        return {"api_url": base, "events_url": base + "/v2", "api_key": ids["api_key"],
                "routing_key": ids.get("routing_key"), "from_email": ids["from_email"]}

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
        self.journal_log.clear()
        self.faults.clear()
        self.limiter.reset()
        self.event_limiter.reset()

    def disable_ability(self, name):
        with self.store.lock:
            self.store.abilities[name] = False

    def enable_ability(self, name):
        with self.store.lock:
            self.store.abilities[name] = True

    def seed_incidents(self, n, service_id=None, status="triggered"):
        """Insert n incidents directly (no HTTP); returns their ids."""
        with self.store.lock:
            return seeds.bulk_incidents(self.store, int(n), service_id, status, timeutil.now())
